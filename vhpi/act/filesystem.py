"""Which file system is a path on, and can it make hard links?

Every snapshot shares the files that did not change with the other snapshots through hard
links (`cp -al`). exFAT and FAT, what most USB sticks come formatted with, have none: a run
would mirror everything into backup.latest and then fail at the first snapshot ("cp: cannot
create hard link ... Operation not permitted"), on every run. So `vhpi check` and the run
try one real hard link in the destination before anything is copied, and when it is
refused they say which file system it is and what to use instead.

What /proc/self/mountinfo shows for the file systems such sticks come with (field 9, the
type; field 3, the device that st_dev of every file on it equals):

    mount.exfat-fuse /dev/sda1 /mnt   "fuseblk", source /dev/sda1, no subtype at all (so
                                      only the device itself says exFAT); st_dev = the
                                      block device's major:minor
    kernel exfat driver               "exfat"
    kernel vfat driver                "vfat" ("msdos" for the old 8.3-name driver)
    fusefat                           "fuse.fusefat", source "fusefat", an anonymous 0:N
    ext4                              "ext4"; btrfs "btrfs", but st_dev of its files is an
                                      anonymous per-subvolume device that mountinfo never
                                      shows (so the mount is then found by its path)

exFAT and FAT give EPERM for link(2), whichever driver (kernel or FUSE).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from typing import List, Optional

from vhpi.act.layout import LINK_PROBE

MOUNTINFO = "/proc/self/mountinfo"
#: udev's record of each block device ("E:ID_FS_TYPE=exfat"), readable without root.
UDEV_DATA = "/run/udev/data"
#: Names the hard-link probe files get in the folder tried (names starting with a dot are
#: never snapshots).
PROBE_PREFIX = LINK_PROBE

#: link(2) errors that mean "this file system makes no hard links" (EMLINK only on the
#: probe's first link: a file with one name cannot be at any real limit).
NO_LINK_ERRORS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK})

#: The on-disk format each kernel type is, for types named differently from their format.
KERNEL_FORMATS = {"exfat": "exFAT", "vfat": "FAT", "msdos": "FAT", "fat": "FAT",
                  "ntfs": "NTFS", "ntfs3": "NTFS"}
#: The on-disk format behind FUSE subtypes (`fuse.fusefat`) that say their driver only.
FUSE_FORMATS = {"fusefat": "FAT", "exfat": "exFAT", "exfat-fuse": "exFAT", "ntfs-3g": "NTFS",
                "ntfs": "NTFS"}
#: The type name to report for a plain "fuseblk" whose device's format was found.
FORMAT_TYPES = {"exFAT": "exfat", "FAT32": "vfat", "FAT16": "vfat", "FAT12": "vfat",
                "FAT": "vfat", "NTFS": "ntfs"}
#: Formats of the FAT family, which keep no owners, permissions or symlinks either.
FAT_FAMILY = frozenset({"exFAT", "FAT", "FAT12", "FAT16", "FAT32"})


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo, its escapes (\\040 for a space) decoded."""

    device: str        # "major:minor", as st_dev of the files on it
    mount_point: str
    mount_type: str    # "ext4", "fuseblk", "fuse.fusefat"
    source: str        # "/dev/sda1", "tmpfs", "fusefat"


@dataclass(frozen=True)
class FileSystem:
    """The file system a path is on.

    `fstype` is the type a user knows it by: mountinfo's type ("ext4", "vfat", "exfat"),
    for a FUSE mount its subtype ("fuse.fusefat" gives "fusefat"), and for a plain
    "fuseblk" (exfat-fuse, ntfs-3g) the format found on its device ("exfat", "ntfs") when
    udev or the device itself says, else "fuseblk". `mount_type` is the type exactly as
    mountinfo shows it; `format` the on-disk format when known ("exFAT", "FAT32", "FAT",
    "NTFS"), else ""."""

    fstype: str
    mount_point: str
    source: str
    mount_type: str
    format: str = ""

    @property
    def label(self) -> str:
        """Return e.g. "ext4", "exfat (exFAT)", "vfat (FAT32)", "fusefat (FAT)"."""
        return f"{self.fstype} ({self.format})" if self.format else self.fstype

    @property
    def fuse(self) -> bool:
        """True for a file system served by a FUSE program (exfat-fuse, ntfs-3g, sshfs)."""
        return self.mount_type.split(".")[0] in ("fuse", "fuseblk")


