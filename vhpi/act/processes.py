"""Every child process vhpi starts goes through here: rsync, cp, hook shells, ping,
`rsync --version`, and Python functions run in a forked child (probes of a share that may
hang, see run_in_child).

Every child
* keeps none of vhpi's open files but its standard streams (so never one of vhpi's locks:
  a child stuck in the kernel on a dead share holds nothing of vhpi's);
* runs in a process group of its own (a hook: a session of its own), so that vhpi can
  stop all of it, rsync's own helper processes included, with the user's umask (vhpi's
  own is private: vhpi.act.umask);
* dies with vhpi: the kernel sends it SIGKILL when vhpi ends, however vhpi ends
  (PR_SET_PDEATHSIG), so no child ever outlives a killed vhpi;
* is watched: past its deadline, or after `stall_after` seconds without progress (no
  output, nothing read or written, no CPU time in its whole process group), the group gets
  SIGKILL. A process that the kernel does not let die at once (one waiting on a dead
  share) is waited for KILL_WAIT_SECONDS, then left behind; it holds nothing of vhpi's.

How a child ended is data (Ending), never words to parse.
"""

from __future__ import annotations

import enum
import fcntl
import os
import select
import signal
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Deque, List, Mapping, Optional, Sequence, Tuple

from vhpi.act.checkpoints import checkpoint
from vhpi.act.umask import user_umask

#: Exit code reported when the program itself cannot be started (as a shell would).
NOT_FOUND = 127
#: After SIGKILL, how long vhpi waits for a child before leaving it behind.
KILL_WAIT_SECONDS = 5.0
#: The first file descriptor number a `prepare` function may give a child (see spawn).
FIRST_FREE_FD = 4
#: The longest pause between two looks at a watched child.
TICK_SECONDS = 1.0
_CHUNK = 1 << 16
_PR_SET_PDEATHSIG = 1


class Ending(enum.Enum):
    """How a child ended."""

    EXITED = "exited"            # on its own (code says how: 0, non-zero, or -signal)
    STALLED = "stalled"          # killed: no progress for stall_after seconds
    TIMED_OUT = "timed out"      # killed: ran past its deadline
    NOT_STARTED = "not started"  # the program could not be started (code 127)


@dataclass(frozen=True)
class Limits:
    """How long a child may take: `deadline` seconds in all, and `stall_after` seconds
    without progress; None = no limit. `grace`: at the deadline the group gets SIGTERM
    and this many seconds before SIGKILL (0: SIGKILL at once)."""

    deadline: Optional[float] = None
    stall_after: Optional[float] = None
    grace: float = 0.0


NO_LIMITS = Limits()


@dataclass(frozen=True)
class Finished:
    """A child that is over: its exit code (negative: the signal that ended it), its last
    output lines, how it ended, and the pid left behind when it would not die (else None)."""

    code: int
    tail: Tuple[str, ...] = ()
    ending: Ending = Ending.EXITED
    left_behind: Optional[int] = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the child exited with code 0."""
        return self.ending is Ending.EXITED and self.code == 0


# ---------------------------------------------------------------- starting a child

_libc: Any = None


def _load_libc() -> Any:
    """Return libc through ctypes (loaded once, before any fork), or False without it."""
    global _libc
    if _libc is None:
        try:
            import ctypes
            _libc = ctypes.CDLL(None, use_errno=True)
        except (ImportError, OSError):
            _libc = False
    return _libc


def _die_with_parent(parent: int) -> None:
    """In a new child: ask the kernel for SIGKILL when the parent ends; end now if it has."""
    libc = _load_libc()
    if libc:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(NOT_FOUND)


def _open_fds() -> List[int]:
    """Return this process's open file descriptors (from /proc; a guess without it)."""
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 1024))


def close_fds_except(keep: Sequence[int]) -> None:
    """In a child: close every file descriptor but `keep`."""
    for fd in _open_fds():
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


@dataclass
class Child:
    """A started child: pid, its process group, the program's name and when it started;
    the read end of its output pipe (None when its output goes to a file), a pipe that
    reports a failed exec, and a pidfd that tells when it ends (None where the kernel has
    none). Each fd is closed (and set to None) once read to its end."""

    pid: int
    pgid: int
    program: str
    started: float
    output: Optional[int] = None
    exec_report: Optional[int] = None
    pidfd: Optional[int] = None
    status: Optional[int] = None
    exec_error: bytes = b""

    def fds(self) -> List[int]:
        """Return the open fds vhpi holds for this child."""
        return [fd for fd in (self.output, self.exec_report, self.pidfd) if fd is not None]

    def close(self, fd: int) -> None:
        """Close one of the child's fds and forget it."""
        os.close(fd)
        for name in ("output", "exec_report", "pidfd"):
            if getattr(self, name) == fd:
                setattr(self, name, None)

    def close_all(self) -> None:
        """Close every fd still held for the child."""
        for fd in self.fds():
            self.close(fd)


