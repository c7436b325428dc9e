"""Progress on a terminal: when stdout is a tty a run shows one line, rewritten with \\r:
"job NAME: looking for changes", rsync's progress ("… copied, N%, rate, ETA h:mm:ss"),
"making the … snapshot", then clears it before its own lines. Under cron (pipes) the same
run prints nothing, and progress lines never reach debug.log.

The terminal is a real pty in raw mode (bytes arrive as written); the source holds a 20 MB
random file so that rsync has something to report."""

import errno
import io
import os
import pty
import re
import select
import subprocess
import time
import tty

import pytest

from tests.fault.fault_helpers import dest_on_tmpfs, mounts  # noqa: F401  (mounts: a fixture)
from tests.integration.helpers import (debug_log, job_line, manifest, vhpi, vhpi_argv, work_leftovers,
                                       write_files)
from vhpi.act.progress import TerminalProgress, progress_for

BIG = 20_000_000
PROGRESS_SHOWN = re.compile(rb"\rjob dest: ([\d.]+) (B|KiB|MiB) copied, (\d{1,3})%, [\d.,]+[kMGT]?B/s, "
                            rb"ETA \d+:\d\d:\d\d")
#: an rsync progress2 line, as it would look if it reached a log
RSYNC_PROGRESS = re.compile(r"\d[\d,]*\s+\d{1,3}%\s+\S+/s\s+\d+:\d\d:\d\d")