# ---------------------------------------------------------------- mountinfo


def unescape(field: bytes) -> str:
    """Given a mountinfo field (bytes, with the kernel's octal escapes \\040 \\011 \\012
    \\134), return it as a str as os.fsdecode would give the real path."""
    return os.fsdecode(re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field))


def parse_mountinfo_line(line: bytes) -> Optional[MountEntry]:
    """Given one mountinfo line (bytes), return its MountEntry, or None when it is not one
    (fields: id parent major:minor root mount-point options [optional...] - type source ...)."""
    fields = line.split()
    try:
        dash = fields.index(b"-", 6)
        mount_type, source = fields[dash + 1], fields[dash + 2]
    except (ValueError, IndexError):
        return None
    return MountEntry(device=fields[2].decode("ascii", "replace"), mount_point=unescape(fields[4]),
                      mount_type=unescape(mount_type), source=unescape(source))


def read_mountinfo(path: Optional[str] = None) -> Optional[List[MountEntry]]:
    """Given the mountinfo file to read (default MOUNTINFO), return its entries in its order
    (later mounts after the ones they may cover), or None when it cannot be read (no /proc)."""
    try:
        with open(path or MOUNTINFO, "rb") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    return [entry for entry in map(parse_mountinfo_line, lines) if entry is not None]


def _is_under(path: str, mount_point: str) -> bool:
    return mount_point == "/" or path == mount_point or path.startswith(mount_point.rstrip("/") + "/")


