"""Pure facts about file systems for vhpi.act.filesystem: reading mountinfo lines, telling a
device's format by its boot sector, naming a file system as a user knows it, and the words
for a destination that cannot make hard links."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional

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
