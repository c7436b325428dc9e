"""The checks that keep vhpi from backing up an unmounted share, writing to an unmounted
disk, or rotating without its records; and an offline host."""

import os
import shutil
import subprocess
import time

import pytest
import yaml

from tests.conftest import needs_root
from tests.integration.helpers import (assert_same_listing, job_line, listing, manifest, numbers,
                                       snapshot_dirs, state, vhpi, write_config, write_files)


@pytest.fixture
def backed_up(world):
    """A world with one successful run behind it."""
    write_files(world.source, {"a.txt": "a", "dir/b.txt": "b"})
    vhpi(world, code=0)
    return world


# ------------------------------------------------------------------ source sentinel

def test_a_source_without_its_sentinel_is_not_backed_up(backed_up):
    world = backed_up
    (world.source / ".backup_valid").unlink()
    (world.source / "a.txt").unlink()  # an empty mountpoint would look like everything deleted
    before = listing(world.dest)

    result = vhpi(world, at="+2h", code=1)

    line = job_line(world)
    assert "FAILED" in line and ".backup_valid" in line and "not mounted" in line, line
    assert_same_listing(before, listing(world.dest))
    assert "FAILED" in result.stderr and ".backup_valid" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_a_missing_source_folder_is_not_backed_up(backed_up):
    world = backed_up
    shutil.rmtree(world.source)
    before = listing(world.dest)
    result = vhpi(world, at="+2h", code=1)
    assert "does not exist" in job_line(world) and "FAILED" in result.stderr
    assert_same_listing(before, listing(world.dest))


# ------------------------------------------------------------------ destination

def test_a_missing_destination_is_never_created(world):
    shutil.rmtree(world.dest)
    result = vhpi(world, code=1)
    assert not world.dest.exists()
    assert "does not exist" in job_line(world) and "is the backup disk mounted" in job_line(world)
    assert "FAILED" in result.stderr


def test_an_unmarked_destination_gets_the_touch_hint(world):
    (world.dest / ".backup_destination").unlink()
    result = vhpi(world, code=1)
    assert os.listdir(world.dest) == []
    hint = f"touch {world.dest / '.backup_destination'}"
    assert hint in job_line(world) and hint in result.stderr
    # the test's folder is on the root file system, as an empty mount point on a Pi's SD card
    # is: mounting the disk comes first, the mark only for a folder that is meant to be it
    assert "if the backup disk is not mounted there, mount it" in job_line(world), job_line(world)


def test_a_lost_mark_after_backups_means_the_disk_is_not_mounted(backed_up):
    world = backed_up
    (world.dest / ".backup_destination").unlink()
    before = listing(world.dest)
    result = vhpi(world, at="+2h", code=1)
    line = job_line(world)
    assert "has made snapshots in" in line and "probably not mounted" in line, line
    assert "probably not mounted" in result.stderr
    assert_same_listing(before, listing(world.dest))


def test_an_empty_mountpoint_left_by_an_unplugged_disk_stays_empty(backed_up):
    world = backed_up
    disk = world.root / "unplugged-disk"
    world.dest.rename(disk)
    world.dest.mkdir()  # the empty mountpoint folder
    disk_before = listing(disk)
    vhpi(world, at="+2h", code=1)
    assert os.listdir(world.dest) == []
    assert "probably not mounted" in job_line(world)
    assert_same_listing(disk_before, listing(disk))


def _fake_mark_on_the_mount_point(world):
    """The disk of a backed-up job is unplugged; its empty mount point gets a mark (a user
    who followed an old "touch .backup_destination" hint there). Returns the disk."""
    disk = world.root / "unplugged-disk"
    world.dest.rename(disk)
    world.dest.mkdir()
    (world.dest / ".backup_destination").touch()
    return disk


def test_a_fake_mark_on_the_sd_card_gets_mount_the_disk_not_trust_clock(backed_up):
    world = backed_up
    assert os.stat(world.dest.parent).st_dev == os.stat("/").st_dev, "the test's folders are on /"
    disk = _fake_mark_on_the_mount_point(world)
    disk_before = listing(disk)

    result = vhpi(world, at="+2h", code=1)

    line = job_line(world)
    assert "probably not the backup disk" in line and "mount the backup disk" in line, line
    assert "--trust-clock" not in line and "--trust-clock" not in result.stderr, line
    assert os.listdir(world.dest) == [".backup_destination"], "nothing written on the SD card"
    assert_same_listing(disk_before, listing(disk))


