"""Runs that overlap: cron and a person (or a slow run and the next hour's) start vhpi while
another run is going. Exactly one works on a destination; every other skips it at once
with exit 0, says so in info.log, prints nothing (cron would mail it) and touches nothing.

Beyond tests/integration/test_vhpi_lock.py: five processes released at the same instant,
runs started while the first is really copying data (rsync slowed down by --bwlimit) or is
stopped mid-rotation, and a run with another HOME (so another lock) on the same disk."""

import os
import re
import subprocess
import time
from pathlib import Path

from tests.fault.fault_helpers import (assert_history_kept, assert_no_work_left, build_history,
                                       log_mark, paused_vhpi, snapshot_record)
from tests.integration.helpers import (assert_same_listing, job_line, kill_group, listing, manifest,
                                       numbers, start_vhpi, vhpi, write_files)
from vhpi.decide.paths import state_folder

#: What a run says of a job whose destination another run of the same HOME works on.
ANOTHER = "is working on this destination; skipped"
HOLDER = re.compile(r"another vhpi run \(pid (\d+), started [^)]*\) " + re.escape(ANOTHER))


def _fake_rsync(world, body: str) -> dict:
    folder = world.root / "fakebin"
    folder.mkdir(exist_ok=True)
    script = folder / "rsync"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def test_five_runs_started_at_the_same_instant(world, campaign):
    sleep = 3
    env = _fake_rsync(world, (
        'if [ ! -e "$VHPI_TEST_MARKER" ]; then : > "$VHPI_TEST_MARKER"; sleep %d; fi\n'
        'exec /usr/bin/rsync "$@"\n') % sleep)
    env["VHPI_TEST_MARKER"] = str(world.root / "rsync-started")
    write_files(world.source, {"a.txt": "a", "b/c.txt": "c"})
    go = world.root / "go"
    # each process waits for the same file, then execs vhpi (same pid): one release for all
    waiter = ["sh", "-c", 'while [ ! -e "$0" ]; do sleep 0.002; done; exec "$@"', str(go)]
    processes, outputs = [], []
    for n in range(5):
        outputs.append(world.root / f"run{n}.out")
        processes.append(start_vhpi(world, prefix=waiter, env=env, log_to=outputs[-1]))
    try:
        time.sleep(0.3)
        released = time.monotonic()
        go.write_text("")
        ended = {}
        while len(ended) < 5:
            for n, process in enumerate(processes):
                if n not in ended and process.poll() is not None:
                    ended[n] = time.monotonic() - released
            assert time.monotonic() - released < 60, "the runs did not end"
            time.sleep(0.01)
    finally:
        for process in processes:
            if process.poll() is None:
                kill_group(process)
    campaign.add("overlap cases", 5)

    codes = [process.returncode for process in processes]
    assert codes == [0] * 5, (codes, [p.read_text() for p in outputs])
    assert all(path.read_text() == "" for path in outputs), "cron would mail this"
    log = world.info_log
    assert log.count("job dest: due hourly, daily; done") == 1, log
    assert log.count(ANOTHER) == 4, log
    winner = max(ended, key=ended.get)
    holders = set(HOLDER.findall(log))
    assert holders == {str(processes[winner].pid)}, (holders, processes[winner].pid)
    losers = [took for n, took in ended.items() if n != winner]
    assert max(losers) < sleep <= ended[winner], ended
    assert world.snapshots() == ["daily.0", "hourly.0"]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert_no_work_left(world)


def _temp_copy_size(world, name: str) -> int:
    folder = world.dest / ".vhpi" / "work" / "rsync-tmp"
    try:
        return max((os.path.getsize(folder / entry) for entry in os.listdir(folder)
                    if entry.startswith(name) or entry.startswith("." + name)), default=0)
    except FileNotFoundError:
        return 0


