"""vhpi.act.filesystem without mounts: reading mountinfo lines, picking the mount of a path,
telling formats by their boot sectors (of images that mkfs really made), and which link(2)
errors mean "no hard links". The real exFAT / FAT / ext4 disks are in
tests/fault/test_no_hard_links.py."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from vhpi.act import filesystem
from vhpi.act.filesystem import (PROBE_PREFIX, describe_mount, filesystem_of, hard_link_problem,
                                 mount_entry_of, read_mountinfo, try_hard_link)
from vhpi.decide.filesystems import (FileSystem, MountEntry, format_signature, no_hard_links_message,
                                     parse_mountinfo_line, unescape)


def test_a_mountinfo_line_with_optional_fields_and_escapes():
    line = (rb"44 27 7:1 / /media/pi/MY\040STICK rw,nosuid,nodev,relatime shared:1 master:2 - "
            rb"fuseblk /dev/sda1 rw,user_id=0,group_id=0,default_permissions,allow_other,blksize=4096")
    assert parse_mountinfo_line(line) == MountEntry("7:1", "/media/pi/MY STICK", "fuseblk", "/dev/sda1")
    assert parse_mountinfo_line(b"42 27 0:39 / /tmp/fat rw - fuse.fusefat fusefat rw") == \
        MountEntry("0:39", "/tmp/fat", "fuse.fusefat", "fusefat")
    assert parse_mountinfo_line(b"garbage") is None
    assert parse_mountinfo_line(b"") is None


def test_unescape_keeps_utf8_and_decodes_octal():
    assert unescape("/mnt/Sauvegarde\\040été\\011x\\134y".encode()) == "/mnt/Sauvegarde été\tx\\y"


def test_this_machines_mountinfo_is_read():
    entries = read_mountinfo()
    if entries is None:
        pytest.skip("no /proc/self/mountinfo here")
    assert any(entry.mount_point == "/" for entry in entries)
    assert read_mountinfo("/nonexistent/mountinfo") is None


def test_without_mountinfo_filesystem_of_is_none(monkeypatch, tmp_path):
    monkeypatch.setattr(filesystem, "MOUNTINFO", str(tmp_path / "missing"))
    assert filesystem_of(str(tmp_path)) is None


def test_a_missing_path_has_no_file_system(tmp_path):
    assert filesystem_of(str(tmp_path / "missing")) is None


def _device(path: Path) -> str:
    info = os.stat(path)
    return f"{os.major(info.st_dev)}:{os.minor(info.st_dev)}"


def test_the_mount_is_picked_by_device_then_by_the_longest_mount_point(tmp_path):
    here = _device(tmp_path)
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    other = "1:1" if here != "1:1" else "1:2"
    root = MountEntry(other, "/", "ext4", "/dev/vda")
    disk = MountEntry(here, str(tmp_path), "ext4", "/dev/sda1")
    bind = MountEntry(here, str(tmp_path / "a"), "ext4", "/dev/sda1")
    covered = MountEntry("0:99", str(tmp_path / "a"), "tmpfs", "tmpfs")  # another device
    elsewhere = MountEntry(here, "/somewhere/else", "ext4", "/dev/sda1")

    assert mount_entry_of(str(inner), [root, disk, covered, bind]) == bind
    assert mount_entry_of(str(tmp_path), [root, disk, bind]) == disk
    on_top = MountEntry(here, str(tmp_path), "ext4", "/dev/sdb1")
    assert mount_entry_of(str(tmp_path), [disk, on_top]) == on_top, "the later mount covers the earlier"
    # no entry of this device (btrfs): the longest mount point above the path, whatever device
    assert mount_entry_of(str(inner), [root, covered]) == covered
    assert mount_entry_of(str(inner), [root]) == root
    # the device matches, but no mount point of it is above the path
    assert mount_entry_of(str(inner), [root, elsewhere]) == elsewhere
    assert mount_entry_of(str(tmp_path / "missing"), [root]) is None


def test_a_symlinked_path_is_found_by_its_real_path(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    disk = MountEntry(_device(tmp_path), str(tmp_path / "real"), "ext4", "/dev/sda1")
    root = MountEntry("1:1" if disk.device != "1:1" else "1:2", "/", "ext4", "/dev/vda")
    parent = MountEntry(disk.device, str(tmp_path), "ext4", "/dev/sda1")
    assert mount_entry_of(str(tmp_path / "link"), [root, parent, disk]) == disk


def _made_by(tmp_path: Path, program: str, package: str, *options: str) -> bytes:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (Debian package {package})")
    image = tmp_path / "image"
    with open(image, "wb") as handle:
        handle.truncate(64 << 20)
    subprocess.run([program, *options, str(image)], check=True, capture_output=True)
    with open(image, "rb") as handle:
        return handle.read(4096)


def test_format_signatures_of_real_images(tmp_path):
    assert format_signature(_made_by(tmp_path, "mkfs.exfat", "exfatprogs")) == "exFAT"


@pytest.mark.parametrize("bits", ["12", "16", "32"])
def test_fat_signatures_of_real_images(tmp_path, bits):
    sector = _made_by(tmp_path, "mkfs.fat", "dosfstools", "-F", bits)
    assert format_signature(sector) == f"FAT{bits}"


def test_other_boot_sectors_have_no_signature(tmp_path):
    assert format_signature(_made_by(tmp_path, "mkfs.ext4", "e2fsprogs", "-q", "-F")) == ""
    assert format_signature(b"") == ""
    assert format_signature(b"\xebR\x90NTFS    " + bytes(500)) == "NTFS"


def test_what_each_mount_type_is_called(monkeypatch, tmp_path):
    monkeypatch.setattr(filesystem, "UDEV_DATA", str(tmp_path))  # no udev records
    def seen(kind, source="/nonexistent/dev/sda1", device="8:1"):
        return describe_mount(MountEntry(device, "/mnt", kind, source))

    assert seen("ext4") == FileSystem("ext4", "/mnt", "/nonexistent/dev/sda1", "ext4", "")
    assert seen("exfat").label == "exfat (exFAT)"
    assert seen("vfat").label == "vfat (FAT)", "the device cannot be read: plain FAT"
    assert seen("fuse.fusefat", "fusefat").label == "fusefat (FAT)"
    assert seen("fuse.sshfs", "pi@nas:").label == "sshfs" and seen("fuse.sshfs").fuse
    unknown = seen("fuseblk")
    assert (unknown.fstype, unknown.format, unknown.fuse) == ("fuseblk", "", True)
    assert not seen("ext4").fuse


def test_udev_names_a_fuseblk_device_without_reading_it(monkeypatch, tmp_path):
    monkeypatch.setattr(filesystem, "UDEV_DATA", str(tmp_path))
    (tmp_path / "b8:1").write_text("S:disk/by-label/STICK\nE:ID_FS_TYPE=exfat\nE:ID_FS_VERSION=1.0\n")
    (tmp_path / "b8:2").write_text("E:ID_FS_TYPE=vfat\nE:ID_FS_VERSION=FAT32\n")
    (tmp_path / "b8:3").write_text("E:ID_FS_TYPE=ntfs\n")

    found = describe_mount(MountEntry("8:1", "/mnt", "fuseblk", "/nonexistent/sda1"))
    assert (found.fstype, found.format, found.label) == ("exfat", "exFAT", "exfat (exFAT)")
    assert describe_mount(MountEntry("8:2", "/mnt", "vfat", "/dev/sda2")).label == "vfat (FAT32)"
    assert describe_mount(MountEntry("8:3", "/mnt", "fuseblk", "/dev/sda3")).label == "ntfs (NTFS)"


# ------------------------------------------------------------------ the hard-link test


def _leftovers(folder: Path) -> list:
    return [name for name in os.listdir(folder) if name.startswith(PROBE_PREFIX)]


def test_hard_links_work_here_and_nothing_is_left(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    assert try_hard_link(str(tmp_path)) is None
    assert hard_link_problem(str(tmp_path)) is None
    assert os.listdir(tmp_path) == ["keep.txt"]


def _refusing(number: int):
    def link(source, target, *args, **kwargs):
        raise OSError(number, os.strerror(number), source, None, target)
    return link


@pytest.mark.parametrize("number", [errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS,
                                    errno.EMLINK])
def test_these_link_errors_mean_no_hard_links(monkeypatch, tmp_path, number):
    monkeypatch.setattr(filesystem.os, "link", _refusing(number))
    assert try_hard_link(str(tmp_path)) == os.strerror(number)
    message = hard_link_problem(str(tmp_path))
    assert message.startswith(f"destination {tmp_path} is on a file system that cannot make hard links")
    assert f"a test hard link failed ({os.strerror(number)})" in message
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("number", [errno.EACCES, errno.EROFS, errno.ENOSPC, errno.EIO, errno.EDQUOT])
def test_other_link_errors_are_not_called_a_lack_of_hard_links(monkeypatch, tmp_path, number):
    monkeypatch.setattr(filesystem.os, "link", _refusing(number))
    with pytest.raises(OSError) as raised:
        try_hard_link(str(tmp_path))
    assert raised.value.errno == number
    assert hard_link_problem(str(tmp_path)) is None
    assert _leftovers(tmp_path) == []


def test_a_link_that_makes_a_copy_is_no_hard_link(monkeypatch, tmp_path):
    monkeypatch.setattr(filesystem.os, "link", shutil.copyfile)
    assert try_hard_link(str(tmp_path)) == "the link made another file, not a second name for the same one"
    assert _leftovers(tmp_path) == []


def test_when_the_probe_file_cannot_be_made_it_says_so_by_raising(tmp_path):
    with pytest.raises(FileNotFoundError):
        try_hard_link(str(tmp_path / "missing"))
    assert hard_link_problem(str(tmp_path / "missing")) is None


def test_the_message_names_the_file_system_and_what_to_use():
    stick = FileSystem("exfat", "/media/pi/STICK", "/dev/sda1", "fuseblk", "exFAT")
    message = no_hard_links_message("/media/pi/STICK/backup", "Operation not permitted", stick)
    assert message == (
        "destination /media/pi/STICK/backup is on a file system that cannot make hard links: "
        "exfat (exFAT), /dev/sda1 mounted at /media/pi/STICK; a test hard link failed (Operation "
        "not permitted). vhpi needs hard links: every snapshot shares the files that did not "
        "change with the other snapshots through hard links, so the first snapshot would fail, "
        "on every run. exFAT also keeps no owners, permissions or symlinks. Reformat the disk as "
        "ext4 — or use btrfs or xfs —, e.g. `sudo mkfs.ext4 -L backup /dev/sdX1` (this erases "
        "it), then make the destination folder and its .backup_destination mark again.")
    unknown = no_hard_links_message("/mnt/x", "Operation not permitted", None)
    assert unknown.startswith("destination /mnt/x is on a file system that cannot make hard links; a test")
    assert "also keeps no owners" not in unknown
