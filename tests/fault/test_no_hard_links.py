"""Backup disks that cannot make hard links: the exFAT or FAT USB stick many users plug in
first. Every snapshot shares unchanged files through hard links, so on such a disk a run
would mirror everything into backup.latest and then fail at the first snapshot, for ever.
`vhpi check` must refuse it at once, naming the file system and what to use instead.

Real file systems on image files: exFAT through exfat-fuse (what Debian bookworm mounts
exFAT with when the kernel has no exfat driver), FAT through the kernel's vfat driver when
there is one and through fusefat, ext4, btrfs and tmpfs. Promises checked: the file system
is named right (bind mounts and FUSE included), the hard-link test fails only where hard
links are missing (not on a read-only, full or forbidden folder), it leaves nothing behind,
and `vhpi check` prints one FAIL line for it and exits 1, while a normal disk passes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest

from tests.conftest import needs_root
from tests.fault.fault_helpers import Mounts, bare_mountpoint, fill_disk, mounts
from tests.integration.helpers import NOBODY, python_for_nobody, vhpi
from tests.integration.test_cmd_check import by_what, checks
from vhpi.act.filesystem import (PROBE_PREFIX, filesystem_of, hard_link_problem, read_mountinfo,
                                 try_hard_link)

_ = mounts  # the fixture (it skips the tests that use it unless run as root)


def _need(program: str, package: str) -> str:
    found = shutil.which(program)
    if found is None:
        pytest.skip(f"{program} is not installed (Debian package {package})")
    return found


def _run(argv: List[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done.stdout.strip()


class Disks:
    """Image files under `root`, each with a fresh file system, mounted on a folder (made if
    missing) through `mounts`; exFAT needs a loop device of its own (exfat-fuse as root
    wants a block device), detached at the end."""

    def __init__(self, mounts: Mounts, root: Path):
        self.mounts = mounts
        self.root = root
        self.loops: List[str] = []

    def _image(self, name: str, size: str, mkfs: List[str]) -> Path:
        image = self.root / f"{name}.img"
        _run(["truncate", "-s", size, str(image)])
        _run([*mkfs, str(image)])
        return image

    @staticmethod
    def _folder(target: Path) -> Path:
        target.mkdir(exist_ok=True)
        return target

    def exfat(self, target: Path, size: str = "32m") -> Path:
        _need("mkfs.exfat", "exfatprogs")
        _need("mount.exfat-fuse", "exfat-fuse")
        if not os.path.exists("/dev/fuse"):
            pytest.skip("no /dev/fuse here")
        image = self._image("exfat", size, ["mkfs.exfat", "-L", "STICK"])
        loop = _run(["losetup", "--find", "--show", str(image)])
        self.loops.append(loop)
        self.mounts._mount(["mount.exfat-fuse", loop, str(self._folder(target))], target)
        return target

    def vfat(self, target: Path, size: str = "64m") -> Path:
        _need("mkfs.fat", "dosfstools")
        if "vfat" not in Path("/proc/filesystems").read_text().split():
            pytest.skip("this kernel has no vfat driver")
        image = self._image("vfat", size, ["mkfs.fat", "-F", "32", "-n", "STICK"])
        return self.mounts.loop(image, self._folder(target))

    def fusefat(self, target: Path, size: str = "64m") -> Path:
        _need("mkfs.fat", "dosfstools")
        _need("fusefat", "fusefat")
        # no volume label: fusefat would show it as a folder entry
        image = self._image("fusefat", size, ["mkfs.fat", "-F", "32"])
        self.mounts._mount(["fusefat", "-o", "rw+", str(image), str(self._folder(target))], target)
        return target

    def ext4(self, target: Path, size: str = "32m") -> Path:
        _need("mkfs.ext4", "e2fsprogs")
        image = self._image("ext4", size, ["mkfs.ext4", "-q", "-F", "-L", "backup"])
        return self.mounts.loop(image, self._folder(target))

    def btrfs(self, target: Path, size: str = "128m") -> Path:
        _need("mkfs.btrfs", "btrfs-progs")
        image = self._image("btrfs", size, ["mkfs.btrfs", "-q", "-L", "backup"])
        return self.mounts.loop(image, self._folder(target))

    def cleanup(self) -> None:
        self.mounts.cleanup()
        for loop in reversed(self.loops):
            # a device still held by an exiting exfat-fuse is detached when it lets go
            subprocess.run(["losetup", "-d", loop], capture_output=True)


@pytest.fixture
def disks(mounts, tmp_path):
    made = Disks(mounts, tmp_path)
    try:
        yield made
    finally:
        made.cleanup()


def _mountinfo_type(target: Path) -> str:
    """The type field exactly as /proc/self/mountinfo shows it for the mount on `target`."""
    entries = [entry for entry in read_mountinfo() if entry.mount_point == str(target)]
    assert entries, f"{target} is not in mountinfo"
    return entries[-1].mount_type


def _assert_no_hard_links_message(message: str, folder: Path, *named: str) -> None:
    assert message is not None
    assert "\n" not in message
    assert message.startswith(f"destination {folder} is on a file system that cannot make hard "
                              f"links: "), message
    for fragment in (*named, "Operation not permitted", "every snapshot shares",
                     "through hard links", "ext4", "btrfs", "xfs",
                     "`sudo mkfs.ext4 -L backup /dev/sdX1`", "this erases it"):
        assert fragment in message, (fragment, message)


def _probe_leftovers(folder: Path) -> List[str]:
    return [name for name in os.listdir(folder) if name.startswith(PROBE_PREFIX)]


# ------------------------------------------------------------------ file systems without hard links


def test_exfat_through_exfat_fuse(disks, tmp_path):
    stick = disks.exfat(tmp_path / "stick")
    (stick / "backups").mkdir()
    loop = disks.loops[-1]

    assert _mountinfo_type(stick) == "fuseblk"  # exfat-fuse gives no subtype
    for path in (stick, stick / "backups"):
        found = filesystem_of(str(path))
        assert (found.fstype, found.mount_point, found.source) == ("exfat", str(stick), loop), found
        assert (found.mount_type, found.format, found.label) == ("fuseblk", "exFAT", "exfat (exFAT)")
        assert found.fuse

    assert try_hard_link(str(stick)) == "Operation not permitted"
    message = hard_link_problem(str(stick / "backups"))
    _assert_no_hard_links_message(message, stick / "backups", f"exfat (exFAT), {loop} mounted at {stick}",
                                  "exFAT also keeps no owners, permissions or symlinks")
    assert sorted(os.listdir(stick)) == ["backups"] and os.listdir(stick / "backups") == []


def test_fat32_through_the_kernel_vfat_driver(disks, tmp_path):
    stick = disks.vfat(tmp_path / "stick")

    assert _mountinfo_type(stick) == "vfat"
    found = filesystem_of(str(stick))
    assert (found.fstype, found.mount_point, found.format, found.label) == (
        "vfat", str(stick), "FAT32", "vfat (FAT32)"), found
    assert not found.fuse

    _assert_no_hard_links_message(hard_link_problem(str(stick)), stick, "vfat (FAT32), /dev/loop",
                                  "FAT32 also keeps no owners")
    assert _probe_leftovers(stick) == []


def test_fat32_through_fusefat(disks, tmp_path):
    stick = disks.fusefat(tmp_path / "stick")

    assert _mountinfo_type(stick) == "fuse.fusefat"
    found = filesystem_of(str(stick))
    assert (found.fstype, found.mount_point, found.source, found.label) == (
        "fusefat", str(stick), "fusefat", "fusefat (FAT)"), found

    _assert_no_hard_links_message(hard_link_problem(str(stick)), stick,
                                  f"fusefat (FAT), fusefat mounted at {stick}")
    assert os.listdir(stick) == []


# ------------------------------------------------------------------ file systems with hard links


def test_ext4_and_a_bind_mount_of_a_folder_on_it(disks, tmp_path):
    disk = disks.ext4(tmp_path / "disk")
    (disk / "backups").mkdir()
    (tmp_path / "bound").mkdir()
    bound = disks.mounts.bind(disk / "backups", tmp_path / "bound")  # tmp_path is on another fs

    assert _mountinfo_type(disk) == "ext4"
    found = filesystem_of(str(disk / "backups"))
    assert (found.fstype, found.mount_point, found.label) == ("ext4", str(disk), "ext4"), found
    assert found.source.startswith("/dev/loop")
    on_bind = filesystem_of(str(bound))
    assert (on_bind.fstype, on_bind.mount_point, on_bind.source) == ("ext4", str(bound), found.source)

    for folder in (disk, bound):
        assert try_hard_link(str(folder)) is None
        assert hard_link_problem(str(folder)) is None
        assert _probe_leftovers(folder) == []
    assert sorted(os.listdir(disk)) == ["backups", "lost+found"] and os.listdir(bound) == []


def test_btrfs_is_found_by_path_as_its_files_have_devices_mountinfo_does_not_show(disks, tmp_path):
    disk = disks.btrfs(tmp_path / "disk")
    _run(["btrfs", "subvolume", "create", str(disk / "backups")])
    assert os.stat(disk / "backups").st_dev != os.stat(disk).st_dev

    for path in (disk, disk / "backups"):
        found = filesystem_of(str(path))
        assert (found.fstype, found.mount_point) == ("btrfs", str(disk)), found
        assert hard_link_problem(str(path)) is None
    assert sorted(os.listdir(disk)) == ["backups"] and os.listdir(disk / "backups") == []


def test_tmpfs(mounts, tmp_path):
    folder = mounts.tmpfs(tmp_path)

    found = filesystem_of(str(folder))
    assert (found.fstype, found.mount_point, found.source) == ("tmpfs", str(folder), "tmpfs")
    assert hard_link_problem(str(folder)) is None
    assert os.listdir(folder) == []


# ------------------------------------------------------------------ other errors are not "no hard links"


def test_a_read_only_disk_is_not_reported_as_lacking_hard_links(disks, tmp_path):
    disk = disks.ext4(tmp_path / "disk")
    _run(["mount", "-o", "remount,ro", str(disk)])

    with pytest.raises(OSError) as raised:
        try_hard_link(str(disk))
    assert raised.value.strerror == "Read-only file system"
    assert hard_link_problem(str(disk)) is None


def test_a_full_disk_is_not_reported_as_lacking_hard_links(mounts, tmp_path):
    folder = tmp_path / "full"
    folder.mkdir()
    mounts.tmpfs(folder, size="4m", nr_inodes=64)
    fill_disk(folder, "inodes")

    with pytest.raises(OSError) as raised:
        try_hard_link(str(folder))
    assert raised.value.strerror == "No space left on device"
    assert hard_link_problem(str(folder)) is None


@needs_root("runs the test as user nobody")
def test_a_folder_the_user_cannot_write_is_not_reported_as_lacking_hard_links(tmp_path):
    python, env = python_for_nobody()
    if python is None:
        pytest.skip("no python that user nobody can run with vhpi's dependencies")
    folder = tmp_path / "root-only"
    folder.mkdir(mode=0o755)
    os.chmod(tmp_path, 0o755)
    script = ("import sys\nfrom vhpi.act.filesystem import hard_link_problem, try_hard_link\n"
              "print(hard_link_problem(sys.argv[1]))\n"
              "try:\n    try_hard_link(sys.argv[1])\nexcept OSError as error:\n    print(error.strerror)\n")
    done = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                           python, "-c", script, str(folder)], env=dict(os.environ, **env),
                          cwd="/", capture_output=True, text=True, timeout=60)

    assert (done.returncode, done.stdout, done.stderr) == (0, "None\nPermission denied\n", "")


# ------------------------------------------------------------------ vhpi check


def _dest_on(world, make) -> None:
    """Put the world's destination on a fresh file system made by `make(folder)`, marked."""
    bare_mountpoint(world.dest)
    make(world.dest)
    (world.dest / ".backup_destination").write_text("")


