"""Mounts that vanish: the source share and the backup disk, unmounted before a run and in
the middle of one (`umount -l`, as a dropped network share or a pulled USB cable look to a
running program: the path at once shows the empty mountpoint folder below).

Promises checked: nothing is deleted from any snapshot, no snapshot is made of a half-empty
source, nothing is written into an empty mountpoint (it would fill the SD card), the run
exits 1 with a clear line in info.log, and once the mount is back the next run works.

The "disks" are tmpfs file systems that stay mounted elsewhere for the whole test; the
source and destination folders are bind mounts of folders on them, so unmounting and
mounting again keeps their data, as with a real disk."""

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import needs_root
from tests.fault.fault_helpers import (Mounts, RsyncGate, assert_history_kept, assert_no_work_left,
                                       bare_mountpoint, build_history, mounts, paused_vhpi,
                                       snapshot_record)
from tests.integration.helpers import (assert_same_listing, job_line, listing, manifest, numbers,
                                       vhpi, walk)

pytestmark = needs_root("mounts and unmounts file systems")
_ = mounts  # the fixture


class Disk:
    """A folder on a tmpfs of its own, bind-mounted onto `target` (and again after it was
    unmounted): `mounted` says whether `target` shows it right now."""

    def __init__(self, mounts: Mounts, root: Path, name: str, target: Path):
        self.mounts = mounts
        self.store = root / f"{name}-disk"
        self.store.mkdir()
        mounts.tmpfs(self.store, size="32m")
        self.data = self.store / "data"
        self.data.mkdir()
        self.target = target
        for entry in os.listdir(target):  # move the world's marks onto the disk
            shutil.move(str(target / entry), str(self.data / entry))
        bare_mountpoint(target)
        self.mount()

    def mount(self) -> None:
        self.mounts.bind(self.data, self.target)
        assert os.path.ismount(self.target)

    def unmount(self) -> None:
        Mounts.lazy_unmount(self.target)
        assert os.listdir(self.target) == [], "the mountpoint folder itself must be empty"


@pytest.fixture
def share(world, mounts):
    return Disk(mounts, world.root, "share", world.source)


@pytest.fixture
def usb(world, mounts):
    return Disk(mounts, world.root, "usb", world.dest)


def _assert_clear_failure(world, result_code, output, *fragments):
    line = job_line(world)
    assert result_code == 1, (result_code, output, world.info_log)
    assert "FAILED" in line, line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert "Traceback" not in output + world.info_log


# ------------------------------------------------------------------ the source share


def test_share_unmounted_before_a_run(world, share, campaign):
    states = build_history(world)
    before, dest_before = snapshot_record(world), listing(world.dest)
    share.unmount()
    campaign.add("mount cases")

    result = vhpi(world)

    _assert_clear_failure(world, result.returncode, result.stderr, ".backup_valid", "not mounted")
    assert ".backup_valid" in result.stderr
    assert_same_listing(dest_before, listing(world.dest))
    assert os.listdir(world.source) == []
    assert_history_kept(world, before, campaign=campaign)

    share.mount()
    vhpi(world, code=0)
    assert assert_history_kept(world, before, may_drop=("hourly.2",)) == ["hourly.2"]
    assert manifest(world.dest / "hourly.0") == states[-1]


def _unmount_during_a_run(world, mounted, point, gate_match):
    """Run vhpi, pausing at `point` (and holding rsync back when `gate_match` is set),
    unmount `mounted` (the share or the backup disk) there, and let the run go on.
    Returns (exit code, output)."""
    gate = RsyncGate(world, gate_match) if gate_match else None
    with paused_vhpi(world, point, env=gate.env if gate else None) as run:
        if gate:
            gate.wait_until_held()
        mounted.unmount()
        if gate:
            gate.open()
        code = run.resume()
    return code, run.output()


def _share_vanishes(world, share, point, gate_match):
    """Unmount the share at `point` of a run (see _unmount_during_a_run). Returns the
    source states, the snapshots and backup.latest as they were before, the exit code and
    the output."""
    states = build_history(world)
    before = snapshot_record(world)
    latest = manifest(world.dest / "backup.latest")
    code, output = _unmount_during_a_run(world, share, point, gate_match)
    return states, before, latest, code, output


VANISHING_SHARE = {
    # rsync's dry run started (held back until the share is gone): it sees an empty folder
    "during-the-dry-run": ("rsync-started:1", "--dry-run"),
    # the dry run saw the share; the copy pass finds its files gone
    "before-the-copy": ("unlinked", None),
}


