"""What the two FUSE stand-ins (fuse_share.py, power_cut_disk.py) share: finding a mount in
/proc/self/mountinfo without touching it, detaching it without waiting on its daemon,
aborting a FUSE connection, stopping a daemon for sure, and finding the processes that
hold something on a mount or wait in a FUSE request.

None of these functions stat, open or list anything below a mountpoint: on a stopped
FUSE daemon any of that would block the test process itself."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterable, List, NamedTuple, Optional, Set

from tests.procs import processes, thread_states

FUSECTL = Path("/sys/fs/fuse/connections")
MNT_DETACH = 2
#: Kernel functions a task sleeps in while it waits for a FUSE daemon to answer (wchan).
#: fuse_dev_do_read is the daemon itself waiting for work, so it is not among them.
_FUSE_WAIT = re.compile(r"^(request_wait_answer|fuse_.*|__fuse_.*)$")
_NOT_A_WAIT = {"fuse_dev_do_read"}


def fuse_available() -> Optional[str]:
    """Return why a FUSE stand-in cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root: mounts FUSE file systems with allow_other"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if shutil.which("fusermount") is None:
        return "fusermount is not installed (Debian package fuse)"
    try:
        import fuse  # noqa: F401  (fusepy)
    except (ImportError, OSError) as error:
        return f"fusepy cannot load libfuse: {error}"
    return None


# ---------------------------------------------------------------- mounts, from mountinfo


class MountEntry(NamedTuple):
    """One line of /proc/self/mountinfo: mount id, device numbers, mountpoint, fs type, source."""
    mount_id: int
    major: int
    minor: int
    mountpoint: bytes
    fstype: str
    source: bytes


def _unescape(field: bytes) -> bytes:
    """Undo mountinfo's octal escapes (\\040 for a space, \\134 for a backslash)."""
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field)


def mount_table() -> List[MountEntry]:
    """Return every mount this process can see, in mountinfo order (a later entry on the
    same mountpoint is on top)."""
    entries = []
    with open("/proc/self/mountinfo", "rb") as handle:
        for line in handle:
            fields = line.split()
            dash = fields.index(b"-")
            major, minor = fields[2].split(b":")
            entries.append(MountEntry(int(fields[0]), int(major), int(minor), _unescape(fields[4]),
                                      fields[dash + 1].decode(), _unescape(fields[dash + 2])))
    return entries


def resolved(path: Path) -> bytes:
    """The absolute path of `path` with symlinks resolved in its parent only: the last
    component is never looked at, so this is safe on a mountpoint whose daemon hangs."""
    path = Path(os.path.abspath(path))
    return os.fsencode(os.path.join(os.path.realpath(path.parent), path.name))


def mount_on(path: Path) -> Optional[MountEntry]:
    """Return the topmost mount on `path`, or None when nothing is mounted there."""
    wanted = resolved(path)
    found = [entry for entry in mount_table() if entry.mountpoint == wanted]
    return found[-1] if found else None


