"""The disk side of `vhpi versions JOB PATH` (the decisions are vhpi.decide.versions): what
each of a job's snapshots holds at PATH, one lookup per snapshot.

For a file or symlink that is: open the snapshot folder (O_NOFOLLOW), resolve PATH in it as
`vhpi restore` does (vhpi.decide.restore_plan.resolve_in_snapshot with
vhpi.act.restore_files.look: a symlinked parent folder is followed only while it stays
inside the snapshot) and lstat the item: a handful of system calls per snapshot, whatever
the size of the tree. Only two files of different inodes whose size, mtime, mode and
owners match are read, to compare their content and extended attributes. A folder is
walked (vhpi.act.fd_walk: no recursion, O_NOFOLLOW at every level) once per snapshot for
its digest; each folder version is walked once more to count and measure its files.

The snapshots are only read. A backup run may rotate them meanwhile (hourly.0 becomes
hourly.1): every snapshot folder's (device, inode) is noted when it is opened and checked
again once all are looked at; when a name now means another folder, the lookup starts
again (at most ATTEMPTS times).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from vhpi.act.fd_walk import DIR_FLAGS, Entry, OpenPath, join, walk_tree
from vhpi.act.inventory import list_snapshots
from vhpi.act.restore_files import look as look_in_snapshot
from vhpi.config.model import Job
from vhpi.decide.restore_plan import RestoreRefused, resolve_in_snapshot
from vhpi.decide.selection import Snapshot
from vhpi.decide.tree_compare import FILE, FOLDER, SYMLINK, kind_of_mode
from vhpi.decide.versions import (Item, Look, TreeSize, Version, chronological, cheap_facts,
                                  group_versions, tree_record)

#: How many times the lookup starts again when backup runs rotate the snapshots under it.
ATTEMPTS = 3
#: Bytes read at a time when two files' contents are compared.
CHUNK = 1 << 20
_FILE_FLAGS = (os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_CLOEXEC", 0))


@dataclass(frozen=True)
class Found:
    """The versions of PATH in a job: the snapshots looked at (oldest first), what each
    holds, and the distinct versions."""

    looks: Tuple[Look, ...]
    versions: Tuple[Version, ...]


class _Unreadable(Exception):
    """A name in a snapshot could not be looked at (not: it is not there)."""


def find_versions(job: Job, lengths: Dict[str, int], parts: Tuple[str, ...]) -> Found:
    """Given a job, the intervals' lengths and PATH's names (restore_plan.split_restore_path),
    return the Found versions of PATH among the job's snapshots. Raises RestoreRefused when a
    snapshot cannot be read or the snapshots keep being rotated."""
    for _ in range(ATTEMPTS):
        snapshots = chronological(list_snapshots(job, lengths), lengths)
        looks = tuple(look_at(snapshot, parts) for snapshot in snapshots)
        if all(_still(look) for look in looks):
            return Found(looks, tuple(group_versions(looks, same_content)))
    raise RestoreRefused(f"backup runs kept renaming the snapshots of job {job.name} while "
                         f"vhpi looked at them; try again")


def _still(look: Look) -> bool:
    """Return True when the look's snapshot name still means the folder that was looked at."""
    try:
        info = os.lstat(look.snapshot.path)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == look.folder


def look_at(snapshot: Snapshot, parts: Tuple[str, ...]) -> Look:
    """Return what `snapshot` holds at PATH's names `parts`. A snapshot that vanished is a
    Look with folder (0, 0) (caught by the check after the lookup). Raises RestoreRefused
    when it cannot be read."""
    try:
        fd = os.open(snapshot.path, DIR_FLAGS)
    except FileNotFoundError:
        return Look(snapshot, (0, 0))
    except OSError as error:
        raise RestoreRefused(f"cannot open snapshot {snapshot.path}: {error.strerror}")
    try:
        info = os.fstat(fd)
        folder = (info.st_dev, info.st_ino)
        names = _resolved(fd, parts)
        if names is None:
            return Look(snapshot, folder)
        return Look(snapshot, folder, names, _item(fd, names, snapshot))
    finally:
        os.close(fd)


def _resolved(fd: int, parts: Tuple[str, ...]) -> Optional[Tuple[str, ...]]:
    """Return the item's names in the open snapshot (symlinked parents resolved inside it),
    None when PATH is not there (or leads outside it through a symlink). Raises
    RestoreRefused when a name cannot be looked at."""
    def look(names: Tuple[str, ...]):
        try:
            return look_in_snapshot(fd, names)
        except RestoreRefused as refusal:
            raise _Unreadable(str(refusal))
    try:
        return resolve_in_snapshot(parts, look)[0]
    except _Unreadable as trouble:
        raise RestoreRefused(str(trouble))
    except RestoreRefused:
        return None


def _item(fd: int, names: Tuple[str, ...], snapshot: Snapshot) -> Optional[Item]:
    """Return the Item at `names` in the open snapshot (None when it vanished)."""
    path = "/".join(names)
    try:
        info = os.lstat(path, dir_fd=fd)
        kind = kind_of_mode(info.st_mode)
        target = os.readlink(path, dir_fd=fd) if kind == SYMLINK else None
        tree = _tree_digest(fd, names, snapshot) if kind == FOLDER else None
    except FileNotFoundError:
        return None
    except OSError as error:
        raise RestoreRefused(f"cannot read {path!r} in snapshot {snapshot.name}: "
                             f"{error.strerror}")
    return Item(kind, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_mode,
                info.st_uid, info.st_gid, target, tree)


