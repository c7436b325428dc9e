"""Interval names match exactly: `daily` and `six-daily` live side by side, and neither ever
counts, rotates or drops the other's folders (nor folders that only look like snapshots)."""

from tests.integration.helpers import (ino, manifest, numbers, read, snapshot_dirs, state, vhpi,
                                       write_config, write_files)

INTERVALS = {"six-daily": 6 * 86400, "daily": 86400}
DECOYS = ["daily.01", "daily.0.old", "xdaily.0", "six-daily.-1", "daily.", "daily.1e3", "Daily.0"]


def test_daily_and_six_daily_never_count_for_each_other(world):
    write_config(world, intervals=INTERVALS, snapshots={"six-daily": 2, "daily": 2})
    for decoy in DECOYS:
        (world.dest / decoy).mkdir()
        (world.dest / decoy / "mine.txt").write_text(decoy)
    decoys = {name: ino(world.dest / name) for name in DECOYS}

    for day in range(8):
        write_files(world.source, {"day.txt": f"day {day}"}, mtime=1_700_000_000 + day * 100)
        vhpi(world, at=f"+{day}d", code=0)
        assert numbers(world, "daily") == list(range(min(day + 1, 2))), (day, world.snapshots())
        assert read(world.dest / "daily.0" / "day.txt") == f"day {day}"
        if day == 0:
            six = ino(world.dest / "six-daily.0")
        if day < 6:
            assert numbers(world, "six-daily") == [0], (day, world.snapshots())
            assert ino(world.dest / "six-daily.0") == six, "six-daily moved along with daily"
            assert "due daily;" in world.info_log.splitlines()[-1] or day == 0
        assert {name: ino(world.dest / name) for name in DECOYS} == decoys

    # day 6 made the second six-daily snapshot; day 7 only a daily one
    assert numbers(world, "six-daily") == [0, 1]
    assert read(world.dest / "six-daily.0" / "day.txt") == "day 6"
    assert ino(world.dest / "six-daily.1") == six
    assert read(world.dest / "six-daily.1" / "day.txt") == "day 0"
    assert [read(world.dest / f"daily.{n}" / "day.txt") for n in (0, 1)] == ["day 7", "day 6"]
    for decoy in DECOYS:
        assert read(world.dest / decoy / "mine.txt") == decoy
    assert set(state(world)) == {"daily", "six-daily"}


def test_lost_records_rebuilt_with_trust_clock_see_each_interval_exactly(world):
    write_config(world, intervals=INTERVALS, snapshots={"six-daily": 2, "daily": 2})
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, code=0)
    (world.dest / "six-daily.0").rename(world.dest / "put-aside")
    (world.dest / ".vhpi" / "state.json").unlink()
    dirs = snapshot_dirs(world)
    vhpi(world, "--trust-clock", code=0)
    # daily.0 exists, so daily starts its records from now; six-daily has no folder of its
    # own (daily.0 must not count for it), so it is due and gets one now.
    assert set(state(world)) == {"daily", "six-daily"}
    assert numbers(world, "six-daily") == [0] and numbers(world, "daily") == [0]
    assert ino(world.dest / "daily.0") == dirs["daily.0"]
    assert "due six-daily; done" in world.info_log.splitlines()[-1]
    assert manifest(world.dest / "six-daily.0") == manifest(world.source)