def _umount2(target: bytes, flags: int) -> int:
    """Call umount2(2) directly; return 0 or the errno."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.umount2(ctypes.c_char_p(target), ctypes.c_int(flags)) == 0:
        return 0
    return ctypes.get_errno()


def is_attached(mount: MountEntry) -> bool:
    """True while `mount` is still attached. Mount ids are reused as soon as a mount is
    gone (another test's mount may get the same id a moment later), so the device
    numbers, type, source and mountpoint must match too."""
    return mount in mount_table()


def live_mount_ids(mount: MountEntry) -> List[int]:
    """[the mount id of `mount`] while processes may still hold that mount (attached, or
    detached but not yet released); [] once the id was given to another mount, which
    shows that ours is gone."""
    for entry in mount_table():
        if entry.mount_id == mount.mount_id and entry != mount:
            return []
    return [mount.mount_id]


def detach(mount: MountEntry, timeout: float = 10) -> bool:
    """Lazily unmount `mount`: umount2(MNT_DETACH) first, which does not wait on the file
    system's daemon, then `fusermount -u -z` and `umount -l` (each with a time limit).
    Never unmounts another mount that is on the same mountpoint now. Returns True when
    `mount` is no longer attached."""
    mountpoint = mount.mountpoint
    attempts: List[Callable[[], object]] = [
        lambda: _umount2(mountpoint, MNT_DETACH),
        lambda: subprocess.run(["fusermount", "-u", "-z", os.fsdecode(mountpoint)],
                               capture_output=True, timeout=timeout),
        lambda: subprocess.run(["umount", "-l", "-c", os.fsdecode(mountpoint)],
                               capture_output=True, timeout=timeout)]
    for attempt in attempts:
        if not is_attached(mount):
            return True
        if mount_on(Path(os.fsdecode(mountpoint))) != mount:
            break  # ours is below another mount now: do not unmount that one
        try:
            attempt()
        except (OSError, subprocess.TimeoutExpired):
            pass
    return not is_attached(mount)


def abort_connection(minor: int) -> bool:
    """Abort the FUSE connection whose device is 0:`minor` (every waiting request fails
    with ENOTCONN at once), mounting the fusectl file system first when needed. Returns
    True when the abort file was written."""
    if not any(entry.fstype == "fusectl" for entry in mount_table()):
        subprocess.run(["mount", "-t", "fusectl", "fusectl", str(FUSECTL)], capture_output=True)
    try:
        (FUSECTL / str(minor) / "abort").write_text("1")
        return True
    except OSError:
        return False


def connection_waiting(minor: int) -> Optional[int]:
    """Return how many requests of FUSE connection 0:`minor` are queued or being answered
    (fusectl's `waiting`), or None when fusectl is not mounted or the connection is gone."""
    try:
        return int((FUSECTL / str(minor) / "waiting").read_text())
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- processes


def wait_for(condition: Callable[[], object], timeout: float, what: str, step: float = 0.01):
    """Poll `condition` until it returns something true and return that; raise
    AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


def _read(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return None


def task_states(pid: int) -> List[str]:
    """Return the state letter of every thread of `pid` (empty when it is gone)."""
    return thread_states(pid)


def is_stopped(pid: int) -> bool:
    """True when every thread of `pid` is stopped by a signal (state T)."""
    states = task_states(pid)
    return bool(states) and all(state in "Tt" for state in states)


def is_gone(pid: int) -> bool:
    """True when `pid` no longer runs (gone, or a zombie waiting to be reaped)."""
    states = task_states(pid)
    return not states or all(state in "ZX" for state in states)


class ProcessOnMount(NamedTuple):
    """A process that holds something on a mount or waits in a FUSE request:
    `holds` names what ('cwd', 'root', 'fd 3', ...), `fuse_wait` the kernel function a
    thread of it sleeps in when that is a FUSE request wait."""
    pid: int
    state: str
    wchan: str
    fuse_wait: Optional[str]
    holds: List[str]
    command: str


def _link_mount_id(link: str) -> Optional[int]:
    """The mount id of what a /proc magic link (cwd, root) points to: opened with O_PATH,
    which neither calls into the file system nor checks the inode, then read from fdinfo."""
    try:
        fd = os.open(link, os.O_PATH)
    except OSError:
        return None
    try:
        return _fdinfo_mount_id(f"/proc/self/fdinfo/{fd}")
    finally:
        os.close(fd)


def _fdinfo_mount_id(fdinfo: str) -> Optional[int]:
    text = _read(fdinfo) or ""
    match = re.search(r"^mnt_id:\s*(\d+)", text, re.M)
    return int(match.group(1)) if match else None


def _holds(pid: int, mount_ids: Set[int]) -> List[str]:
    held = [name for name in ("cwd", "root") if _link_mount_id(f"/proc/{pid}/{name}") in mount_ids]
    try:
        fds = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        fds = []
    held += [f"fd {fd}" for fd in sorted(fds, key=int)
             if _fdinfo_mount_id(f"/proc/{pid}/fdinfo/{fd}") in mount_ids]
    return held


def _fuse_wait(pid: int) -> Optional[str]:
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        wchan = (_read(f"/proc/{pid}/task/{tid}/wchan") or "").strip()
        if _FUSE_WAIT.match(wchan) and wchan not in _NOT_A_WAIT:
            return wchan
    return None


def processes_on(mount_ids: Iterable[int], exclude: Iterable[int] = (),
                 fuse_waiters: bool = True) -> List[ProcessOnMount]:
    """Return the processes (other than those in `exclude` and this one) that have their
    cwd, root or an open file on one of the mounts `mount_ids` (found by mount id, so a
    lazily detached mount is still recognised), and, with `fuse_waiters`, those whose
    thread sleeps in a FUSE request wait. /proc does not tell which FUSE connection a
    waiter waits on: with several FUSE mounts, waiters on any of them are listed."""
    ids = set(mount_ids)
    skip = set(exclude) | {os.getpid()}
    found = []
    for seen in processes():
        pid = seen.pid
        if pid in skip or seen.state in "ZX":
            continue
        holds = _holds(pid, ids)
        waits = _fuse_wait(pid) if fuse_waiters else None
        if holds or waits:
            command = " ".join(os.fsdecode(word) for word in seen.argv)
            wchan = (_read(f"/proc/{pid}/wchan") or "").strip()
            found.append(ProcessOnMount(pid, seen.state, wchan, waits, holds, command))
    return found


def end_process(process: subprocess.Popen, term_timeout: float = 3) -> None:
    """End a daemon we started, for sure: SIGCONT (a stopped process cannot act on
    SIGTERM), SIGTERM, and SIGKILL if it has not ended after `term_timeout` seconds;
    then reap it."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGCONT, signal.SIGTERM):
        try:
            process.send_signal(sig)
        except ProcessLookupError:
            pass
    try:
        process.wait(timeout=term_timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
