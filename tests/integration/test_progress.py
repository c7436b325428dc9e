"""Progress on a terminal: when stdout is a tty a run shows one line, rewritten with \\r:
"job NAME: looking for changes", the copy's progress ("… copied, N%, rate, ETA h:mm:ss", at
most four times a second), "making the … snapshot", then clears it before its own lines. Under cron (pipes) the same
run prints nothing, and progress lines never reach debug.log.

The terminal is a real pty in raw mode (bytes arrive as written); the source holds a 20 MB
random file so that rsync has something to report."""

import errno
import io
import os
import pty
import re
import select
import time
import tty

import pytest

from tests.conftest import Clock
from tests.fault.fault_helpers import dest_on_tmpfs, mounts
from tests.integration.helpers import (debug_log, job_line, manifest, start_vhpi, vhpi, work_leftovers,
                                       write_files)
from vhpi.act.progress import TerminalProgress, progress_for

_ = mounts  # the fixture
BIG = 20_000_000
#: the progress line: bytes copied (over all passes; "of" the total when known), percent (of
#: the whole copy, or of "pass N" from the second pass on, when the total is not known), then,
#: once known, the rate and the time left, all in binary units
PROGRESS_SHOWN = re.compile(rb"\rjob dest: ([\d.]+) (B|KiB|MiB)(?: of [\d.]+ (?:B|KiB|MiB|GiB))? copied, "
                            rb"(?:pass \d+: )?(\d{1,3})%(?:, [\d.]+ (?:B|KiB|MiB|GiB)/s)?(?:, ETA \d+:\d\d:\d\d)?")
#: an rsync progress2 line, as it would look if it reached a log
RSYNC_PROGRESS = re.compile(r"\d[\d,]*\s+\d{1,3}%\s+\S+/s\s+\d+:\d\d:\d\d")


def run_on_terminal(world, *args, at=None, timeout=120.0, env=None):
    """Run vhpi with stdout and stderr on a fresh pty; return (exit code, all bytes written)."""
    master, slave = pty.openpty()
    tty.setraw(slave)  # no \n -> \r\n translation: the bytes as vhpi wrote them
    try:
        process = start_vhpi(world, *args, at=at, env=env, stdout=slave, stderr=slave)
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
    # the first run's mirror, then listing, then the copying passes (one per folder depth)
    assert len(runs) >= 3, runs
    assert "--info=progress2" not in runs[0] and "--dry-run" in runs[1]
    assert "--info=progress2" not in runs[1], "the listing pass must not show progress"
    assert all("--info=progress2" in run for run in runs[2:]), runs
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
    stream, clock = io.StringIO(), Clock(100.0)
    shown = TerminalProgress("pi", stream, clock=clock)

    shown.say("job pi: looking for changes")
    shown.say("job pi: short")
    clock.now += 1
    assert shown.show_rsync(b"   1,572,864  37%    1.50MB/s    0:00:02  ") is True
    assert shown.show_rsync(b">f+++++++++ big.bin") is False
    shown.clear()
    shown.clear()  # a second clear writes nothing

    long, short = "job pi: looking for changes", "job pi: short"
    rsync = "job pi: 1.5 MiB copied, 37%"   # no rate yet, so no time left either
    assert stream.getvalue() == ("\r" + long + "\r" + short.ljust(len(long)) + "\r" + rsync.ljust(len(short))
                                 + "\r" + " " * len(rsync) + "\r")
    assert screen(stream.getvalue().encode()) == []


def test_clear_without_anything_shown_writes_nothing():
    stream = io.StringIO()
    TerminalProgress("pi", stream).clear()
    assert stream.getvalue() == ""


# ---------------------------------------------------------------- how often, in what units

#: every redraw of the progress line (not the phases): "\rjob dest: " and a byte count
REDRAW = re.compile(rb"\rjob dest: [\d.]+ (?:B|KiB|MiB|GiB|TiB) ")


def slow_copies(world, kilobytes_a_second: int) -> dict:
    """Put an `rsync` first in PATH that slows the passes that show progress down to
    `kilobytes_a_second` (--bwlimit) and notes when each of them started and ended; return
    the env for vhpi."""
    folder = world.root / "slow-rsync"
    folder.mkdir()
    script = folder / "rsync"
    script.write_text(
        '#!/bin/sh\n'
        'case " $* " in *" --info=progress2 "*)\n'
        f'  echo "start $(date +%s.%N)" >> "{folder}/times"\n'
        f'  /usr/bin/rsync --bwlimit={kilobytes_a_second} "$@"; code=$?\n'
        f'  echo "end $(date +%s.%N)" >> "{folder}/times"\n'
        '  exit $code ;;\n'
        'esac\n'
        'exec /usr/bin/rsync "$@"\n')
    script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def copying_seconds(world) -> float:
    """How long the slowed passes ran, from the first one's start to the last one's end."""
    times = [line.split() for line in (world.root / "slow-rsync" / "times").read_text().splitlines()]
    return float(times[-1][1]) - float(times[0][1])