@pytest.mark.parametrize("case", list(VANISHING_SHARE))
def test_share_vanishes_during_a_run_nothing_is_lost(world, share, case, campaign):
    states, before, latest, code, output = _share_vanishes(world, share, *VANISHING_SHARE[case])
    campaign.add("mount cases")

    assert code == 1, (code, output, world.info_log)
    assert "FAILED" in job_line(world) and "nothing was rotated" in job_line(world), job_line(world)
    assert sorted(before) == world.snapshots(), "no snapshot may be made of a half-empty source"
    assert_history_kept(world, before, campaign=campaign)
    if case == "during-the-dry-run":
        # the empty folder must not be mirrored: backup.latest keeps every file
        assert manifest(world.dest / "backup.latest") == latest
    assert os.listdir(world.source) == []

    share.mount()
    vhpi(world, code=0)
    assert assert_history_kept(world, before, may_drop=("hourly.2",)) == ["hourly.2"]
    assert numbers(world, "hourly") == [0, 1, 2]
    assert manifest(world.dest / "hourly.0") == states[-1]
    assert manifest(world.dest / "backup.latest") == states[-1]
    assert_no_work_left(world)


@pytest.mark.parametrize("case", list(VANISHING_SHARE))
def test_share_vanishes_during_a_run_the_message_says_so(world, share, case):
    _, _, _, code, output = _share_vanishes(world, share, *VANISHING_SHARE[case])
    line = job_line(world)
    assert code == 1
    assert "source" in line and ("vanished" in line or "not mounted" in line), line
    assert ".backup_valid" in line or "mounted" in line, line
    assert "FAILED" in output


# ------------------------------------------------------------------ the backup disk


def test_disk_unmounted_before_a_run(world, usb, campaign):
    states = build_history(world)
    before = snapshot_record(world)
    disk_before = listing(usb.data)
    usb.unmount()
    campaign.add("mount cases")

    result = vhpi(world)

    _assert_clear_failure(world, result.returncode, result.stderr, "probably not mounted")
    assert "probably not mounted" in result.stderr
    assert os.listdir(world.dest) == [], "nothing may be written into the empty mountpoint"
    assert_same_listing(disk_before, listing(usb.data))

    usb.mount()
    vhpi(world, code=0)
    assert assert_history_kept(world, before, may_drop=("hourly.2",), campaign=campaign) == ["hourly.2"]
    assert manifest(world.dest / "hourly.0") == states[-1]
    assert_no_work_left(world)


VANISHING_DISK = {
    # point, rsync gate (hold that rsync back until the disk is gone)
    "dry-run-started": ("rsync-started:1", "--dry-run"),
    "after-the-unlinks": ("unlinked", None),
    "copy-started": ("rsync-started:2", "--files-from"),
    "after-the-copy": ("rsync-done:2", None),
    "after-cp-al": ("linked", None),
    "ready": ("ready", None),
    "after-the-drop": ("dropped", None),
    "after-the-renames": ("renamed:2", None),
    "after-the-state": ("state-written", None),
    "between-intervals": ("placed:1", None),
}


@pytest.mark.parametrize("case", list(VANISHING_DISK))
def test_disk_vanishes_during_a_run(world, usb, case, campaign):
    point, gate_match = VANISHING_DISK[case]
    both_due = case == "between-intervals"
    states = build_history(world, offsets=("-75h", "-50h", "-25h") if both_due else ("-6h", "-4h", "-2h"))
    before = snapshot_record(world)
    code, output = _unmount_during_a_run(world, usb, point, gate_match)
    campaign.add("mount cases")

    stray = sorted(os.path.relpath(os.path.join(folder, name), world.dest)
                   for folder, folders, files in walk(world.dest) for name in folders + files)
    _assert_clear_failure(world, code, output, "destination")
    line = job_line(world)
    assert "vanished" in line or "not mounted" in line, line
    assert "disk is full" not in line

    usb.mount()
    result = vhpi(world, code=0)
    assert result.stdout == result.stderr == ""
    may_drop = ("hourly.2", "daily.1") if both_due else ("hourly.2",)
    dropped = assert_history_kept(world, before, may_drop=may_drop, campaign=campaign)
    assert sorted(dropped) == sorted(may_drop)
    assert numbers(world, "hourly") == [0, 1, 2]
    assert manifest(world.dest / "hourly.0") == states[-1]
    if both_due:
        assert numbers(world, "daily") == [0, 1]
        assert manifest(world.dest / "daily.0") == states[-1]
    assert_no_work_left(world)
    assert stray == [], f"written into the empty mountpoint (the SD card): {stray}"


def test_the_mount_helper_cleans_up_a_bind_mount_within_one_file_system(tmp_path, mounts):
    """The helper itself: a bind mount on the same file system is invisible to
    os.path.ismount; it must still be found and unmounted (else it leaks past the test)."""
    from tests.fault.fault_helpers import is_mount_point
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "inside.txt").write_text("x")
    mounts.bind(tmp_path / "a", tmp_path / "b")
    assert is_mount_point(tmp_path / "b") and (tmp_path / "b" / "inside.txt").exists()
    mounts.cleanup()
    assert not is_mount_point(tmp_path / "b") and not (tmp_path / "b" / "inside.txt").exists()
