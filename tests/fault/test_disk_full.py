"""The backup disk fills up in the middle of a run: while rsync copies, while the dry run
writes its lists, while a snapshot is hard-linked, and while the state file is written
between the rotation's renames and the new snapshot's placing. Each time: exit 1, "disk is
full" in info.log (and on stderr for cron), no older snapshot changed or lost; once space is
freed, the next run finishes the job without a second drop.

The destination is a small tmpfs of its own; vhpi is paused at a checkpoint, the disk is
filled to its last byte and/or inode by another writer, and vhpi continues."""

import pytest

from tests.conftest import needs_root
from tests.fault.fault_helpers import (assert_history_kept, assert_no_work_left, build_history,
                                       dest_on_tmpfs, fill_disk, free_disk, mounts, paused_vhpi,
                                       snapshot_record)
from tests.integration.helpers import ino, job_line, manifest, numbers, state, vhpi, work_leftovers

pytestmark = needs_root("mounts a small tmpfs as the backup disk")
_ = mounts  # the fixture


@pytest.fixture
def full_world(world, mounts):
    """A destination on an 8 MiB, 2000-inode tmpfs with three hourly and one daily snapshot
    made at -6h, -4h, -2h; the source has moved on to a fourth state."""
    dest_on_tmpfs(world, mounts, size="8m", nr_inodes=2000)
    states = build_history(world)
    assert numbers(world, "hourly") == [0, 1, 2] and numbers(world, "daily") == [0]
    return world, states


def _assert_failed_full(world, code, run, where=""):
    line = job_line(world)
    output = run.output()
    assert code == 1, (code, output, world.info_log)
    assert "FAILED" in line and "disk is full" in line and where in line, line
    assert "disk is full" in output, "cron must mail the failure"
    assert "Traceback" not in output + world.info_log


def _assert_next_run_finishes(world, states, before, campaign, may_drop=("hourly.2",)):
    result = vhpi(world, code=0)
    assert result.stdout == result.stderr == ""
    assert "FAILED" not in job_line(world)
    dropped = assert_history_kept(world, before, may_drop=may_drop, campaign=campaign)
    assert dropped == list(may_drop), f"expected exactly {list(may_drop)} dropped, got {dropped}"
    assert numbers(world, "hourly") == [0, 1, 2]
    assert manifest(world.dest / "hourly.0") == states[-1]
    assert ino(world.dest / "hourly.1") == before["hourly.0"][0]
    assert ino(world.dest / "hourly.2") == before["hourly.1"][0]
    assert_no_work_left(world)


@pytest.mark.parametrize("what", ["bytes", "both"])
def test_disk_fills_up_while_rsync_copies(full_world, what, campaign):
    world, states = full_world
    before = snapshot_record(world)
    recorded = state(world)
    with paused_vhpi(world, "unlinked") as run:  # dry run done, changed files let go of
        fill_disk(world.dest, what)
        code = run.resume()
    campaign.add("disk-full cases")

    _assert_failed_full(world, code, run)
    assert "nothing was rotated" in job_line(world)
    assert sorted(before) == world.snapshots()
    assert_history_kept(world, before, campaign=campaign)
    assert state(world) == recorded

    free_disk(world.dest)
    _assert_next_run_finishes(world, states, before, campaign)


def test_disk_fills_up_while_the_dry_run_writes_its_lists(full_world, campaign):
    world, states = full_world
    before = snapshot_record(world)
    with paused_vhpi(world, "rsync-started:1") as run:  # the dry run, the lists just opened
        fill_disk(world.dest, "both")
        code = run.resume()
    campaign.add("disk-full cases")

    _assert_failed_full(world, code, run)
    assert sorted(before) == world.snapshots()
    assert_history_kept(world, before, campaign=campaign)

    free_disk(world.dest)
    _assert_next_run_finishes(world, states, before, campaign)


