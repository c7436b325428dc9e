"""The file system's hard-link limit (ext4: 65,000 names per inode). A file that never
changes has one inode shared by backup.latest and every snapshot; with enough snapshots
(or other links to it on the disk) `cp -al` fails with "Too many links".

Defined outcome: backup.latest's name of such a file gets a fresh inode (an exact copy),
the link copy is retried, the run succeeds with a warning in info.log that names the limit;
older snapshots keep their inode, the new snapshot has the same content in a new inode.

The destination is a small ext4 image on a loop device; links made in a scratch folder on
it bring the file to the limit quickly."""

import os
import shutil
import subprocess

import pytest

from tests.conftest import needs_root
from tests.fault.fault_helpers import (assert_history_kept, assert_no_work_left, bare_mountpoint,
                                       mounts, snapshot_record)
from tests.integration.helpers import ino, job_line, manifest, numbers, read, vhpi, write_files

pytestmark = needs_root("mounts an ext4 image on a loop device")
_ = mounts  # the fixture

EXT4_LINK_MAX = 65000


@pytest.fixture
def ext4_world(world, mounts):
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 (e2fsprogs) is not installed")
    probe = subprocess.run(["losetup", "-f"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no free loop device (losetup -f: {probe.stderr.strip()})")
    image = world.root / "disk.ext4"
    with open(image, "wb") as handle:
        handle.truncate(64 << 20)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", "-N", "4096", str(image)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"mkfs.ext4 failed: {made.stderr.strip()}")
    bare_mountpoint(world.dest)
    mounts.loop(image, world.dest)
    (world.dest / ".backup_destination").write_text("")
    assert os.pathconf(world.dest, "PC_LINK_MAX") == EXT4_LINK_MAX
    return world


def _link_up_to(path, scratch, count: int) -> None:
    """Add names for `path` in `scratch` until its inode has `count` of them."""
    scratch.mkdir(exist_ok=True)
    have = os.lstat(path).st_nlink
    for n in range(count - have):
        os.link(path, scratch / f"l{n}")
    assert os.lstat(path).st_nlink == count


def _warning_lines(world):
    return [line for line in world.info_log.splitlines() if "WARNING" in line]


def test_a_file_at_the_link_limit_gets_a_fresh_inode(ext4_world, campaign):
    world = ext4_world
    write_files(world.source, {"popular.txt": "linked from everywhere", "other.txt": "other"})
    vhpi(world, code=0)
    latest = world.dest / "backup.latest" / "popular.txt"
    old_inode = ino(latest)
    _link_up_to(latest, world.dest / ".scratch", EXT4_LINK_MAX - 1)
    before = snapshot_record(world)

    # hourly and daily are due: hourly.0 takes the last free name, daily.0 finds none
    result = vhpi(world, at="+25h")
    campaign.add("link-limit cases")

    assert result.returncode == 0, (result.stderr, world.info_log)
    assert "due hourly, daily; done" in job_line(world), job_line(world)
    warnings = _warning_lines(world)
    assert any("link" in line and "limit" in line for line in warnings), world.info_log
    assert numbers(world, "hourly") == [0, 1] and numbers(world, "daily") == [0, 1]
    assert_history_kept(world, before, campaign=campaign)
    for older in ("hourly.1", "daily.1"):
        assert ino(world.dest / older / "popular.txt") == old_inode, older
    new_inode = ino(world.dest / "daily.0" / "popular.txt")
    assert new_inode != old_inode
    assert ino(latest) == new_inode
    for snapshot in ("hourly.0", "daily.0", "hourly.1", "daily.1"):
        assert read(world.dest / snapshot / "popular.txt") == "linked from everywhere"
        assert manifest(world.dest / snapshot) == manifest(world.source)
    assert os.lstat(world.dest / "hourly.1" / "popular.txt").st_nlink <= EXT4_LINK_MAX
    assert_no_work_left(world)

    vhpi(world, at="+26h", code=0)  # and the runs after it just work
    assert ino(world.dest / "hourly.0" / "popular.txt") == new_inode
    assert ino(world.dest / "hourly.2" / "popular.txt") == old_inode


def test_hard_linked_names_at_the_link_limit_stay_one_inode(ext4_world, campaign):
    """Two names of one file in the source (kept as one inode with rsync -H) at the limit:
    the new snapshot must still hold them as one inode, as the source does."""
    world = ext4_world
    write_files(world.source, {"pair/a.bin": "one file, two names"})
    os.link(world.source / "pair/a.bin", world.source / "pair/b.bin")
    vhpi(world, code=0)
    latest = world.dest / "backup.latest" / "pair"
    assert ino(latest / "a.bin") == ino(latest / "b.bin")
    old_inode = ino(latest / "a.bin")
    _link_up_to(latest / "a.bin", world.dest / ".scratch", EXT4_LINK_MAX - 1)
    before = snapshot_record(world)

    result = vhpi(world, at="+2h")  # hourly.0 needs two more names: one too many
    campaign.add("link-limit cases")

    assert_history_kept(world, before, campaign=campaign)  # whatever happens: nothing lost
    assert_no_work_left(world)
    assert result.returncode == 0, (result.stderr, world.info_log)
    assert any("limit" in line for line in _warning_lines(world)), world.info_log
    assert ino(world.dest / "hourly.1" / "pair/a.bin") == old_inode
    new = world.dest / "hourly.0" / "pair"
    assert read(new / "a.bin") == read(new / "b.bin") == "one file, two names"
    assert ino(new / "a.bin") == ino(new / "b.bin"), "the two names came apart"
    assert ino(new / "a.bin") != old_inode
    assert_no_work_left(world)