def test_runs_started_while_a_long_one_is_copying(world, campaign):
    states = build_history(world)  # three hourly snapshots, the source moved on
    big = os.urandom(3 << 20)
    write_files(world.source, {"big.bin": big})
    current = manifest(world.source)
    before = snapshot_record(world)
    mark = log_mark(world)
    # the copy pass runs at about 1 MB/s: three seconds of real copying
    env = _fake_rsync(world, (
        'case " $* " in *" --files-from="*) exec /usr/bin/rsync --bwlimit=1000 "$@" ;; esac\n'
        'exec /usr/bin/rsync "$@"\n'))
    first = start_vhpi(world, env=env, stdout=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while _temp_copy_size(world, "big.bin") < (512 << 10):
            assert first.poll() is None, first.stdout.read()
            assert time.monotonic() < deadline, "the copy never started"
            time.sleep(0.01)
        copied = _temp_copy_size(world, "big.bin")
        others = []
        for args, at in (((), None), ((), "+2h"), (("--trust-clock",), "+3h")):
            started = time.monotonic()
            result = vhpi(world, *args, at=at)
            others.append((result, time.monotonic() - started))
            campaign.add("overlap cases")
        still = _temp_copy_size(world, "big.bin")
        assert first.poll() is None, "the first run should still be copying"
        assert first.wait(timeout=60) == 0, first.stdout.read()
    finally:
        if first.poll() is None:
            kill_group(first)

    assert still > copied, "the copy went on while the others came and went"
    for result, took in others:
        assert result.returncode == 0 and result.stdout == result.stderr == "", result
        assert took < 2.5, took
    log = "\n".join(world.info_log.splitlines()[mark:])
    assert HOLDER.findall(log) == [str(first.pid)] * 3, log
    assert log.count(f"another vhpi run (pid {first.pid}, started ") == 6, log  # run lock, job
    assert log.count("due hourly; done") == 1 and len(log.splitlines()) == 7, log
    assert "--trust-clock" not in log
    assert numbers(world, "hourly") == [0, 1, 2]
    assert manifest(world.dest / "hourly.0") == current
    assert (world.dest / "hourly.0" / "big.bin").read_bytes() == big
    assert assert_history_kept(world, before, may_drop=("hourly.2",), campaign=campaign) == ["hourly.2"]
    assert_no_work_left(world)
    assert states  # (the history the first run rotated)


def test_a_run_started_while_another_is_stopped_mid_rotation(world, campaign):
    """A run stopped (SIGSTOP: a debugger, a frozen laptop lid, `kill -STOP`) right after its
    drop still holds the lock: the next runs leave; once it goes on, it finishes cleanly.
    (The second run's clock is 2 h ahead: a run's silence is measured since boot, so a
    clock set forward never makes a live run look stuck.)"""
    states = build_history(world)
    before = snapshot_record(world)
    with paused_vhpi(world, "dropped") as run:
        frozen = listing(world.dest)
        for offset in (None, "+2h"):
            result = vhpi(world, at=offset)
            assert result.returncode == 0 and result.stdout == result.stderr == "", result
            last = world.info_log.splitlines()[-1]
            assert HOLDER.search(last), last
            campaign.add("overlap cases")
        assert_same_listing(frozen, listing(world.dest))
        assert run.resume() == 0, run.output()
    assert len(HOLDER.findall(world.info_log)) == 2
    assert "due hourly; done" in job_line(world)
    assert numbers(world, "hourly") == [0, 1, 2]
    assert manifest(world.dest / "hourly.0") == states[-1]
    assert assert_history_kept(world, before, may_drop=("hourly.2",), campaign=campaign) == ["hourly.2"]
    assert_no_work_left(world)


def test_a_run_with_another_home_on_the_same_destination(world, campaign):
    states = build_history(world)
    before = snapshot_record(world)
    other_home = world.root / "other-home"
    other_home.mkdir()
    with paused_vhpi(world, "ready") as run:  # the first run's snapshot waits as ready.*
        frozen = listing(world.dest)
        second = vhpi(world, env={"HOME": str(other_home)})
        campaign.add("overlap cases")
        second_changed = listing(world.dest) != frozen
        first_code = run.resume()
    dropped = assert_history_kept(world, before, may_drop=("hourly.2", "hourly.1"))
    assert dropped in ([], ["hourly.2"]), f"more than the one planned drop: {dropped}"
    assert not second_changed, "a second run touched the destination while the first was going"
    assert second.returncode == 0 and first_code == 0, (second, run.output(), world.info_log)
    assert numbers(world, "hourly") == [0, 1, 2]
    assert manifest(world.dest / "hourly.0") == states[-1]
    assert_no_work_left(world)
    other_log = (Path(state_folder(str(world.config), str(other_home))) / "info.log").read_text()
    assert "another vhpi run (another user or HOME?) is working on this destination" in other_log
