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
import stat
import tempfile
from typing import List, Optional

from vhpi.act.layout import LINK_PROBE
from vhpi.decide.filesystems import (FORMAT_TYPES, FUSE_FORMATS, KERNEL_FORMATS, FileSystem, MountEntry,
                                     format_signature, no_hard_links_message,
                                     parse_mountinfo_line)

MOUNTINFO = "/proc/self/mountinfo"
#: udev's record of each block device ("E:ID_FS_TYPE=exfat"), readable without root.
UDEV_DATA = "/run/udev/data"
#: Names the hard-link probe files get in the folder tried (names starting with a dot are
#: never snapshots).
PROBE_PREFIX = LINK_PROBE

#: link(2) errors that mean "this file system makes no hard links" (EMLINK only on the
#: probe's first link: a file with one name cannot be at any real limit).
NO_LINK_ERRORS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK})


# ---------------------------------------------------------------- mountinfo


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
    above = _innermost_above(real, same_device or entries)
    if above is not None:
        return above
    return same_device[-1] if same_device else None


def _innermost_above(real: str, entries: List[MountEntry]) -> Optional[MountEntry]:
    """Given a real path and mountinfo entries, return the entry with the longest mount
    point above it, the last of equals (it covers the others), or None."""
    above = [entry for entry in entries if _is_under(real, entry.mount_point)]
    return max(reversed(above), key=lambda entry: len(entry.mount_point)) if above else None


def filesystem_above(real_path: str) -> Optional[FileSystem]:
    """Given an already resolved real path (of a share that may hang: resolve it in a
    child, see vhpi.act.source), return the FileSystem mounted at the longest mount point
    above it, read from /proc/self/mountinfo without touching the path itself; None when
    mountinfo cannot be read."""
    entries = read_mountinfo()
    entry = _innermost_above(real_path, entries) if entries is not None else None
    return describe_mount(entry) if entry is not None else None


def mount_point(path: str) -> str:
    """Return the mount point of the file system holding `path` (st_dev changes above it)."""
    path = os.path.realpath(path)
    device = os.stat(path).st_dev
    while path != "/":
        parent = os.path.dirname(path)
        if os.stat(parent).st_dev != device:
            return path
        path = parent
    return "/"


def space_of(path: str) -> os.statvfs_result:
    """Return statvfs of the file system holding `path` (free space and inodes)."""
    return os.statvfs(path)


# ---------------------------------------------------------------- what is on a device


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
