"""Clocks that lie, beyond the single-run checks in tests/integration/test_vhpi_clock.py:

* a Pi without a real-time clock boots with its last shutdown time (fake-hwclock), a few
  days behind, and cron keeps starting runs while the clock ticks on, still behind;
* the same after a power cut that left a rotation half done, booting in 1970 (cut once the
  new tree was complete, and cut between the recycled drop and the new tree);
* a clock far ahead (a bad NTP answer) makes every interval due at once: each rotates
  exactly once, dropping at most one snapshot, however many periods seem to have passed;
  back at the right time, every run refuses (exit 1) until --trust-clock;
* daylight saving time (TZ=Europe/Berlin): runs one real hour apart across both switches
  are one hourly rotation apart, and the two runs at 02:30 local on the night the clocks go
  back are both hourly runs.

Times are given to faketime either as offsets ("+2h") or absolute with their UTC offset."""

import os
import time

import pytest

from tests.fault.fault_helpers import (assert_history_kept, assert_no_work_left, crashed_vhpi,
                                       log_mark, snapshot_record)
from tests.integration.helpers import (assert_same_listing, debug_log, ino, job_line, listing,
                                       manifest, numbers, snapshot_dirs, state, vhpi,
                                       work_leftovers, write_config, write_files)

REFUSED = "the clock is probably wrong"


def _new_state(world, run: int) -> dict:
    write_files(world.source, {"which.txt": f"state {run}"}, mtime=1_700_000_000 + run * 60)
    return manifest(world.source)


def _assert_refused(world, result, before) -> None:
    line = job_line(world)
    assert result.returncode == 1, (result.returncode, result.stderr, world.info_log)
    assert REFUSED in line and "--trust-clock" in line and "Nothing was rotated" in line, line
    assert REFUSED in result.stderr and "Traceback" not in result.stderr
    assert_same_listing(before, listing(world.dest))


# ------------------------------------------------------------------ behind


def test_fake_hwclock_boot_days_behind_refuses_every_run_until_the_clock_is_right(world, campaign):
    write_config(world, snapshots={"hourly": 3, "daily": 3})
    _new_state(world, 0)
    vhpi(world, at="-2h", code=0)
    _new_state(world, 1)
    vhpi(world, code=0)  # the last run before the power cut
    dirs = snapshot_dirs(world)
    records = state(world)
    current = _new_state(world, 2)
    before = listing(world.dest)

    # rebooted with the time of the last shutdown, three days ago; cron starts a run every
    # hour and the clock ticks on from there, still behind the newest record
    for hours in (72, 71, 70, 2):
        result = vhpi(world, at=f"-{hours}h")
        _assert_refused(world, result, before)
        campaign.add("clock cases")
    assert state(world) == records

    vhpi(world, at="+1h", code=0)  # NTP answered
    assert "due hourly; done" in job_line(world), job_line(world)
    assert numbers(world, "hourly") == [0, 1, 2] and numbers(world, "daily") == [0]
    assert ino(world.dest / "hourly.1") == dirs["hourly.0"]
    assert ino(world.dest / "hourly.2") == dirs["hourly.1"]
    assert ino(world.dest / "daily.0") == dirs["daily.0"]
    assert manifest(world.dest / "hourly.0") == current
    campaign.add("clock cases")


def _two_hourly_runs(world) -> dict:
    """hourly.0 and .1 (its keep count) and daily.0, made at -4h and -2h; the source has
    moved on to a third state, which this returns."""
    write_config(world, snapshots={"hourly": 2, "daily": 2})
    for run, offset in enumerate(("-4h", "-2h")):
        _new_state(world, run)
        vhpi(world, at=offset, code=0)
    return _new_state(world, 2)


def test_power_cut_mid_rotation_then_a_boot_in_1970(world, campaign):
    """The interrupted rotation is finished (it needs no clock: its time is in the ready
    tree's name), then the 1970 clock is refused; no snapshot is lost or made twice."""
    current = _two_hourly_runs(world)
    before = snapshot_record(world)
    # a power cut right after the new tree is complete: hourly.1, the one the rotation
    # drops, was recycled into it (trash.hourly.recycled says the drop is done)
    assert crashed_vhpi(world, "ready") != 0
    assert "recycled hourly.1: " in debug_log(world), debug_log(world)[-3000:]
    left = work_leftovers(world)
    assert any(n.startswith("trash.hourly.recycled@") for n in left), left
    assert any(n.startswith("ready.hourly@") for n in left), left
    assert "hourly.1" not in world.snapshots()

    mark = log_mark(world)
    result = vhpi(world, at="1970-01-01 00:02:00 UTC")
    campaign.add("clock cases")
    new_lines = "\n".join(world.info_log.splitlines()[mark:])
    assert "finished the hourly snapshot of" in new_lines, new_lines
    assert result.returncode == 1 and REFUSED in job_line(world), (result.stderr, world.info_log)
    assert numbers(world, "hourly") == [0, 1]
    assert manifest(world.dest / "hourly.0") == current
    assert assert_history_kept(world, before, may_drop=("hourly.1",), campaign=campaign) == ["hourly.1"]
    assert_no_work_left(world)

    after_cut = snapshot_record(world)
    result = vhpi(world, at="1970-01-01 01:05:00 UTC")  # an hour later, still 1970
    assert result.returncode == 1 and REFUSED in job_line(world)
    assert_history_kept(world, after_cut)
    assert numbers(world, "hourly") == [0, 1]

    vhpi(world, at="+1h", code=0)  # the right time: exactly one more hourly rotation
    assert "due hourly; done" in job_line(world)
    assert assert_history_kept(world, after_cut, may_drop=("hourly.1",), campaign=campaign) == ["hourly.1"]
    campaign.add("clock cases")