def run_on_terminal(world, *args, at=None, timeout=120.0):
    """Run vhpi with stdout and stderr on a fresh pty; return (exit code, all bytes written)."""
    master, slave = pty.openpty()
    tty.setraw(slave)  # no \n -> \r\n translation: the bytes as vhpi wrote them
    try:
        process = subprocess.Popen(vhpi_argv(world, *args, at=at), env=world.env(), cwd=world.root,
                                   stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    finally:
        os.close(slave)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                process.kill()
                pytest.fail(f"vhpi did not finish on the terminal; so far: {output!r}")
            try:
                chunk = os.read(master, 1 << 16)
            except OSError as error:  # EIO: every writer has closed the terminal
                if error.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(master)
    return process.wait(timeout=timeout), output


def screen(output: bytes):
    """The lines a terminal shows in the end: \\r goes back to the line's start, new text
    overwrites old; trailing blanks dropped."""
    lines, current, column = [], [], 0
    for byte in output.decode("utf-8", "replace"):
        if byte == "\r":
            column = 0
        elif byte == "\n":
            lines.append("".join(current).rstrip())
            current, column = [], 0
        else:
            if column < len(current):
                current[column] = byte
            else:
                current.append(byte)
            column += 1
    if current:
        lines.append("".join(current).rstrip())
    return [line for line in lines if line]


def shown_progress(output: bytes):
    return [(float(m.group(1)), m.group(2).decode(), int(m.group(3))) for m in PROGRESS_SHOWN.finditer(output)]


def assert_no_progress_in_logs(world):
    debug = debug_log(world)
    assert not RSYNC_PROGRESS.search(debug), RSYNC_PROGRESS.search(debug).group(0)
    assert "ETA" not in debug and "ETA" not in world.info_log
    assert "\r" not in debug and "\r" not in world.info_log


@pytest.fixture
def big_source(world):
    write_files(world.source, {"big.bin": os.urandom(BIG), "small.txt": "small"})
    return world


def test_a_first_run_on_a_terminal_shows_progress_then_only_its_result(big_source):
    world = big_source

    code, output = run_on_terminal(world)

    assert code == 0, output
    assert output.startswith(b"\rjob dest: looking for changes"), output[:200]
    progress = shown_progress(output)
    assert progress, output
    assert progress[-1] == (19.1, "MiB", 100), progress   # 20,000,000 bytes + 5 = 19.1 MiB
    assert all(0 <= percent <= 100 for _, _, percent in progress)
    order = [output.index(b"\rjob dest: looking for changes"), output.index(b"MiB copied, 100%"),
             output.index(b"\rjob dest: making the hourly snapshot"),
             output.index(b"\rjob dest: making the daily snapshot"),
             output.index(b"job dest: due hourly, daily; done: ")]
    assert order == sorted(order), output
    assert screen(output) == [job_line(world).split(" INFO    ", 1)[1]], screen(output)
    assert output.endswith(b"\n")
    assert "--info=progress2" in debug_log(world)
    assert_no_progress_in_logs(world)
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert world.snapshots() == ["daily.0", "hourly.0"]


def test_the_same_run_under_cron_prints_nothing(big_source):
    world = big_source

    result = vhpi(world, code=0)

    assert result.stdout == "" and result.stderr == ""
    assert "--info=progress2" not in debug_log(world)
    assert "(19.1 MiB) copied" in job_line(world)
    assert_no_progress_in_logs(world)
    assert manifest(world.dest / "hourly.0") == manifest(world.source)


@pytest.fixture
def big_source_in_a_folder(world):
    write_files(world.source, {"more/big.bin": os.urandom(BIG), "small.txt": "small"})
    return world


def test_a_later_run_shows_the_progress_of_its_copying_pass(big_source_in_a_folder):
    world = big_source_in_a_folder
    vhpi(world, code=0)
    write_files(world.source, {"more/big2.bin": os.urandom(BIG)})  # the top folder stays as it was

    code, output = run_on_terminal(world, at="+2h")

    assert code == 0, output
    assert output.startswith(b"\rjob dest: looking for changes")
    progress = shown_progress(output)
    assert progress and progress[-1] == (19.1, "MiB", 100), (progress, output)
    assert b"making the hourly snapshot" in output and b"making the daily snapshot" not in output
    (shown,) = screen(output)
    assert shown == job_line(world).split(" INFO    ", 1)[1]
    assert shown.startswith("job dest: due hourly; done: 1 files (19.1 MiB) copied"), shown
    runs = [line for line in debug_log(world).splitlines() if "running: ['rsync'" in line]
    assert len(runs) == 3, runs   # the first run's mirror, then listing and copying
    assert "--info=progress2" not in runs[0] and "--dry-run" in runs[1]
    assert "--info=progress2" not in runs[1], "the listing pass must not show progress"
    assert "--info=progress2" in runs[2]
    assert_no_progress_in_logs(world)
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert work_leftovers(world) == []


def test_the_copying_pass_progress_ends_at_100_percent_after_a_top_level_change(big_source):
    world = big_source
    vhpi(world, code=0)
    write_files(world.source, {"big2.bin": os.urandom(BIG)})  # a new top-level file

    code, output = run_on_terminal(world, at="+2h")

    assert code == 0, output
    assert shown_progress(output)[-1] == (19.1, "MiB", 100), shown_progress(output)


def test_nothing_due_on_a_terminal_shows_just_that(big_source):
    world = big_source
    vhpi(world, code=0)

    code, output = run_on_terminal(world, at="+10m")

    assert code == 0
    assert output == b"job dest: nothing due\n"


def test_a_run_that_fails_mid_copy_clears_its_progress_before_the_error(big_source, mounts):
    world = big_source
    dest_on_tmpfs(world, mounts, size="8m")  # the 20 MB file cannot fit

    code, output = run_on_terminal(world)

    assert code == 1, output
    assert output.startswith(b"\rjob dest: looking for changes")
    shown = screen(output)
    assert len(shown) == 1 and shown[0].startswith("job dest: FAILED: "), shown
    assert "nothing was rotated" in shown[0]
    assert world.snapshots() == []
    assert_no_progress_in_logs(world)


# ---------------------------------------------------------------- the progress line itself

def test_progress_is_only_for_terminals():
    assert progress_for("x", io.StringIO()) is None
    master, slave = pty.openpty()
    try:
        with open(slave, "w", closefd=False) as stream:
            assert isinstance(progress_for("x", stream), TerminalProgress)
    finally:
        os.close(master)
        os.close(slave)


def test_the_progress_line_is_rewritten_in_place_and_cleared():
    stream = io.StringIO()
    shown = TerminalProgress("pi", stream)

    shown.say("job pi: looking for changes")
    shown.say("job pi: short")
    assert shown.show_rsync(b"   1,572,864  37%    1.50MB/s    0:00:02  ") is True
    assert shown.show_rsync(b">f+++++++++ big.bin") is False
    shown.clear()
    shown.clear()  # a second clear writes nothing

    long, short = "job pi: looking for changes", "job pi: short"
    rsync = "job pi: 1.5 MiB copied, 37%, 1.50MB/s, ETA 0:00:02"
    assert stream.getvalue() == ("\r" + long + "\r" + short.ljust(len(long)) + "\r" + rsync
                                 + "\r" + " " * len(rsync) + "\r")
    assert screen(stream.getvalue().encode()) == []


def test_clear_without_anything_shown_writes_nothing():
    stream = io.StringIO()
    TerminalProgress("pi", stream).clear()
    assert stream.getvalue() == ""
