"""The everyday runs: the first one, one within the hour, one two hours later, and enough
runs to make the keep counts drop the oldest snapshots."""

import re
import time

from tests.integration.helpers import (assert_same_listing, human, ino, job_line, listing,
                                       manifest, numbers, read, snapshot_dirs, state, vhpi,
                                       work_leftovers, write_config, write_files)

FILES = {"a.txt": "alpha", "dir/b.txt": "beta", "dir/sub/c.bin": bytes(range(256)) * 100}


def test_first_run_makes_every_due_interval_and_stays_quiet(world):
    write_files(world.source, FILES)
    started = time.time()
    result = vhpi(world, code=0)

    assert result.stdout == "" and result.stderr == "", "cron would mail this"
    assert world.snapshots() == ["daily.0", "hourly.0"]
    source = manifest(world.source)
    for name in ("backup.latest", "hourly.0", "daily.0"):
        assert manifest(world.dest / name) == source, name
    for relative in [*FILES, ".backup_valid"]:
        inodes = {ino(world.dest / name / relative) for name in ("backup.latest", "hourly.0", "daily.0")}
        assert len(inodes) == 1, f"{relative} is not one shared inode: {inodes}"
        assert inodes != {ino(world.source / relative)}
    line = job_line(world)
    total = sum(len(c) for c in (b"alpha", b"beta", FILES["dir/sub/c.bin"]))
    match = re.search(r"job dest: due hourly, daily; done: (\d+) files \(([^)]*)\) copied", line)
    assert match, line
    assert int(match.group(1)) == 4  # three files and the sentinel
    assert match.group(2) == human(total)
    recorded = state(world)
    assert set(recorded) == {"hourly", "daily"}
    assert all(started - 1 <= when <= time.time() for when in recorded.values())
    assert work_leftovers(world) == []


def test_a_second_run_within_the_hour_changes_nothing(world):
    write_files(world.source, FILES)
    vhpi(world, code=0)
    before = listing(world.dest)
    write_files(world.source, {"a.txt": "changed, but not due yet"})

    result = vhpi(world, at="+50m", code=0)

    assert result.stdout == result.stderr == ""
    assert job_line(world).endswith("job dest: nothing due")
    assert_same_listing(before, listing(world.dest))


def test_two_hours_later_only_hourly_rotates(world):
    write_files(world.source, {"same.txt": "unchanged", "changed.txt": "version 1"})
    vhpi(world, code=0)
    first = snapshot_dirs(world)
    first_state = state(world)
    write_files(world.source, {"changed.txt": "version 2, longer"})

    vhpi(world, at="+2h", code=0)

    assert world.snapshots() == ["daily.0", "hourly.0", "hourly.1"]
    assert ino(world.dest / "hourly.1") == first["hourly.0"], "hourly.0 must be renamed, not rebuilt"
    assert ino(world.dest / "daily.0") == first["daily.0"], "daily must not rotate"
    assert "due hourly;" in job_line(world)
    same = {ino(world.dest / n / "same.txt") for n in ("hourly.0", "hourly.1", "daily.0", "backup.latest")}
    assert len(same) == 1
    assert ino(world.dest / "hourly.0" / "changed.txt") != ino(world.dest / "hourly.1" / "changed.txt")
    assert read(world.dest / "hourly.0" / "changed.txt") == "version 2, longer"
    assert read(world.dest / "hourly.1" / "changed.txt") == "version 1"
    assert read(world.dest / "daily.0" / "changed.txt") == "version 1"
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    now_state = state(world)
    assert now_state["daily"] == first_state["daily"]
    assert now_state["hourly"] > first_state["hourly"] + 3600


def test_keep_counts_drop_the_oldest_without_gaps(world):
    write_config(world, snapshots={"hourly": 3, "daily": 2})
    offsets = ["+0", "+25h", "+50h", "+75h", "+100h"]
    states = []
    for run, offset in enumerate(offsets):
        write_files(world.source, {"which.txt": f"state {run}", f"only-in-{run}.txt": "x"},
                    mtime=1_700_000_000 + run * 60)
        if run:
            (world.source / f"only-in-{run - 1}.txt").unlink()
        states.append(manifest(world.source))
        vhpi(world, at=offset, code=0)
        for interval, keep in (("hourly", 3), ("daily", 2)):
            kept = min(run + 1, keep)
            assert numbers(world, interval) == list(range(kept)), (run, world.snapshots())
            for n in range(kept):
                folder = world.dest / f"{interval}.{n}"
                assert read(folder / "which.txt") == f"state {run - n}", (run, interval, n)
                assert manifest(folder) == states[run - n], (run, interval, n)
        assert work_leftovers(world) == []
    assert world.snapshots() == ["daily.0", "daily.1", "hourly.0", "hourly.1", "hourly.2"]
    assert read(world.dest / "hourly.2" / "which.txt") == "state 2"  # states 0 and 1 dropped
    assert read(world.dest / "daily.1" / "which.txt") == "state 3"


def test_a_lowered_keep_count_drops_at_most_one_per_run(world):
    write_config(world, snapshots={"hourly": 4})
    for run in range(4):
        write_files(world.source, {"which.txt": f"state {run}"}, mtime=1_700_000_000 + run * 60)
        vhpi(world, at=f"+{2 * run}h", code=0)
    assert numbers(world, "hourly") == [0, 1, 2, 3]
    write_config(world, snapshots={"hourly": 2})
    write_files(world.source, {"which.txt": "state 4"}, mtime=1_700_001_000)

    vhpi(world, at="+8h", code=0)

    assert numbers(world, "hourly") == [0, 1, 2, 3]  # one dropped, one added
    assert [read(world.dest / f"hourly.{n}" / "which.txt") for n in range(4)] == \
        ["state 4", "state 3", "state 2", "state 1"]
    assert "beyond its keep count of 2" in world.info_log
    vhpi(world, at="+10h", code=0)
    assert numbers(world, "hourly") == [0, 1, 2, 3]
    assert read(world.dest / "hourly.3" / "which.txt") == "state 2"