def test_power_cut_right_after_the_recycled_drop_then_a_boot_in_1970(world, campaign):
    """The power cut comes right after the rotation moved hourly.1 (the one it drops) aside
    to recycle it, before the new tree exists. The 1970 run deletes what the cut left (the
    drop stays done), makes nothing and refuses the clock; hourly is still due, and the run
    at the right time makes its snapshot, with cp -al (hourly is below its keep count now),
    dropping nothing more: one drop for that one rotation, nothing made twice."""
    current = _two_hourly_runs(world)
    before = snapshot_record(world)
    assert crashed_vhpi(world, "dropped") != 0
    left = work_leftovers(world)
    assert len(left) == 1 and left[0].startswith("trash.hourly.recycled@"), left
    assert numbers(world, "hourly") == [0]

    mark = log_mark(world)
    result = vhpi(world, at="1970-01-01 00:02:00 UTC")
    campaign.add("clock cases")
    new_lines = "\n".join(world.info_log.splitlines()[mark:])
    assert "finished the hourly snapshot" not in new_lines, new_lines
    assert result.returncode == 1 and REFUSED in job_line(world), (result.stderr, world.info_log)
    assert numbers(world, "hourly") == [0]
    assert assert_history_kept(world, before, may_drop=("hourly.1",), campaign=campaign) == ["hourly.1"]
    # only the empty sign that hourly's drop is done stays, until its snapshot is made
    left = work_leftovers(world)
    assert len(left) == 1 and left[0].startswith("trash.hourly.recycled@"), left
    assert os.listdir(world.dest / ".vhpi" / "work" / left[0]) == []

    after_cut = snapshot_record(world)
    result = vhpi(world, at="1970-01-01 01:05:00 UTC")  # an hour later, still 1970
    assert result.returncode == 1 and REFUSED in job_line(world)
    assert_history_kept(world, after_cut)
    assert numbers(world, "hourly") == [0]

    logged = len(debug_log(world))
    vhpi(world, at="+1h", code=0)  # the right time: the interrupted rotation's snapshot
    assert "due hourly; done" in job_line(world), job_line(world)
    assert "running: ['cp', '-al', " in debug_log(world)[logged:]
    assert assert_history_kept(world, after_cut, campaign=campaign) == []
    assert numbers(world, "hourly") == [0, 1] and numbers(world, "daily") == [0]
    assert ino(world.dest / "hourly.1") == after_cut["hourly.0"][0]
    assert manifest(world.dest / "hourly.0") == current
    assert_no_work_left(world)
    campaign.add("clock cases")


# ------------------------------------------------------------------ ahead, then back

KEEP = {"hourly": 3, "daily": 2, "weekly": 2, "monthly": 2, "yearly": 2}
INTERVALS = {"hourly": 3600, "daily": 86400, "weekly": 604800, "monthly": 2592000,
             "yearly": 31536000}


def _counts(world):
    return {interval: len(numbers(world, interval)) for interval in KEEP}


def _oldest(world):
    return {f"{interval}.{max(numbers(world, interval))}" for interval in KEEP if numbers(world, interval)}


