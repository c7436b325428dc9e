"""The one runner for child processes (vhpi.act.processes) with real processes: exit
codes and last lines, a program that cannot start, the stall limit (no output, no read or
write, no CPU time in the whole process group: a process waiting in the kernel looks just
like that) and the deadline, a child that keeps none of vhpi's open files (so never a lock),
a child that dies with vhpi (PR_SET_PDEATHSIG), a Python function run in a child, and the
pinned passes' fd numbering (vhpi.act.pinned)."""

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time

from tests.integration.helpers import running
from tests.procs import processes
from vhpi.act import pinned
from vhpi.act.processes import (Ending, Limits, run_and_read, run_in_child, run_in_children,
                                run_streaming, start_in_background, finish_background)


def test_lines_exit_code_and_tail():
    lines = []
    finished = run_streaming(["sh", "-c", "echo one; echo two >&2; printf 'three'; exit 3"],
                             lines.append, tail_lines=2)
    assert lines == [b"one", b"two", b"three"]
    assert (finished.code, finished.tail, finished.ending) == (3, ("two", "three"), Ending.EXITED)
    assert not finished.ok and run_streaming(["true"], lines.append).ok


def test_a_program_that_cannot_start():
    finished = run_streaming(["vhpi-no-such-program"], lambda line: None)
    assert (finished.code, finished.ending) == (127, Ending.NOT_STARTED)
    assert finished.tail[0].startswith("vhpi-no-such-program: cannot start: ")


def test_a_silent_stopped_child_is_killed_after_its_stall_limit():
    """A SIGSTOPped process neither writes, reads nor runs: as one stuck on a dead share."""
    started = time.monotonic()
    finished = run_streaming(["sh", "-c", "kill -STOP $$"], lambda line: None, Limits(stall_after=1))
    took = time.monotonic() - started
    assert finished.ending is Ending.STALLED and finished.code == -signal.SIGKILL
    assert 1 <= took < 4, took


def test_work_without_output_is_progress():
    """A process that computes (CPU time) or reads (read counters) without printing is not
    stalled, however long its silence."""
    script = "import time\nend = time.time() + 2.5\nwhile time.time() < end: pass"
    finished = run_streaming([sys.executable, "-c", script], lambda line: None, Limits(stall_after=1))
    assert finished.ok, finished


def test_the_deadline_stops_a_busy_child_and_its_whole_group():
    marker = f"/tmp/vhpi-test-grandchild-{os.getpid()}"
    started = time.monotonic()
    with open(os.devnull, "wb") as out:
        finished = _run_to(out, ["sh", "-c", f"(exec -a {marker} sleep 60) & sleep 60"],
                           Limits(deadline=1))
    assert finished.ending is Ending.TIMED_OUT and time.monotonic() - started < 4
    time.sleep(0.2)
    assert not _processes_named(marker), "the group was not stopped"


def _run_to(output, argv, limits):
    from vhpi.act.processes import run_to_file
    return run_to_file(argv, output, limits)


def _processes_named(word: str) -> list:
    return [found.pid for found in processes() if found.mentions(word.encode())]


