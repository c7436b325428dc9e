"""Locks another run holds: a busy run is left alone quietly, a stuck one is reported loudly
(exit 1, so cron mails), and neither keeps the other jobs of the config from running.

Each job locks its own destination; the run lock only decides who runs the run's hooks and
pings. Whether a holder is stuck is judged from its heartbeat (its holder file, rewritten
every 30 s while it runs, with the time since boot) against the job's source_timeout, and
from how long it has been at it against the job's longest interval, never from a fixed 24
hours. The holders here are real: this test process holds the real flock, and the
holder file names a real living process."""

import fcntl
import os
import subprocess
import time

import pytest

from tests.integration.helpers import second_job, vhpi, write_jobs
from vhpi.act.heartbeat import seconds_since_boot
from vhpi.act.job_lock import RUN, holder_file

HOUR = 3600


@pytest.fixture
def living_pid():
    """A real process that lives as long as the test (what the holder file names)."""
    process = subprocess.Popen(["sleep", "600"])
    yield process.pid
    process.kill()
    process.wait()


def _two_jobs(world, source_timeout=30):
    """The world's job plus a second one with its own source and destination."""
    other_source, other_dest = second_job(world)
    (world.source / "a.txt").write_text("a")
    write_jobs(world, [("laptop", world.source, world.dest, {"hourly": 2, "daily": 2}),
                       ("photos", other_source, other_dest, {"hourly": 2, "daily": 2})],
               {"hourly": HOUR, "daily": 24 * HOUR}, source_timeout=source_timeout)
    return other_dest


def _write_holder(world, name: str, pid: int, running_for: float, silent_for: float) -> None:
    """The holder file a run with `pid` keeps: started `running_for` and last alive
    `silent_for` seconds ago (counted since boot, as vhpi.act.heartbeat does)."""
    path = holder_file(str(world.vhpi_home), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    up = seconds_since_boot()
    with open(path, "w") as handle:
        handle.write(f"{pid} {time.time() - running_for:.0f} {up - running_for:.1f} "
                     f"{up - silent_for:.1f} laptop\n")


def _hold_destination(world, pid: int, running_for: float, silent_for: float) -> int:
    """Hold the laptop job's destination lock as a run with `pid` would; return the fd."""
    fd = os.open(world.dest, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _write_holder(world, str(world.dest), pid, running_for, silent_for)
    return fd


def _hold_run_lock(world, pid: int, running_for: float, silent_for: float) -> int:
    world.vhpi_home.mkdir(parents=True, exist_ok=True)
    fd = os.open(world.vhpi_home / "vhpi.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _write_holder(world, RUN, pid, running_for, silent_for)
    return fd


def _snapshots(dest) -> list:
    return sorted(p.name for p in dest.iterdir() if p.name[0] != "." and p.name != "backup.latest")


def test_a_busy_destination_is_a_quiet_skip_and_the_other_job_runs(world, living_pid):
    other_dest = _two_jobs(world)
    fd = _hold_destination(world, living_pid, 600, 10)
    try:
        result = vhpi(world, code=0)
    finally:
        os.close(fd)
    assert f"job laptop: another vhpi run (pid {living_pid}, started " in world.info_log
    assert "is working on this destination; skipped" in world.info_log
    assert result.stdout == result.stderr == ""
    assert _snapshots(world.dest) == []
    assert _snapshots(other_dest) == ["daily.0", "hourly.0"]


def test_a_holder_without_a_sign_of_life_is_reported_as_stuck(world, living_pid):
    other_dest = _two_jobs(world, source_timeout=30)
    # silent for 5 minutes: more than 2 x source_timeout (30 s) + 180 s
    fd = _hold_destination(world, living_pid, 900, 300)
    try:
        result = vhpi(world, code=1)
    finally:
        os.close(fd)
    line = [entry for entry in world.info_log.splitlines() if "job laptop" in entry][-1]
    assert " ERROR " in line and f"pid {living_pid}" in line, line
    assert "has shown no sign of life for 5 min" in line and "probably stuck" in line, line
    assert f"ps -o pid,stat,wchan:30,args -p {living_pid}" in line
    assert "no sign of life" in result.stderr, "cron mails it"
    assert _snapshots(world.dest) == []
    assert _snapshots(other_dest) == ["daily.0", "hourly.0"], "the stuck job never starves the other"


def test_the_same_silence_is_fine_with_a_longer_source_timeout(world, living_pid):
    _two_jobs(world, source_timeout=600)
    fd = _hold_destination(world, living_pid, 900, 300)
    try:
        vhpi(world, code=0)
    finally:
        os.close(fd)
    assert "is working on this destination; skipped" in world.info_log


def test_a_live_holder_past_the_longest_interval_is_reported(world, living_pid):
    _two_jobs(world)
    fd = _hold_destination(world, living_pid, 25 * HOUR, 5)
    try:
        result = vhpi(world, code=1)
    finally:
        os.close(fd)
    assert "has been working on this job for 25 h" in world.info_log, world.info_log
    assert "longer than its longest interval (24 h)" in world.info_log
    assert "longer than its longest interval" in result.stderr


def test_a_live_run_lock_holder_leaves_the_jobs_to_this_run(world, living_pid):
    other_dest = _two_jobs(world)
    fd = _hold_run_lock(world, living_pid, 30 * HOUR, 5)
    try:
        result = vhpi(world, code=0)
    finally:
        os.close(fd)
    assert f"another vhpi run (pid {living_pid}, started " in world.info_log
    assert "is still going; this run does the jobs it is not working on" in world.info_log
    assert result.stdout == result.stderr == ""
    assert _snapshots(world.dest) == _snapshots(other_dest) == ["daily.0", "hourly.0"]


def test_a_silent_run_lock_holder_is_reported_and_the_jobs_still_run(world, living_pid):
    other_dest = _two_jobs(world, source_timeout=30)
    fd = _hold_run_lock(world, living_pid, 2 * HOUR, HOUR)
    try:
        result = vhpi(world, code=1)
    finally:
        os.close(fd)
    assert "has held the run lock without a sign of life for 60 min" in world.info_log
    assert "probably stuck" in result.stderr
    assert _snapshots(world.dest) == _snapshots(other_dest) == ["daily.0", "hourly.0"]