def test_a_clock_years_ahead_rotates_each_interval_once_then_refuses_until_trusted(world, campaign):
    write_config(world, intervals=INTERVALS, snapshots=KEEP)
    # a year of history (at -400d, then every interval again at -2h): every keep count full
    # except hourly's, so the storm would drop from most of them
    _new_state(world, 0)
    vhpi(world, at="-400d", code=0)
    _new_state(world, 1)
    vhpi(world, at="-2h", code=0)
    _new_state(world, 2)
    vhpi(world, at="-1h", code=0)
    assert _counts(world) == {"hourly": 3, "daily": 2, "weekly": 2, "monthly": 2, "yearly": 2}

    # NTP answers with a time ten years ahead: everything is due, ten years over
    future = _new_state(world, 3)
    before = snapshot_record(world)
    oldest = _oldest(world)
    vhpi(world, at="+3650d", code=0)
    campaign.add("clock cases")
    assert "due hourly, daily, weekly, monthly, yearly; done" in job_line(world), job_line(world)
    assert _counts(world) == {"hourly": 3, "daily": 2, "weekly": 2, "monthly": 2, "yearly": 2}
    dropped = assert_history_kept(world, before, may_drop=oldest, campaign=campaign)
    assert sorted(dropped) == sorted(oldest), "each full interval drops exactly its oldest, once"
    for interval in KEEP:
        assert manifest(world.dest / f"{interval}.0") == future

    # an hour later by that clock: hourly only
    before = snapshot_record(world)
    vhpi(world, at="+87601h", code=0)
    assert "due hourly; done" in job_line(world), job_line(world)
    assert assert_history_kept(world, before, may_drop=("hourly.2",)) == ["hourly.2"]

    # back to the right time: refused, again and again, changing nothing
    stuck = listing(world.dest)
    for offset in (None, "+1h", "+2h", "+30d"):
        result = vhpi(world, at=offset)
        _assert_refused(world, result, stuck)
    campaign.add("clock cases")
    assert world.info_log.count(REFUSED) == 4

    dirs = snapshot_dirs(world)
    started = time.time()
    vhpi(world, "--trust-clock", code=0)
    assert snapshot_dirs(world) == dirs, "--trust-clock must not drop, add or rebuild a snapshot"
    assert all(started - 1 <= when <= time.time() for when in state(world).values())

    before = snapshot_record(world)
    vhpi(world, at="+61m", code=0)
    assert "due hourly; done" in job_line(world), job_line(world)
    assert assert_history_kept(world, before, may_drop=("hourly.2",), campaign=campaign) == ["hourly.2"]
    assert _counts(world) == {"hourly": 3, "daily": 2, "weekly": 2, "monthly": 2, "yearly": 2}
    campaign.add("clock cases")


# ------------------------------------------------------------------ daylight saving time

BERLIN = {"TZ": "Europe/Berlin"}


def _run_at(world, utc: str, **kwargs):
    return vhpi(world, at=f"{utc} UTC", env=BERLIN, **kwargs)


def _epoch(utc: str) -> float:
    import calendar
    return float(calendar.timegm(time.strptime(utc, "%Y-%m-%d %H:%M:%S")))


SPRING = [  # 2026-03-29: 02:00 CET becomes 03:00 CEST
    ("2026-03-28 23:30:00", "00:30", True),
    ("2026-03-29 00:30:00", "01:30", True),
    ("2026-03-29 01:30:00", "03:30", True),   # one real hour later, two on the wall clock
    ("2026-03-29 01:50:00", "03:50", False),  # twenty minutes later: nothing due
    ("2026-03-29 02:30:00", "04:30", True),
]
AUTUMN = [  # 2026-10-25: 03:00 CEST becomes 02:00 CET
    ("2026-10-24 23:30:00", "01:30", True),
    ("2026-10-25 00:30:00", "02:30", True),   # 02:30 CEST
    ("2026-10-25 01:30:00", "02:30", True),   # 02:30 CET: the same wall time, an hour later
    ("2026-10-25 01:50:00", "02:50", False),
    ("2026-10-25 02:30:00", "03:30", True),
]


@pytest.mark.parametrize("runs", [SPRING, AUTUMN], ids=["spring-forward", "fall-back"])
def test_daylight_saving_switches_are_one_rotation_per_real_hour(world, runs, campaign):
    write_config(world, snapshots={"hourly": 8, "daily": 2})
    hourly_made = 0
    for step, (utc, wall, due) in enumerate(runs):
        _new_state(world, step)
        dirs = snapshot_dirs(world)
        _run_at(world, utc, code=0)
        line = job_line(world)
        assert f" {wall}:0" in line[:20], f"info.log should show local time {wall}: {line}"
        if not due:
            assert line.endswith("nothing due"), (utc, line)
            assert snapshot_dirs(world) == dirs
            continue
        hourly_made += 1
        assert ("due hourly, daily; done" if step == 0 else "due hourly; done") in line, (utc, line)
        assert numbers(world, "hourly") == list(range(hourly_made)), (utc, world.snapshots())
        if step:
            assert ino(world.dest / "hourly.1") == dirs["hourly.0"], f"{utc}: more than one rotation"
        assert manifest(world.dest / "hourly.0") == manifest(world.source)
        assert abs(state(world)["hourly"] - _epoch(utc)) < 30, (utc, state(world))
        campaign.add("clock cases")
    assert numbers(world, "daily") == [0]


def test_a_day_across_spring_forward_is_24_real_hours_not_a_calendar_day(world, campaign):
    """The day the clocks go forward has 23 hours: at the same wall time the next day only
    23 real hours have passed, so daily is not due yet; an hour later it is."""
    write_config(world, snapshots={"hourly": 3, "daily": 3})
    _new_state(world, 0)
    _run_at(world, "2026-03-28 23:30:00", code=0)  # Sunday 00:30 CET
    _new_state(world, 1)
    _run_at(world, "2026-03-29 22:30:00", code=0)  # Monday 00:30 CEST: 23 h later
    assert "due hourly; done" in job_line(world), job_line(world)
    assert numbers(world, "daily") == [0]
    _new_state(world, 2)
    _run_at(world, "2026-03-29 23:30:00", code=0)  # 24 h later
    assert "due hourly, daily; done" in job_line(world), job_line(world)
    assert numbers(world, "daily") == [0, 1]
    campaign.add("clock cases")
