"""Crash safety, deterministically: build by hand every on-disk state that a power cut can
leave (vhpi.act.snapshots' protocol, step by step), run vhpi, and check that it finishes the
interrupted rotation exactly: no gap, no work folder left, the ready tree's time recorded,
and no snapshot lost except the one that rotation was dropping."""

import json
import os
import time

import pytest

from tests.integration.helpers import (copy_tree, debug_log, ino, job_line, manifest, numbers, state, vhpi,
                                       work_leftovers, write_config, write_files)

PID = 4242  # the pid a crashed run would have put in its trash name


def _three_hourly_snapshots(world, keep):
    """hourly.0..2 holding source states 0..2 (newest first), daily.0 holding state 0, made by
    vhpi at -6h, -4h and -2h; then the source moves on to state 3. Returns the 4 manifests."""
    write_config(world, snapshots={"hourly": keep, "daily": 2})
    states = []
    for run, offset in enumerate(("-6h", "-4h", "-2h")):
        write_files(world.source, {"which.txt": f"state {run}", f"file-{run}.txt": "x"},
                    mtime=1_700_000_000 + run * 60)
        states.append(manifest(world.source))
        vhpi(world, at=offset, code=0)
    write_files(world.source, {"which.txt": "state 3", "file-3.txt": "x"}, mtime=1_700_000_500)
    states.append(manifest(world.source))
    assert numbers(world, "hourly") == [0, 1, 2]
    return states


def _ready_tree(world, taken_at):
    """A complete tree waiting in the work folder, as link_tree leaves it (complete from the
    moment it is named ready.*)."""
    work = world.dest / ".vhpi" / "work"
    work.mkdir(parents=True, exist_ok=True)
    ready = work / f"ready.hourly@{taken_at:.3f}"
    copy_tree(world.source, ready)
    return ready


def _step(world, step, taken_at):
    """Carry out one step of make_room / _place by hand, as vhpi.act.snapshots does it."""
    dest, work = world.dest, world.dest / ".vhpi" / "work"
    if step[0] == "drop":
        os.rename(dest / f"hourly.{step[1]}", work / f"trash.hourly.{step[1]}.{PID}")
    elif step[0] == "rename":
        os.rename(dest / f"hourly.{step[1]}", dest / f"hourly.{step[2]}")
    elif step[0] == "state":
        path = dest / ".vhpi" / "state.json"
        data = json.loads(path.read_text())
        data["snapshots"]["hourly"] = float(f"{taken_at:.3f}")
        path.write_text(json.dumps(data))
    else:
        raise ValueError(step)


ROTATIONS = {
    # keep 3 and three snapshots: the oldest is dropped, the rest shift up
    3: [("drop", 2), ("rename", 1, 2), ("rename", 0, 1), ("state",)],
    # keep 4: nothing dropped; after the first renames the numbering has a gap
    4: [("rename", 2, 3), ("rename", 1, 2), ("rename", 0, 1), ("state",)],
}
CASES = [(keep, done) for keep, steps in ROTATIONS.items() for done in range(len(steps) + 1)]


@pytest.mark.parametrize("keep, done", CASES, ids=[f"keep{k}-after-{d}-steps" for k, d in CASES])
def test_an_interrupted_rotation_is_finished(world, keep, done):
    states = _three_hourly_snapshots(world, keep)
    before = {n: ino(world.dest / f"hourly.{n}") for n in range(3)}
    daily = ino(world.dest / "daily.0")
    daily_time = state(world)["daily"]
    taken_at = time.time() - 30
    ready = _ready_tree(world, taken_at)
    ready_ino = ino(ready)
    for step in ROTATIONS[keep][:done]:
        _step(world, step, taken_at)

    result = vhpi(world, code=0)

    assert result.stdout == result.stderr == ""
    kept = keep  # keep 3: one was dropped; keep 4: all four kept
    assert numbers(world, "hourly") == list(range(kept)), world.snapshots()
    assert ino(world.dest / "hourly.0") == ready_ino, "the ready tree must be put in place, not rebuilt"
    for n in range(1, kept):
        assert ino(world.dest / f"hourly.{n}") == before[n - 1], f"hourly.{n} is not the old hourly.{n - 1}"
        assert manifest(world.dest / f"hourly.{n}") == states[3 - n]
    assert manifest(world.dest / "hourly.0") == states[3]
    assert ino(world.dest / "daily.0") == daily and manifest(world.dest / "daily.0") == states[0]
    assert work_leftovers(world) == []
    recorded = state(world)
    assert recorded["hourly"] == pytest.approx(float(f"{taken_at:.3f}"), abs=1e-6)
    assert recorded["daily"] == daily_time
    assert "finished the hourly snapshot of" in world.info_log
    assert job_line(world).endswith("nothing due")

    # and life goes on: the next due run rotates normally from there
    vhpi(world, at="+2h", code=0)
    assert numbers(world, "hourly") == list(range(keep))
    assert manifest(world.dest / "hourly.0") == states[3]
    assert ino(world.dest / "hourly.1") == ready_ino


def test_partial_trees_and_leftover_trash_are_removed(world):
    _three_hourly_snapshots(world, 3)
    work = world.dest / ".vhpi" / "work"
    snapshots = {name: ino(world.dest / name) for name in world.snapshots()}
    contents = {name: manifest(world.dest / name) for name in world.snapshots()}
    # cp -al cut short: a partial hard-linked copy of backup.latest
    building = work / "building.hourly"
    os.makedirs(building)
    os.link(world.dest / "backup.latest" / "which.txt", building / "which.txt")
    (work / "building.daily").mkdir()
    # an emptied-out snapshot that empty_trash did not finish deleting
    copy_tree(world.dest / "hourly.2", work / f"trash.hourly.3.{PID}")
    # a finished snapshot of an interval the config no longer has
    copy_tree(world.dest / "hourly.2", work / f"ready.weekly@{time.time() - 60:.3f}")
    before_state = state(world)

    vhpi(world, at="-90m", code=0)  # half an hour after the last snapshots: nothing due

    assert work_leftovers(world) == []
    assert {name: ino(world.dest / name) for name in world.snapshots()} == snapshots
    assert {name: manifest(world.dest / name) for name in world.snapshots()} == contents
    assert state(world) == before_state
    log = world.info_log
    assert "removed building.hourly, left by an interrupted run" in log
    assert "removed building.daily, left by an interrupted run" in log
    assert f"deleting dropped snapshot trash.hourly.3.{PID}" in debug_log(world)
    assert "removed a finished weekly snapshot: the interval is no longer configured" in log
    assert job_line(world).endswith("nothing due")


def test_a_run_that_is_due_cleans_up_first_and_then_backs_up(world):
    states = _three_hourly_snapshots(world, 3)
    building = world.dest / ".vhpi" / "work" / "building.hourly"
    os.makedirs(building / "half")
    os.link(world.dest / "backup.latest" / "which.txt", building / "half" / "which.txt")
    vhpi(world, code=0)  # the last hourly snapshot was made at -2h: due
    assert not building.exists()
    assert "removed building.hourly" in world.info_log and "due hourly; done" in job_line(world)
    assert numbers(world, "hourly") == [0, 1, 2]
    assert manifest(world.dest / "hourly.0") == states[3]
    assert manifest(world.dest / "hourly.2") == states[1]
    assert work_leftovers(world) == []