def _pidfd(pid: int) -> Optional[int]:
    """Return a pidfd for `pid` (readable once it ends), or None where there is none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _child_side(argv: Sequence[str], output_fd: int, report_fd: int, parent: int,
                env: Optional[Mapping[str, str]], cwd: Optional[str], new_session: bool,
                prepare: Optional[Callable[[], None]]) -> None:
    """The forked child until exec: never returns."""
    try:
        if new_session:
            os.setsid()
        else:
            os.setpgid(0, 0)
        _die_with_parent(parent)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # Python ignores it; programs expect the default
        os.umask(user_umask())  # vhpi's own is private (vhpi.act.umask); programs get the user's
        output = fcntl.fcntl(output_fd, fcntl.F_DUPFD_CLOEXEC, 10)
        report = fcntl.fcntl(report_fd, fcntl.F_DUPFD_CLOEXEC, 10)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.dup2(report, 3, inheritable=False)
        close_fds_except((0, 1, 2, 3))
        if cwd is not None:
            os.chdir(cwd)
        if prepare is not None:
            prepare()
        if env is None:
            os.execvp(argv[0], list(argv))
        os.execvpe(argv[0], list(argv), dict(env))
    except BaseException as error:  # the child must never return into vhpi's code
        try:
            os.write(3, f"{type(error).__name__}: {error}".encode("utf-8", "replace"))
        except OSError:
            pass
    finally:
        os._exit(NOT_FOUND)


def spawn(argv: Sequence[str], output_fd: int, env: Optional[Mapping[str, str]] = None,
          cwd: Optional[str] = None, new_session: bool = False,
          prepare: Optional[Callable[[], None]] = None) -> Child:
    """Start `argv` (never through a shell) as described at the top, stdin from /dev/null,
    stdout and stderr to `output_fd`. `prepare`, when given, runs in the child just before
    exec, with every fd but 0-2 closed: it may open files the program should inherit, as
    inheritable fds numbered from FIRST_FREE_FD (the probe-like work it does is watched
    like the program: a child stuck there is stopped the same way). Returns the Child."""
    _load_libc()
    report_read, report_write = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        _child_side(argv, output_fd, report_write, parent, env, cwd, new_session, prepare)
    os.close(report_write)
    if not new_session:
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass  # the child did it first (or has exec'd already, having done it)
    child = Child(pid, pid, os.path.basename(argv[0]), time.monotonic(),
                  exec_report=report_read, pidfd=_pidfd(pid))
    if prepare is None:  # exec comes at once: wait for it, so that "-started" means running
        _read_exec_report(child)
    return child


def _read_exec_report(child: Child) -> None:
    """Wait until the child has exec'd (its report pipe closes) or failed to (the reason
    comes through it); then the `<program>-started` checkpoint is reached."""
    while child.exec_report is not None:
        data = os.read(child.exec_report, _CHUNK)
        if not data:
            child.close(child.exec_report)
            if not child.exec_error:
                checkpoint(f"{child.program}-started")
        child.exec_error += data


# ---------------------------------------------------------------- watching it

def _read_numbers(path: str, wanted: Sequence[str]) -> Tuple[int, ...]:
    """Return the values of the `wanted` 'name: value' lines of a /proc file ((), unreadable)."""
    try:
        with open(path, "rb") as handle:
            pairs = dict(line.split(b":", 1) for line in handle.read().splitlines() if b":" in line)
        return tuple(int(pairs[name.encode()]) for name in wanted if name.encode() in pairs)
    except (OSError, ValueError):
        return ()


_IO_FIELDS = ("rchar", "wchar", "syscr", "syscw")


def group_activity(pgid: int) -> frozenset:
    """Return what the processes of group `pgid` have done so far: per process its CPU time
    (utime, stime) and its read/write counters. Equal values at two moments mean that
    nothing in the group ran, read or wrote in between (a process that wakes only to wait
    again shows no change)."""
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                text = handle.read()
        except OSError:
            continue
        fields = text[text.rfind(b")") + 2:].split()
        if len(fields) > 12 and int(fields[2]) == pgid:
            found.add((int(name), int(fields[11]), int(fields[12]),
                       _read_numbers(f"/proc/{name}/io", _IO_FIELDS)))
    return frozenset(found)


def _reap(child: Child, flags: int = os.WNOHANG) -> bool:
    """Collect the child's exit status if it has ended; return True when it has."""
    if child.status is not None:
        return True
    try:
        pid, status = os.waitpid(child.pid, flags)
    except ChildProcessError:
        child.status = 0
        return True
    if pid == 0:
        return False
    child.status = status
    return True


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else NOT_FOUND


