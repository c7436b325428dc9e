"""A clock that jumps (a Pi without a real-time clock boots in 1970 or at its last
shutdown; a wrong NTP answer can put it years ahead) must never make vhpi rotate or drop."""

import json
import time

import pytest

from tests.integration.helpers import (assert_same_listing, job_line, listing, manifest, numbers,
                                       snapshot_dirs, state, vhpi, write_config, write_files)


@pytest.mark.parametrize("behind", ["-400d", "1970-01-02 00:00:00", "@1970-01-02 00:00:00"],
                         ids=["400-days-behind", "frozen-1970", "ticking-1970"])
def test_a_clock_far_behind_is_refused(world, behind):
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, code=0)
    write_files(world.source, {"a.txt": "changed"})
    before = listing(world.dest)

    result = vhpi(world, at=behind, code=1)

    line = job_line(world)
    assert "the clock is probably wrong" in line and "--trust-clock" in line, line
    assert "Nothing was rotated" in line
    assert "the clock is probably wrong" in result.stderr and "Traceback" not in result.stderr
    assert_same_listing(before, listing(world.dest))

    vhpi(world, at="+2h", code=0)  # the clock is right again: back to normal
    assert numbers(world, "hourly") == [0, 1]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)


def test_a_clock_that_was_far_ahead_is_refused_until_trust_clock(world):
    write_config(world, snapshots={"hourly": 2, "daily": 2})
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, code=0)
    write_files(world.source, {"a.txt": "written while the clock was ahead"})
    vhpi(world, at="+400d", code=0)  # the wrong clock is believed: both intervals were due
    assert world.snapshots() == ["daily.0", "daily.1", "hourly.0", "hourly.1"]
    future = max(state(world).values())
    assert future > time.time() + 399 * 86400
    before = listing(world.dest)

    for offset in (None, "+2h", "+30d"):  # back to the right time: refused, again and again
        result = vhpi(world, at=offset, code=1)
        assert "the clock is probably wrong" in job_line(world), job_line(world)
        assert "--trust-clock" in result.stderr
        assert_same_listing(before, listing(world.dest))

    dirs = snapshot_dirs(world)
    started = time.time()
    result = vhpi(world, "--trust-clock", code=0)
    assert result.stdout == result.stderr == ""
    assert snapshot_dirs(world) == dirs, "--trust-clock must not drop, add or rebuild a snapshot"
    assert "--trust-clock: snapshot times later than now were set to now" in world.info_log
    assert all(started - 1 <= when <= time.time() for when in state(world).values())
    assert job_line(world).endswith("nothing due")
    # every record is brought back: list, status and restore show no time in the future
    listed = json.loads(vhpi(world, "list", "dest", "--json", code=0).stdout)
    taken = [snapshot["taken_at"] for snapshot in listed["snapshots"] if snapshot["taken_at"] is not None]
    assert len(taken) == 4 and all(when <= time.time() for when in taken), listed
    (status,) = json.loads(vhpi(world, "status", "--json", code=0).stdout)["jobs"]
    shown = [s["taken_at"] for interval in status["intervals"] for s in interval["snapshots"]]
    assert len(shown) == 4 and all(when <= time.time() for when in shown), status
    assert all(interval["newest"] <= time.time() for interval in status["intervals"]), status
    assert status["last_run"]["at"] <= time.time(), status["last_run"]

    vhpi(world, at="+2h", code=0)
    assert numbers(world, "hourly") == [0, 1] and numbers(world, "daily") == [0, 1]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert snapshot_dirs(world)["hourly.1"] == dirs["hourly.0"]
    assert snapshot_dirs(world)["daily.0"] == dirs["daily.0"]


def test_trust_clock_with_nothing_wrong_changes_nothing(world):
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, code=0)
    before = listing(world.dest)
    vhpi(world, "--trust-clock", code=0)
    assert_same_listing(before, listing(world.dest))