def _private(folder) -> None:
    """Make the destination 0700, as a run does (`vhpi check` FAILs one others can enter);
    FAT keeps no modes: there it stays what the mount says."""
    try:
        os.chmod(folder, 0o700)
    except OSError:
        pass


@pytest.mark.parametrize("kind, named", [
    ("exfat", "exfat (exFAT), /dev/loop"),
    ("fusefat", "fusefat (FAT), fusefat mounted at "),  # its statvfs says 0 bytes: free space FAILs too
])
def test_check_fails_at_once_on_a_stick_without_hard_links(world, disks, kind, named):
    _dest_on(world, lambda folder: getattr(disks, kind)(folder, size="256m"))  # room enough
    _private(world.dest)

    result = vhpi(world, "check", code=1)

    found = checks(result)
    job = by_what(found)
    assert list(job) == ["host", "source", "source file system", "destination", "destination mode",
                         "hard links", "free space"], job
    status, detail = job["hard links"]
    assert status == "FAIL"
    _assert_no_hard_links_message(detail, world.dest, named)
    assert f"FAIL  job dest: hard links: destination {world.dest} is on a file system that " \
           f"cannot make hard links: {named}" in result.stdout
    # FAT keeps no modes: its folders show the mount's (0755 here), so others can enter
    others = [(status, what) for status, _, what, _ in found
              if what not in ("hard links", "destination mode") and (kind, what) != ("fusefat", "free space")]
    assert {status for status, _ in others} <= {"ok", "note"}, result.stdout
    assert job["destination"][0] == "ok"
    assert os.listdir(world.dest) == [".backup_destination"], "check leaves nothing behind"