@needs_root("a disk of its own is a tmpfs mount")
def test_an_empty_marked_disk_of_its_own_may_be_a_new_disk(backed_up):
    world = backed_up
    _fake_mark_on_the_mount_point(world)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "vhpi-new-disk", str(world.dest)], check=True)
    try:
        (world.dest / ".backup_destination").touch()
        vhpi(world, at="+2h", code=1)
        line = job_line(world)
        assert "probably not the backup disk" in line and "new, empty backup disk" in line, line
        assert "--trust-clock" in line
        assert os.listdir(world.dest) == [".backup_destination"]
        vhpi(world, "--trust-clock", at="+3h", code=0)   # the user says it is the new disk
        assert manifest(world.dest / "hourly.0") == manifest(world.source)
    finally:
        subprocess.run(["umount", "-l", str(world.dest)], check=True)


@pytest.mark.parametrize("home_lost", [False, True], ids=["home-kept", "home-lost-too"])
def test_lost_records_are_refused_until_trust_clock(backed_up, home_lost):
    world = backed_up
    write_config(world, snapshots={"hourly": 2, "daily": 2})
    write_files(world.source, {"a.txt": "a, second"})
    vhpi(world, at="+2h", code=0)  # hourly now holds its keep count: a rotation would drop one
    (world.dest / ".vhpi" / "state.json").unlink()
    if home_lost:
        shutil.rmtree(world.vhpi_home)
    before = listing(world.dest)

    result = vhpi(world, at="+4h", code=1)
    line = job_line(world)
    assert "records" in line and "missing" in line and "snapshots were made here before" in line
    assert "--trust-clock" in line and "--trust-clock" in result.stderr
    assert_same_listing(before, listing(world.dest))

    dirs = snapshot_dirs(world)
    started = time.time()
    vhpi(world, "--trust-clock", code=0)
    assert snapshot_dirs(world) == dirs, "--trust-clock must not drop or rebuild a snapshot"
    recorded = state(world)
    assert set(recorded) == {"hourly", "daily"}
    assert all(started - 1 <= when <= time.time() for when in recorded.values())

    vhpi(world, at="+2h", code=0)  # the records start afresh: normal rotation again
    assert numbers(world, "hourly") == [0, 1]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)


# ------------------------------------------------------------------ offline host

@needs_root("an offline host is simulated with a network namespace (unshare --net)")
def test_an_offline_host_is_skipped_quietly(backed_up):
    world = backed_up
    write_files(world.source, {"a.txt": "changed while the laptop was away"})
    before = listing(world.dest)

    result = vhpi(world, at="+2h", prefix=("unshare", "--net"), code=0)

    assert job_line(world).endswith("due hourly; host 127.0.0.1 is offline, skipped"), job_line(world)
    assert result.stdout == result.stderr == ""
    assert_same_listing(before, listing(world.dest))


def test_one_failing_job_does_not_stop_the_others(world):
    other_source, other_dest = world.root / "other-source", world.root / "other-dest"
    other_source.mkdir()
    other_dest.mkdir()
    (other_dest / ".backup_destination").write_text("")  # but no .backup_valid in its source
    write_files(world.source, {"a.txt": "a"})
    jobs = [{"name": name, "source_ip": "127.0.0.1", "rsync_src": str(src), "rsync_dest": str(dst),
             "snapshots": {"hourly": 2}}
            for name, src, dst in (("broken", other_source, other_dest), ("fine", world.source, world.dest))]
    world.config.write_text(yaml.safe_dump({"app_cfg": {"intervals": {"hourly": 3600}}, "jobs_cfg": jobs}))

    result = vhpi(world, code=1)

    assert world.snapshots() == ["hourly.0"]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert sorted(os.listdir(other_dest)) == [".backup_destination"]
    log = world.info_log
    assert "job broken: FAILED" in log and "job fine: due hourly; done" in log
    assert "job broken: FAILED" in result.stderr and result.stdout == ""


def test_damaged_records_are_refused_until_moved_aside(backed_up):
    world = backed_up
    path = world.dest / ".vhpi" / "state.json"
    path.write_text(path.read_text()[:20])  # cut short, as a full disk or a bad card would
    before = listing(world.dest)

    result = vhpi(world, at="+2h", code=1)
    line = job_line(world)
    assert "damaged" in line and "Move the file aside" in line and "--trust-clock" in line, line
    assert "Traceback" not in result.stderr
    assert_same_listing(before, listing(world.dest))

    dirs = snapshot_dirs(world)
    path.rename(world.root / "state.json.damaged")
    vhpi(world, "--trust-clock", at="+2h", code=0)
    assert snapshot_dirs(world) == dirs
    vhpi(world, at="+4h", code=0)
    assert numbers(world, "hourly") == [0, 1]