def test_inodes_run_out_while_linking_the_snapshot(full_world, campaign):
    """The new tree is linked early, while rsync looks for changes (vhpi.act.head_start),
    and brought up to date after the transfer; the source has a new folder, which needs an
    inode there (ten of them: the entries the update removes first may free a few). None
    is left: vhpi links the tree again with cp -al, which fails too."""
    world, states = full_world
    for number in range(10):
        (world.source / f"new-folder-{number}").mkdir()
        (world.source / f"new-folder-{number}" / "file.txt").write_text("new")
    states[-1] = manifest(world.source)
    before = snapshot_record(world)
    latest = manifest(world.dest / "backup.latest")
    with paused_vhpi(world, "copied") as run:  # backup.latest complete, the early tree next
        fill_disk(world.dest, "inodes")
        code = run.resume()
    campaign.add("disk-full cases")

    _assert_failed_full(world, code, run, where="while linking the hourly snapshot")
    assert sorted(before) == world.snapshots()
    assert_history_kept(world, before, campaign=campaign)
    assert_no_work_left(world)  # the partial building tree is gone
    assert manifest(world.dest / "backup.latest") == states[-1] != latest

    free_disk(world.dest)
    _assert_next_run_finishes(world, states, before, campaign)


def test_inodes_run_out_between_two_intervals(world, mounts, campaign):
    """hourly and daily are both due; the disk fills after hourly.0 is in place: hourly's
    rotation stands, daily is left as it was, and the next run makes only the daily one."""
    dest_on_tmpfs(world, mounts, size="8m", nr_inodes=2000)
    states = build_history(world, offsets=("-75h", "-50h", "-25h"))
    assert numbers(world, "daily") == [0, 1]
    before = snapshot_record(world)
    with paused_vhpi(world, "placed:1") as run:
        fill_disk(world.dest, "inodes")
        code = run.resume()
    campaign.add("disk-full cases")

    _assert_failed_full(world, code, run, where="while linking the daily snapshot")
    assert numbers(world, "hourly") == [0, 1, 2] and numbers(world, "daily") == [0, 1]
    assert manifest(world.dest / "hourly.0") == states[-1]
    assert assert_history_kept(world, before, may_drop=("hourly.2",), campaign=campaign) == ["hourly.2"]
    assert ino(world.dest / "daily.0") == before["daily.0"][0]
    # no partial daily tree; hourly.2, dropped by the finished rotation, may still be in the
    # trash (the failed run stopped before emptying it)
    assert [n for n in work_leftovers(world) if not n.startswith("trash.hourly.2.")] == []

    free_disk(world.dest)
    vhpi(world, code=0)
    assert "due daily; done" in job_line(world), job_line(world)
    dropped = assert_history_kept(world, before, may_drop=("hourly.2", "daily.1"), campaign=campaign)
    assert sorted(dropped) == ["daily.1", "hourly.2"]
    assert numbers(world, "daily") == [0, 1]
    assert manifest(world.dest / "daily.0") == states[-1]
    assert ino(world.dest / "daily.1") == before["daily.0"][0]
    assert_no_work_left(world)


@pytest.mark.parametrize("what", ["bytes", "inodes", "both"])
@pytest.mark.parametrize("point", ["dropped", "renamed:2"])
def test_disk_fills_up_before_the_state_is_written(full_world, point, what, campaign):
    """make_room has dropped hourly.2 (and, at renamed:2, shifted hourly.1 and .0 up); the
    state file cannot be written: the ready tree waits, and the next run puts it in place
    without dropping another snapshot."""
    world, states = full_world
    before = snapshot_record(world)
    recorded = state(world)
    with paused_vhpi(world, point) as run:
        fill_disk(world.dest, what)
        code = run.resume()
    campaign.add("disk-full cases")

    _assert_failed_full(world, code, run)
    assert state(world) == recorded, "the state file must be the old one, whole"
    assert "hourly.0" not in world.snapshots()  # it waits as a ready tree
    assert_history_kept(world, before, may_drop=("hourly.2",), campaign=campaign)
    work = sorted((world.dest / ".vhpi" / "work").iterdir())
    assert [p.name.split("@")[0] for p in work if p.name.startswith("ready.")] == ["ready.hourly"]
    assert manifest([p for p in work if p.name.startswith("ready.")][0]) == states[-1]

    free_disk(world.dest)
    marker = len(world.info_log.splitlines())
    _assert_next_run_finishes(world, states, before, campaign)
    new_lines = "\n".join(world.info_log.splitlines()[marker:])
    assert "finished the hourly snapshot of" in new_lines and "that an interrupted run left" in new_lines
    assert job_line(world).endswith("nothing due")
    assert state(world)["hourly"] > recorded["hourly"] + 3600