def test_a_child_gets_none_of_vhpis_open_files(tmp_path):
    lock = os.open(tmp_path / "vhpi.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    os.set_inheritable(lock, True)  # even an fd marked inheritable does not reach a child
    try:
        finished, output = run_and_read(["ls", "/proc/self/fd"], Limits(deadline=10))
    finally:
        os.close(lock)
    assert finished.ok
    assert sorted(int(fd) for fd in output.split()) == [0, 1, 2, 3]  # 3: ls's own listing


def test_a_child_dies_with_the_process_that_started_it(tmp_path):
    """vhpi SIGKILLed alone: its child (in a process group of its own) gets SIGKILL too."""
    pid_file = tmp_path / "child.pid"
    parent = textwrap.dedent(f"""
        import os, time
        from vhpi.act.processes import start_in_background
        child = start_in_background(["sh", "-c", "echo $$ > {pid_file}; exec sleep 60"])
        time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", parent], env=dict(os.environ, PYTHONPATH=os.getcwd()))
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    child = int(pid_file.read_text())
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 5
    while running(child):
        assert time.monotonic() < deadline, "the child outlived its parent"
        time.sleep(0.01)


def _double(value):
    return value * 2


def _sleep_then(value, seconds):
    time.sleep(seconds)
    return value


def test_functions_in_children_answer_or_are_given_up():
    assert run_in_child(_double, 21, timeout=5).value == 42
    started = time.monotonic()
    answers = run_in_children(_sleep_then, [("a", 0), ("b", 30), ("c", 0.1)], timeout=1)
    assert [(a.value, a.ending) for a in answers] == [
        ("a", Ending.EXITED), (None, Ending.TIMED_OUT), ("c", Ending.EXITED)]
    assert time.monotonic() - started < 3, "the children ran at the same time"


def test_background_output_and_code():
    child = start_in_background(["sh", "-c", "echo done; exit 4"])
    finished = finish_background(child)
    assert (finished.code, finished.tail) == (4, ("done",))


def test_a_pinned_pass_reads_through_the_folders_its_child_opened(tmp_path):
    """The fds of a pinned pass: the top folder at ROOT_FD, each parent at parent_fd(i),
    /dev/null where a parent could not be reached through real folders."""
    source = tmp_path / "source"
    (source / "a" / "b").mkdir(parents=True)
    (source / "c").mkdir()
    os.symlink("/etc", source / "swapped")
    listed = tmp_path / "pass.list"
    parents = (b"a/b", b"c", b"swapped")
    listed.write_bytes(b"a/b/x\0c/y\0swapped/passwd\0")
    prepare = pinned.pin_parents(str(source), parents, str(listed))
    script = ("import os; print([os.path.realpath(f'/proc/self/fd/{n}') for n in "
              f"({pinned.ROOT_FD}, {pinned.parent_fd(0)}, {pinned.parent_fd(1)}, {pinned.parent_fd(2)})])")
    lines = []
    finished = run_streaming([sys.executable, "-c", script], lines.append, prepare=prepare)
    assert finished.ok, finished
    assert eval(lines[0]) == [str(source), str(source / "a" / "b"), str(source / "c"), "/dev/null"]


def test_passes_group_entries_by_parent_and_cap_the_parents(tmp_path, monkeypatch):
    monkeypatch.setattr(pinned, "MAX_PARENTS", 2)
    listed = tmp_path / "pass.list"
    seen = []
    entries = [b"d1/a", b"d1/b", b"d2/c", b"d3/d", b"d3/e", b"d4/f"]
    for parents in pinned.passes(iter(entries), str(listed)):
        seen.append((parents, listed.read_bytes().split(b"\0")[:-1]))
    assert seen == [((b"d1", b"d2"), [b"d1/a", b"d1/b", b"d2/c"]),
                    ((b"d3", b"d4"), [b"d3/d", b"d3/e", b"d4/f"])]
    top = list(pinned.passes(iter([b"x", b"y"]), str(listed)))
    assert top == [()] and listed.read_bytes() == b"x\0y\0"


def test_entries_rsync_would_read_as_comments_are_listed_as_themselves(tmp_path):
    """rsync skips a --files-from line starting with '#' or ';' (--from0 too): such entries
    are listed with './' before them, and the facts name the entries themselves."""
    source = tmp_path / "source"
    (source / "#recycle").mkdir(parents=True)
    for name in ("#notes", ";semi", "plain", "#recycle/inner"):
        (source / name).write_text(name)
    listed = tmp_path / "pass.list"
    top = list(pinned.passes(iter([b"#notes", b";semi", b"plain"]), str(listed)))
    assert top == [()] and listed.read_bytes() == b"./#notes\0./;semi\0plain\0"
    facts = tmp_path / "pass.facts"
    finished = run_streaming(["true"], lambda line: None,
                             prepare=pinned.pin_parents(str(source), (), str(listed), str(facts)))
    assert finished.ok, finished
    assert [found.entry for found in pinned.read_facts(str(facts))] == [b"#notes", b";semi", b"plain"]
    deeper = list(pinned.passes(iter([b"#recycle/inner"]), str(listed)))
    assert deeper == [(b"#recycle",)] and listed.read_bytes() == b"./#recycle/inner\0"
    finished = run_streaming(["true"], lambda line: None,
                             prepare=pinned.pin_parents(str(source), deeper[0], str(listed), str(facts)))
    assert finished.ok, finished
    assert [found.entry for found in pinned.read_facts(str(facts))] == [b"#recycle/inner"]