def _signal_group(child: Child, sig: int) -> None:
    try:
        os.killpg(child.pgid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(child.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _wait_up_to(child: Child, seconds: float) -> bool:
    """Wait at most `seconds` for the child to end; return True when it has."""
    deadline = time.monotonic() + seconds
    while not _reap(child):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _kill(child: Child, grace: float = 0.0) -> Optional[int]:
    """SIGTERM (when `grace`) then SIGKILL the child's group; return the child's pid when it
    would not die within KILL_WAIT_SECONDS (it is then left behind), else None."""
    if grace > 0:
        _signal_group(child, signal.SIGTERM)
        if _wait_up_to(child, grace):
            _signal_group(child, signal.SIGKILL)  # what the group left running
            return None
    _signal_group(child, signal.SIGKILL)
    return None if _wait_up_to(child, KILL_WAIT_SECONDS) else child.pid


class _Watch:
    """The limits of one child and what it has done: decides when it has gone too far."""

    def __init__(self, child: Child, limits: Limits):
        self.child, self.limits = child, limits
        self.last_progress = child.started
        self.activity: Optional[frozenset] = None
        self.next_look = child.started + self._look_every()

    def _look_every(self) -> float:
        limits = [limit / 10 for limit in (self.limits.stall_after, self.limits.deadline)
                  if limit is not None]
        return max(0.05, min([TICK_SECONDS, *limits]))

    def progressed(self) -> None:
        """The child showed progress (it wrote output)."""
        self.last_progress = time.monotonic()

    def timeout(self) -> float:
        """Seconds to wait for the child's next sign before looking again."""
        return max(0.0, self.next_look - time.monotonic())

    def verdict(self) -> Optional[Ending]:
        """Return STALLED or TIMED_OUT when the child must be stopped now, else None."""
        now = time.monotonic()
        if now < self.next_look:
            return None
        self.next_look = now + self._look_every()
        if self.limits.deadline is not None and now - self.child.started > self.limits.deadline:
            return Ending.TIMED_OUT
        if self.limits.stall_after is None:
            return None
        if now - self.last_progress >= self._look_every():  # no output since the last look
            activity = group_activity(self.child.pgid)
            if self.activity is not None and activity != self.activity:
                self.last_progress = now
            self.activity = activity
        if now - self.last_progress > self.limits.stall_after:
            return Ending.STALLED
        return None


def _watch(child: Child, limits: Limits, on_chunk: Optional[Callable[[bytes], None]]) -> Finished:
    """Follow the child until it ends or must be stopped: feed its output to `on_chunk`,
    read a failed exec's report, apply `limits`. Returns how it finished; closes the
    child's fds."""
    watch = _Watch(child, limits)
    try:
        ending = _follow(child, watch, on_chunk)
    except BaseException:
        _kill(child)
        raise
    finally:
        child.close_all()
    left_behind = None
    if ending is not Ending.EXITED:
        left_behind = _kill(child, limits.grace if ending is Ending.TIMED_OUT else 0.0)
    seconds = time.monotonic() - child.started
    if child.exec_error:
        reason = child.exec_error.decode("utf-8", "replace")
        return Finished(NOT_FOUND, (f"{child.program}: cannot start: {reason}",),
                        Ending.NOT_STARTED, None, seconds)
    code = _exit_code(child.status) if child.status is not None else -signal.SIGKILL
    return Finished(code, (), ending, left_behind, seconds)


def _follow(child: Child, watch: _Watch, on_chunk: Optional[Callable[[bytes], None]]) -> Ending:
    """The watch loop: returns EXITED once the child has ended and its output is read to
    the end, or the reason to stop it (STALLED, TIMED_OUT)."""
    poller = select.poll()
    for fd in child.fds():
        poller.register(fd, select.POLLIN)
    while True:
        pipes_open = child.output is not None or child.exec_report is not None
        if not pipes_open and _reap(child):
            return Ending.EXITED
        timeout = watch.timeout()
        if child.pidfd is None and not pipes_open:
            timeout = min(timeout, 0.02)  # no pidfd: look for the end now and then
        events = poller.poll(timeout * 1000)
        for fd, _ in events:
            if fd == child.pidfd:
                poller.unregister(fd)
                child.close(fd)
                continue
            if fd == child.exec_report:
                poller.unregister(fd)
                _read_exec_report(child)  # it has exec'd (or failed): no more waiting
                continue
            data = os.read(fd, _CHUNK)
            if not data:
                poller.unregister(fd)
                child.close(fd)
            else:
                watch.progressed()
                if on_chunk is not None:
                    on_chunk(data)
        verdict = None if events else watch.verdict()  # what came in counts first
        if verdict is not None:
            return verdict


# ---------------------------------------------------------------- the ways to run one

def split_output(data: bytes) -> Tuple[List[bytes], bytes]:
    """Given buffered output, return (complete lines, the unfinished rest). Lines end at a
    newline; a carriage return also ends one (rsync's progress line rewrites itself with
    them), and the blank pieces around carriage returns are dropped. Output without
    carriage returns comes out line for line, blank lines included."""
    *complete, rest = data.split(b"\n")
    lines: List[bytes] = []
    for line in complete:
        lines.extend([line] if b"\r" not in line else [p for p in line.split(b"\r") if p.strip()])
    if b"\r" in rest:
        pieces = rest.split(b"\r")
        rest = pieces.pop()
        if not rest:  # it ends with a carriage return, which a newline may still follow
            rest = pieces.pop() + b"\r"
        lines.extend(piece for piece in pieces if piece.strip())
    return lines, rest


class _LineSplitter:
    """Turns output chunks into lines for `on_line`, keeping the last `tail_lines`."""

    def __init__(self, program: str, on_line: Callable[[bytes], None], tail_lines: int):
        self.program, self.on_line = program, on_line
        self.tail: Deque[str] = deque(maxlen=tail_lines)
        self.pending = b""

    def feed(self, chunk: bytes) -> None:
        lines, self.pending = split_output(self.pending + chunk)
        for line in lines:
            self._take(line)

    def close(self) -> None:
        if self.pending:
            for line in split_output(self.pending + b"\n")[0]:
                self._take(line)
            self.pending = b""

    def _take(self, line: bytes) -> None:
        checkpoint(f"{self.program}-line")
        self.tail.append(line.decode("utf-8", "replace"))
        self.on_line(line)


def run_streaming(argv: Sequence[str], on_line: Callable[[bytes], None],
                  limits: Limits = NO_LIMITS, tail_lines: int = 20,
                  prepare: Optional[Callable[[], None]] = None) -> Finished:
    """Run `argv`, calling `on_line` for each line of its merged stdout and stderr as it
    comes (nothing is held in memory but the last `tail_lines`); `limits` and `prepare` as
    for spawn and Limits. Returns the Finished child, with its last lines."""
    read_end, write_end = os.pipe()
    try:
        child = spawn(argv, write_end, prepare=prepare)
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    child.output = read_end
    lines = _LineSplitter(child.program, on_line, tail_lines)
    try:
        finished = _watch(child, limits, lines.feed)
    finally:
        lines.close()
    tail = finished.tail or tuple(lines.tail)
    return Finished(finished.code, tail, finished.ending, finished.left_behind, finished.seconds)


def run_to_file(argv: Sequence[str], output: IO[bytes], limits: Limits = NO_LIMITS,
                env: Optional[Mapping[str, str]] = None, cwd: Optional[str] = None,
                new_session: bool = False) -> Finished:
    """Run `argv` with its merged stdout and stderr going to the file `output` (not a pipe:
    a daemon the child leaves behind may keep it open without making vhpi wait). Returns
    the Finished child (its tail is empty but for a program that could not start)."""
    output.flush()
    child = spawn(argv, output.fileno(), env=env, cwd=cwd, new_session=new_session)
    return _watch(child, limits, None)


def run_and_read(argv: Sequence[str], limits: Limits,
                 limit_bytes: int = 1 << 20) -> Tuple[Finished, bytes]:
    """Run a short command (ping, `rsync --version`); return (how it finished, its merged
    output, at most `limit_bytes`)."""
    with tempfile.TemporaryFile() as output:
        finished = run_to_file(argv, output, limits)
        output.seek(0)
        return finished, output.read(limit_bytes)


@dataclass
class BackgroundProcess:
    """A child started by start_in_background, with the file its output goes to."""

    child: Child
    output: IO[bytes]
    finished: Optional[Finished] = field(default=None)


def start_in_background(argv: Sequence[str]) -> BackgroundProcess:
    """Start `argv` with its merged output going to an anonymous temporary file; collect
    it with finish_background. Raises OSError when it cannot start."""
    output = tempfile.TemporaryFile()
    try:
        return BackgroundProcess(spawn(argv, output.fileno()), output)
    except BaseException:
        output.close()
        raise


def finish_background(background: BackgroundProcess, limits: Limits = NO_LIMITS,
                      tail_lines: int = 20) -> Finished:
    """Wait for a child from start_in_background; return it Finished with its last lines."""
    finished = _watch(background.child, limits, None)
    with background.output:
        background.output.seek(0)
        tail = finished.tail or tuple(deque(
            (raw.rstrip(b"\n").decode("utf-8", "replace") for raw in background.output),
            maxlen=tail_lines))
    return Finished(finished.code, tail, finished.ending, finished.left_behind, finished.seconds)


def stop_background(background: BackgroundProcess) -> None:
    """Kill a child from start_in_background if it still runs, and reap it."""
    if not _reap(background.child):
        _kill(background.child)
    background.child.close_all()
    background.output.close()


# ---------------------------------------------------------------- a function in a child

@dataclass(frozen=True)
class ChildAnswer:
    """What run_in_child got: `value` (the function's return value, or None) and how the
    child ended (EXITED with an answer; TIMED_OUT when it did not answer in time)."""

    value: Any
    ending: Ending
    left_behind: Optional[int] = None


def run_in_child(function: Callable[..., Any], *args: Any, timeout: float) -> ChildAnswer:
    """Run `function(*args)` in a forked child that keeps none of vhpi's open files, and
    return its (picklable) return value; give up after `timeout` seconds (the child is
    killed, or left behind when the kernel does not let it die). For looks at a source
    share, which may hang in the kernel for ever. An exception in the function comes
    back as ChildFailed."""
    return _answer_of(_start_in_child(function, args), timeout)


def run_in_children(function: Callable[..., Any], calls: Sequence[Tuple[Any, ...]],
                    timeout: float) -> List[Any]:
    """Run `function(*args)` for each args of `calls` in children at the same time, as
    run_in_child does; return, per call, its ChildAnswer or the ChildFailed it raised. All
    answers are in after `timeout` seconds."""
    children = [_start_in_child(function, args) for args in calls]
    answers: List[Any] = []
    for child in children:
        try:
            answers.append(_answer_of(child, timeout))
        except ChildFailed as failure:
            answers.append(failure)
    return answers


def _start_in_child(function: Callable[..., Any], args: Tuple[Any, ...]) -> Child:
    """Fork the child of run_in_child; return it (its answer comes on its output pipe)."""
    import pickle
    _load_libc()
    read_end, write_end = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        _answer_in_child(pickle, function, args, write_end, parent)
    os.close(write_end)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    return Child(pid, pid, getattr(function, "__name__", "probe"), time.monotonic(),
                 output=read_end, pidfd=_pidfd(pid))


def _answer_of(child: Child, timeout: float) -> ChildAnswer:
    """Wait for the answer of a child from _start_in_child, at most `timeout` seconds after
    it started."""
    import pickle
    received = bytearray()
    finished = _watch(child, Limits(deadline=timeout), received.extend)
    if finished.ending is not Ending.EXITED:
        return ChildAnswer(None, Ending.TIMED_OUT, finished.left_behind)
    try:
        ok, value = pickle.loads(bytes(received))
    except Exception:  # the child died before answering (killed from outside)
        raise ChildFailed(f"{child.program}: the child ended without an answer "
                          f"(exit status {finished.code})")
    if not ok:
        raise ChildFailed(f"{child.program}: {value}")
    return ChildAnswer(value, Ending.EXITED)


class ChildFailed(Exception):
    """A function run by run_in_child raised, or its child died; the message says what."""


def _away_from_terminal_and_pipes() -> None:
    """Point the child's stdin, stdout and stderr at /dev/null: a child the kernel does not
    let die (a hung share) must not keep vhpi's output pipe open, or whoever reads it (cron,
    to mail it) would wait for the share. Its answer and errors go through its own pipe."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def _answer_in_child(pickle, function: Callable[..., Any], args: Tuple[Any, ...],
                     answer_fd: int, parent: int) -> None:
    """The forked child of run_in_child: run the function, send (ok, value or error)."""
    try:
        os.setpgid(0, 0)
        _die_with_parent(parent)
        close_fds_except((0, 1, 2, answer_fd))
        _away_from_terminal_and_pipes()
        try:
            reply = (True, function(*args))
        except Exception as error:
            reply = (False, f"{type(error).__name__}: {error}")
        data = pickle.dumps(reply)
        while data:
            data = data[os.write(answer_fd, data):]
    finally:
        os._exit(0)
