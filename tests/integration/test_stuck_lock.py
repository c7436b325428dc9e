"""A run that has held the lock for over a day is reported, not silently waited on forever."""

import fcntl
import os
import time


def _hold_lock(world, started: float) -> int:
    world.vhpi_home.mkdir(parents=True, exist_ok=True)
    fd = os.open(world.vhpi_home / "vhpi.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, f"4242 {started:.0f}\n".encode())
    return fd


def test_a_lock_held_for_over_a_day_fails_loudly(world):
    fd = _hold_lock(world, time.time() - 30 * 3600)
    try:
        result = world.run(check_code=1)
    finally:
        os.close(fd)
    assert "pid 4242" in world.info_log and "is it stuck?" in world.info_log
    assert "is it stuck?" in result.stderr
    assert world.snapshots() == []


def test_a_lock_held_for_minutes_is_a_quiet_skip(world):
    fd = _hold_lock(world, time.time() - 600)
    try:
        result = world.run(check_code=0)
    finally:
        os.close(fd)
    assert "another vhpi run is still going (pid 4242" in world.info_log
    assert result.stdout == result.stderr == ""
    assert world.snapshots() == []