def test_check_passes_on_an_ext4_disk(world, disks):
    _dest_on(world, lambda folder: disks.ext4(folder, size="256m"))
    _private(world.dest)

    result = vhpi(world, "check", code=0)

    job = by_what(checks(result))
    assert list(job) == ["host", "source", "source file system", "destination", "destination mode",
                         "hard links", "free space"], job
    assert job["hard links"] == ("ok", "hard links work (ext4)")
    assert sorted(os.listdir(world.dest)) == [".backup_destination", "lost+found"]


def test_check_passes_on_the_usual_destination(world):
    _private(world.dest)
    result = vhpi(world, "check", code=0)

    status, detail = by_what(checks(result))["hard links"]
    assert status == "ok" and detail.startswith("hard links work ("), detail
    assert detail == f"hard links work ({filesystem_of(str(world.dest)).label})"
    assert os.listdir(world.dest) == [".backup_destination"]


def test_check_notes_when_it_cannot_even_try_a_hard_link(world, mounts):
    _dest_on(world, lambda folder: mounts.tmpfs(folder, size="1g", nr_inodes=64))
    fill_disk(world.dest, "inodes")

    result = vhpi(world, "check", code=1)

    job = by_what(checks(result))
    assert job["hard links"] == ("note", f"could not try a hard link in {world.dest} (No space left "
                                         f"on device); a run needs them for every snapshot")
    assert job["free space"][0] == "FAIL", "the full disk itself is what fails"