def progress_redraws(output: bytes) -> list:
    """The progress states the line showed, in order, as text."""
    return [piece.decode().rstrip() for piece in output.split(b"\r")
            if REDRAW.match(b"\r" + piece)]


@pytest.fixture
def many_small_files(world):
    """3,000 files of 5,000 bytes: rsync prints a progress line after each one."""
    write_files(world.source, {f"many/f{number:04}": os.urandom(5000) for number in range(3000)})
    return world


def test_the_line_is_redrawn_at_most_four_times_a_second(many_small_files):
    world = many_small_files
    env = slow_copies(world, 6000)   # 15 MB at 6 MB/s: about 2.5 s, some 1,200 rsync lines a second

    code, output = run_on_terminal(world, env=env)

    assert code == 0, output[-2000:]
    seconds, redraws = copying_seconds(world), progress_redraws(output)
    rate = len(redraws) / seconds
    print(f"\n{len(redraws)} redraws in {seconds:.2f} s of copying: {rate:.1f} a second, "
          f"{len(output)} bytes written")
    assert seconds > 1.5, seconds
    # at most one every 0.25 s, plus the state at the end of the copy's one pass
    assert len(redraws) <= 4 * seconds + 2, (rate, redraws[:20])
    assert len(redraws) >= 4, redraws   # and it does show the copy going on
    assert shown_progress(output)[-1] == (14.3, "MiB", 100), redraws[-3:]   # 15,000,000 bytes
    assert_no_progress_in_logs(world)


#: the whole progress line, in vhpi's own figures and units
LINE = re.compile(r"job dest: \d+(\.\d)? (B|KiB|MiB|GiB)( of \d+(\.\d)? (B|KiB|MiB|GiB))? copied, "
                  r"(pass \d+: )?\d{1,3}%(, \d+(\.\d)? (B|KiB|MiB|GiB)/s)?(, ETA \d+:\d\d:\d\d)?")


def test_the_line_uses_binary_units_and_a_real_eta(many_small_files):
    world = many_small_files
    env = slow_copies(world, 6000)

    code, output = run_on_terminal(world, env=env)

    assert code == 0, output[-2000:]
    redraws = progress_redraws(output)
    for shown in redraws:
        assert LINE.fullmatch(shown), shown
        assert "MB/s" not in shown and "kB/s" not in shown, shown
    assert any("MiB/s" in shown for shown in redraws), redraws   # a rate, once one is known
    etas = [int(h) * 3600 + int(m) * 60 + int(s)
            for h, m, s in re.findall(r"ETA (\d+):(\d\d):(\d\d)", "\n".join(redraws))]
    assert etas, redraws
    # rsync's own "ETA" field is the time taken so far: it climbs to about 2 s here
    assert etas[-1] == 0, redraws[-3:]
    assert max(etas) <= 4, etas   # about 2.5 s of copying: never more than that left


@pytest.fixture
def changes_at_three_depths(world):
    """A backed-up source, then a 2 MB file new at each of three folder depths: the copy
    runs one pass per depth, deepest first."""
    write_files(world.source, {"a/b/old.txt": "old", "small.txt": "small"})
    vhpi(world, code=0)
    write_files(world.source, {"a/b/c/deep.bin": os.urandom(2_000_000), "a/mid.bin": os.urandom(2_000_000),
                               "top.bin": os.urandom(2_000_000)})
    return world


def test_the_passes_of_one_copy_show_as_one_copy(changes_at_three_depths):
    world = changes_at_three_depths
    env = slow_copies(world, 4000)   # half a second a pass

    code, output = run_on_terminal(world, at="+2h", env=env)

    assert code == 0, output[-2000:]
    runs = [line for line in debug_log(world).splitlines() if "--info=progress2" in line]
    assert len(runs) >= 3, runs
    redraws = progress_redraws(output)
    assert len(redraws) <= 4 * copying_seconds(world) + len(runs) + 1, redraws
    copied = [size * {"B": 1, "KiB": 2 ** 10, "MiB": 2 ** 20}[unit] for size, unit, _ in shown_progress(output)]
    assert copied == sorted(copied), redraws   # the bytes copied never go back at a new pass
    assert any(": pass 3: " in shown or ", pass 3: " in shown for shown in redraws), redraws
    assert shown_progress(output)[-1] == (5.7, "MiB", 100), redraws[-3:]   # 6,000,000 bytes
    assert "rsync: " not in output.decode()
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