def mount_entry_of(path: str, entries: List[MountEntry]) -> Optional[MountEntry]:
    """Given an existing path and the mountinfo entries, return the entry of the mount that
    holds it, or None. Among the entries whose device is the path's st_dev (bind mounts
    share one), the one with the longest mount point above the path's real path, the last
    of equals (it covers the others); when no entry has that device (btrfs gives its files
    per-subvolume devices that mountinfo never shows), the same rule over all entries."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    real = os.path.realpath(path)
    device = f"{os.major(info.st_dev)}:{os.minor(info.st_dev)}"
    same_device = [entry for entry in entries if entry.device == device]
    above = [entry for entry in same_device or entries if _is_under(real, entry.mount_point)]
    if above:
        return max(reversed(above), key=lambda entry: len(entry.mount_point))
    return same_device[-1] if same_device else None


# ---------------------------------------------------------------- what is on a device


def format_signature(sector: bytes) -> str:
    """Given the first bytes (512 or more) of a block device, return the format its boot
    sector says: "exFAT", "NTFS", "FAT32", "FAT16", "FAT12", or "" when none of these."""
    if sector[3:11] == b"EXFAT   ":
        return "exFAT"
    if sector[3:11] == b"NTFS    ":
        return "NTFS"
    if sector[82:90] == b"FAT32   ":
        return "FAT32"
    if sector[54:62] in (b"FAT16   ", b"FAT12   "):
        return sector[54:59].decode("ascii")
    return ""


def _udev_format(device: str) -> str:
    """Given "major:minor", return udev's word for the format of that block device ("exFAT",
    "FAT32", "NTFS"), or "" when udev has no record (no udev, or not a block device)."""
    try:
        with open(os.path.join(UDEV_DATA, f"b{device}"), encoding="utf-8", errors="replace") as handle:
            found = dict(line[2:].rstrip("\n").split("=", 1) for line in handle
                         if line.startswith("E:") and "=" in line)
    except OSError:
        return ""
    kind, version = found.get("ID_FS_TYPE", ""), found.get("ID_FS_VERSION", "")
    if kind in ("vfat", "msdos"):
        return version if version in ("FAT12", "FAT16", "FAT32") else "FAT"
    return {"exfat": "exFAT", "ntfs": "NTFS"}.get(kind, "")


def device_format(entry: MountEntry) -> str:
    """Given a block-device mount, return the format that udev or the device's boot sector
    says ("exFAT", "FAT32", "NTFS", ...), or "" when neither can be read (reading the device
    needs root or the disk group). Costs one small file read or one 4 KiB device read."""
    found = _udev_format(entry.device)
    if found or not entry.source.startswith("/dev/"):
        return found
    try:
        if not stat.S_ISBLK(os.stat(entry.source).st_mode):
            return ""
        with open(entry.source, "rb") as handle:
            return format_signature(handle.read(4096))
    except OSError:
        return ""


def describe_mount(entry: MountEntry) -> FileSystem:
    """Given a mountinfo entry, return the FileSystem a user would recognise (see there)."""
    kind = entry.mount_type
    if kind.startswith("fuse.") or kind.startswith("fuseblk."):
        subtype = kind.split(".", 1)[1]
        return FileSystem(subtype, entry.mount_point, entry.source, kind, FUSE_FORMATS.get(subtype, ""))
    if kind == "fuseblk":
        found = device_format(entry)
        return FileSystem(FORMAT_TYPES.get(found, kind), entry.mount_point, entry.source, kind, found)
    found = KERNEL_FORMATS.get(kind, "")
    if found == "FAT":
        found = device_format(entry) or found
    return FileSystem(kind, entry.mount_point, entry.source, kind, found)


def filesystem_of(path: str) -> Optional[FileSystem]:
    """Given a path, return the FileSystem it is on (type, mount point, source), read from
    /proc/self/mountinfo; None when that cannot be read or the path does not exist. Costs
    one read of mountinfo, and for FAT and plain fuseblk mounts one udev record or one
    4 KiB read of the device."""
    entries = read_mountinfo()
    if entries is None:
        return None
    entry = mount_entry_of(path, entries)
    return describe_mount(entry) if entry is not None else None


# ---------------------------------------------------------------- hard links


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def try_hard_link(folder: str) -> Optional[str]:
    """Given a folder, really try a hard link there: make an empty, uniquely named file
    (`.vhpi-link-test.*`), link a second name to it, check that both names are one inode
    with 2 links, and remove both names (always, also on errors).

    Returns None when hard links work, or why they do not ("Operation not permitted") when
    the link is refused with EPERM, EOPNOTSUPP/ENOTSUP, ENOSYS or EMLINK (all mean "no hard
    links" on a file that has just one name), or when the second name turns out to be
    another file. Raises OSError when it could not try: the file cannot be made (read-only,
    full, no permission) or the link fails for another reason (EIO, ENOSPC, ...)."""
    handle, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=folder)
    os.close(handle)
    link = probe + ".link"
    try:
        try:
            os.link(probe, link)
        except OSError as error:
            if error.errno in NO_LINK_ERRORS:
                return error.strerror or errno.errorcode.get(error.errno, str(error.errno))
            raise
        first, second = os.lstat(probe), os.lstat(link)
        if (first.st_dev, first.st_ino) != (second.st_dev, second.st_ino) or first.st_nlink != 2:
            return "the link made another file, not a second name for the same one"
        return None
    finally:
        try:
            _remove(link)
        finally:
            _remove(probe)


def no_hard_links_message(folder: str, reason: str, found: Optional[FileSystem]) -> str:
    """Given the destination, why a test link failed (from try_hard_link) and its file
    system (or None when unknown), return the one-line message that says so and what to do."""
    where = (f": {found.label}, {found.source} mounted at {found.mount_point}" if found else "")
    family = (f" {found.format} also keeps no owners, permissions or symlinks."
              if found and found.format in FAT_FAMILY else "")
    return (f"destination {folder} is on a file system that cannot make hard links{where}; "
            f"a test hard link failed ({reason}). vhpi needs hard links: every snapshot shares "
            f"the files that did not change with the other snapshots through hard links, so "
            f"the first snapshot would fail, on every run.{family} Reformat the disk as ext4 "
            f"— or use btrfs or xfs —, e.g. `sudo mkfs.ext4 -L backup /dev/sdX1` (this erases "
            f"it), then make the destination folder and its .backup_destination mark again.")


def hard_link_problem(folder: str, probe_in: Optional[str] = None) -> Optional[str]:
    """Given a destination folder, return the message saying its file system cannot make
    hard links (naming the file system and what to use instead), or None when hard links
    work there. Also None when the test could not be made at all (read-only, full disk,
    no permission: not a lack of hard links, and the run fails on those with their own
    message). Writes and removes two names of one empty file in `probe_in` (default:
    `folder`; the run passes its work folder, whose leftovers the next run clears, see
    vhpi.act.snapshots.discard_unfinished) (see try_hard_link); costs a handful of system
    calls, plus filesystem_of when it fails."""
    try:
        reason = try_hard_link(probe_in or folder)
    except OSError:
        return None
    if reason is None:
        return None
    return no_hard_links_message(folder, reason, filesystem_of(folder))