# ------------------------------------------------------------------ the backup run


@pytest.mark.parametrize("kind, named", [("exfat", "exfat (exFAT), /dev/loop"),
                                         ("fusefat", "fusefat (FAT), fusefat mounted at ")])
def test_the_run_refuses_a_stick_without_hard_links_before_copying(world, disks, kind, named,
                                                                   campaign):
    """Without the check, every run mirrored the whole source onto the stick and failed at
    the first snapshot ("cp: cannot create hard link"), for ever."""
    _dest_on(world, lambda folder: getattr(disks, kind)(folder, size="256m"))
    (world.source / "photo.jpg").write_bytes(b"x" * 4096)

    result = vhpi(world, code=1)
    campaign.add("no-hard-link cases")

    line = [entry for entry in world.info_log.splitlines() if "job dest:" in entry][-1]
    prefix = "FAILED: due hourly, daily; "
    assert prefix in line, line
    _assert_no_hard_links_message(line.split(prefix, 1)[1], world.dest, named)
    assert "cannot make hard links" in result.stderr and "Traceback" not in result.stderr
    assert sorted(os.listdir(world.dest)) == [".backup_destination", ".vhpi"], "nothing was copied"
    assert os.listdir(world.dest / ".vhpi" / "work") == [], "the probe leaves nothing behind"