# ---------------------------------------------------------------- folders

def _walk_item(fd: int, names: Tuple[str, ...], problem
               ) -> Iterator[Tuple[OpenPath, bytes, List[Entry]]]:
    """Yield (the walk, the folder's path relative to the item, its listing) for the folder
    `names` in the open snapshot and every folder below it (see fd_walk.walk_tree)."""
    cut = len(os.fsencode("/".join(names))) + 1
    with OpenPath(os.dup(fd)) as walk:
        for name in names:
            walk.down(name)
        for listing in walk_tree(walk, problem=problem):
            yield walk, walk.path[cut:], listing


def _tree_digest(fd: int, names: Tuple[str, ...], snapshot: Snapshot) -> str:
    """Return the digest of what is below the folder `names` in the open snapshot: every
    path with its kind and a file's inode, a symlink's target, a folder's mode and owners; a
    folder that cannot be read counts as such."""
    digest = hashlib.sha256()

    def unreadable(path: bytes, error: OSError) -> None:
        digest.update(tree_record(path, "unreadable", error.errno))

    for walk, here, listing in _walk_item(fd, names, unreadable):
        if here:  # the top folder's own mode and owners are the Item's
            info = os.fstat(walk.fd)
            digest.update(tree_record(here, FOLDER, (stat.S_IMODE(info.st_mode), info.st_uid,
                                                     info.st_gid)))
        for entry in listing:
            if entry.kind == FOLDER:
                continue
            value = (os.readlink(entry.name, dir_fd=walk.fd) if entry.kind == SYMLINK
                     else entry.ino)
            digest.update(tree_record(join(here, entry.name), entry.kind, value))
    return digest.hexdigest()


def measure_folder(look: Look) -> TreeSize:
    """Given a look whose item is a folder, return what it holds (files, folders, symlinks,
    others, the files' total size, the newest mtime of what is not a folder, the folders it
    could not read)."""
    counts = {"files": 0, "folders": 0, "symlinks": 0, "others": 0, "size": 0,
              "newest_mtime_ns": 0, "unreadable": 0}

    def unreadable(path: bytes, error: OSError) -> None:
        counts["unreadable"] += 1

    fd = os.open(look.snapshot.path, DIR_FLAGS)
    try:
        for walk, _, listing in _walk_item(fd, look.names, unreadable):
            _count_folder(walk.fd, listing, counts)
    finally:
        os.close(fd)
    return TreeSize(**counts)


def _count_folder(dir_fd: int, listing: Sequence[Entry], counts: Dict[str, int]) -> None:
    """Add the folder `dir_fd` and the non-folder entries of its listing to `counts`."""
    counts["folders"] += 1
    field = {FILE: "files", SYMLINK: "symlinks"}
    for entry in listing:
        if entry.kind == FOLDER:
            continue
        try:
            entry_info = os.lstat(entry.name, dir_fd=dir_fd)
        except OSError:
            continue
        counts[field.get(entry.kind, "others")] += 1
        counts["newest_mtime_ns"] = max(counts["newest_mtime_ns"], entry_info.st_mtime_ns)
        if entry.kind == FILE:
            counts["size"] += entry_info.st_size


def folder_sizes(versions: Sequence[Version]) -> Dict[int, TreeSize]:
    """Return {version number: TreeSize} for the folder versions, each measured in the
    newest snapshot that holds it."""
    return {version.number: measure_folder(version.newest) for version in versions
            if version.item.kind == FOLDER}


# ---------------------------------------------------------------- content

def same_content(a: Look, b: Look) -> bool:
    """Given two looks at regular files (their cheap facts equal), return True when they
    hold the same bytes and the same extended attributes (ACLs included). False when
    either cannot be read: they are then shown as two versions."""
    if a.item is None or b.item is None or cheap_facts(a.item) != cheap_facts(b.item):
        return False
    try:
        fd_a = _open_file(a)
        try:
            fd_b = _open_file(b)
            try:
                return _same_xattrs(fd_a, fd_b) and _same_bytes(fd_a, fd_b)
            finally:
                os.close(fd_b)
        finally:
            os.close(fd_a)
    except OSError:
        return False


def _open_file(look: Look) -> int:
    """Open the look's file for reading, every folder on the way entered without following
    a symlink; raises OSError, also when it is no longer the inode that was looked at."""
    with OpenPath.open(look.snapshot.path, follow=False) as walk:
        for name in look.names[:-1]:
            walk.down(name)
        fd = os.open(look.names[-1], _FILE_FLAGS, dir_fd=walk.fd)
    info = os.fstat(fd)
    if (info.st_dev, info.st_ino) != (look.item.device, look.item.inode):
        os.close(fd)
        raise FileNotFoundError(look.names[-1])
    return fd


def _xattrs(fd: int) -> Dict[str, bytes]:
    try:
        names = os.listxattr(fd)
    except OSError:
        return {}
    return {name: os.getxattr(fd, name) for name in names}


def _same_xattrs(fd_a: int, fd_b: int) -> bool:
    return _xattrs(fd_a) == _xattrs(fd_b)


def _same_bytes(fd_a: int, fd_b: int) -> bool:
    while True:
        chunk_a, chunk_b = os.read(fd_a, CHUNK), os.read(fd_b, CHUNK)
        if chunk_a != chunk_b:
            return False
        if not chunk_a:
            return True
