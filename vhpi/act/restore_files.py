"""The disk side of `vhpi restore` (the decisions are vhpi.decide.restore_plan, the order
of the steps vhpi.actions.restore): holding the snapshot folder open, looking at names in
it without following symlinks, listing what a restore would copy, the staging folder next
to the target, and renaming the finished copy into place.

The snapshot is never written here: it is opened, listed and lstat'ed only. Every look
below the snapshot is relative to an open folder (its fd), so a name never leads through a
symlink; the walk over what a restore copies is vhpi.act.fd_walk's (no recursion, bounded
fds, any depth).
"""

from __future__ import annotations

import errno
import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

from vhpi.act.fd_walk import OpenPath, join, walk_tree
from vhpi.act.inventory import list_snapshots
from vhpi.decide.selection import Snapshot
from vhpi.act.lock import try_lock_folder
from vhpi.act.tree_edit import remove_tree
from vhpi.config.model import Config, Job
from vhpi.decide.restore_plan import (CAPABILITY_XATTR, FILE, FOLDER, MISSING, NEW, OTHER,
                                      SYMLINK, Entry, RestoreRefused, snapshot_reader_path,
                                      staging_name)
from vhpi.decide.snapshot_names import LATEST_NAME
from vhpi.decide.tree_compare import FILE as LISTED_FILE
from vhpi.decide.tree_compare import OTHER as LISTED_OTHER

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = (os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_CLOEXEC", 0))
#: Where this process's open fds can be named as paths (see _has_capabilities).
_OWN_FDS = b"/proc/self/fd"

#: (path below the snapshot, st_mode, carries file capabilities) of one entry.
Record = Tuple[str, int, bool]


@dataclass(frozen=True)
class HeldSnapshot:
    """A snapshot folder this process holds open: `fd`, its identity (device, inode), and
    `reader`, the path rsync reads it through."""

    snapshot: Snapshot
    fd: int
    identity: Tuple[int, int]
    reader: str


# ---------------------------------------------------------------- the snapshot

@contextmanager
def held_snapshot(job: Job, snapshot: Snapshot) -> Iterator[HeldSnapshot]:
    """Given a job and one of its snapshots, open the snapshot folder (and, for
    backup.latest, take the destination's lock) for the duration of the `with`; yield the
    HeldSnapshot. Raises RestoreRefused when it cannot be opened or locked."""
    lock_fd = _lock_for_latest(job) if snapshot.name == LATEST_NAME else None
    try:
        try:
            fd = os.open(snapshot.path, _DIR_FLAGS)
        except OSError as error:
            raise RestoreRefused(f"cannot open snapshot {snapshot.path}: {error.strerror}")
        try:
            info = os.fstat(fd)
            reader = snapshot_reader_path(os.getpid(), fd)
            if not os.path.isdir(reader):  # no /proc: rsync reads it by its name
                reader = snapshot.path
            yield HeldSnapshot(snapshot, fd, (info.st_dev, info.st_ino), reader)
        finally:
            os.close(fd)
    finally:
        if lock_fd is not None:
            os.close(lock_fd)


def _lock_for_latest(job: Job) -> int:
    """Take the destination's lock so that no backup run changes backup.latest while it is
    read; return its fd. Raises RestoreRefused when a run holds it."""
    try:
        lock_fd = try_lock_folder(job.destination)
    except OSError as error:
        raise RestoreRefused(f"cannot open {job.destination}: {error.strerror}")
    if lock_fd is None:
        raise RestoreRefused(f"a backup run is changing {LATEST_NAME} of job {job.name} right "
                             f"now; try again when it is done, or restore from one of its "
                             f"snapshots (vhpi list {job.name})")
    return lock_fd


def look(fd: int, names: Tuple[str, ...]) -> Entry:
    """Given the snapshot's fd and names below it (whose parents are real folders), return
    what the last one is, without following it."""
    path = "/".join(names)
    try:
        info = os.lstat(path, dir_fd=fd)
    except FileNotFoundError:
        return Entry(MISSING)
    except OSError as error:
        if error.errno == errno.ENOTDIR:
            return Entry(MISSING)
        raise RestoreRefused(f"cannot read {path!r} in the snapshot: {error.strerror}")
    if stat.S_ISLNK(info.st_mode):
        return Entry(SYMLINK, os.readlink(path, dir_fd=fd))
    return Entry(_kind_of(info.st_mode))


def _kind_of(mode: int) -> str:
    """Given a st_mode, return FOLDER, SYMLINK, FILE or OTHER."""
    if stat.S_ISDIR(mode):
        return FOLDER
    if stat.S_ISLNK(mode):
        return SYMLINK
    return FILE if stat.S_ISREG(mode) else OTHER


def same_folder(path: str, identity: Tuple[int, int]) -> bool:
    """Given a path and a (device, inode), return True when the path is (still) that
    folder."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == identity


def still_a_snapshot(config: Config, job: Job, held: HeldSnapshot) -> bool:
    """Return True when the folder `held` is still one of the job's snapshots (under any
    name)."""
    return any(same_folder(snapshot.path, held.identity)
               for snapshot in list_snapshots(job, config.intervals))


# ---------------------------------------------------------------- what a restore copies

def records_of(fd: int, item: Tuple[str, ...]) -> Iterator[Record]:
    """Given the snapshot's fd and the item's names (parents real folders, as
    resolve_in_snapshot returns them), yield a Record for the item and, when it is a
    folder, for every file, device, FIFO and socket below it (folders and symlinks are not
    yielded below the item). A folder that cannot be entered or listed is skipped: rsync
    cannot copy it either."""
    path = "/".join(item)
    info = os.lstat(path, dir_fd=fd)
    if not stat.S_ISDIR(info.st_mode):
        parent = os.open("/".join(item[:-1]) or ".", _DIR_FLAGS, dir_fd=fd)
        try:
            yield path, info.st_mode, _carries_capabilities(parent, os.fsencode(item[-1]), info)
        finally:
            os.close(parent)
        return
    with OpenPath(os.dup(fd)) as walk:
        for name in item:
            walk.down(name)
        for listing in walk_tree(walk, problem=_skip):
            for entry in listing:
                if entry.kind in (LISTED_FILE, LISTED_OTHER):
                    record = _record(walk.fd, entry.name)
                    if record is not None:  # walk.path starts with the item's names
                        yield (os.fsdecode(join(walk.path, entry.name)), *record)


def _skip(path: bytes, error: OSError) -> None:
    """A folder the walk cannot enter or list: rsync cannot copy it either."""


def _record(dir_fd: int, name: bytes) -> Optional[Tuple[int, bool]]:
    """Given an open folder and a name in it, return (its st_mode, whether it carries file
    capabilities), or None when it vanished."""
    try:
        info = os.lstat(name, dir_fd=dir_fd)
    except OSError:
        return None
    return info.st_mode, _carries_capabilities(dir_fd, name, info)


def _carries_capabilities(dir_fd: int, name: bytes, info: os.stat_result) -> bool:
    """Given an open folder, a name in it and its lstat, return True when it is a regular
    file with a security.capability extended attribute (ENODATA, ENOTSUP: none). The name
    is looked up through /proc/self/fd/<dir_fd>, never following a symlink; without /proc
    the file is opened (a file vhpi cannot open, rsync cannot copy either)."""
    if not stat.S_ISREG(info.st_mode):
        return False
    try:
        os.getxattr(b"%s/%d/%s" % (_OWN_FDS, dir_fd, name), CAPABILITY_XATTR,
                    follow_symlinks=False)
        return True
    except FileNotFoundError:
        if os.path.isdir(_OWN_FDS):
            return False  # the file itself vanished
    except OSError:
        return False
    return _capabilities_by_opening(dir_fd, name)


def _capabilities_by_opening(dir_fd: int, name: bytes) -> bool:
    """Return True when the regular file `name` in the open folder carries capabilities,
    looked at through an fd of its own."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        os.getxattr(fd, CAPABILITY_XATTR)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


# ---------------------------------------------------------------- the target

def absolute_folder(path: str) -> Optional[str]:
    """Given a path as typed, return it made absolute when it is an existing folder (a
    symlink to one counts), else None."""
    absolute = os.path.abspath(path)
    return absolute if os.path.isdir(absolute) else None


def real_folder(path: str) -> Optional[str]:
    """Return the real path (symlinks resolved) of the folder `path`, None when it is not
    an existing folder."""
    return os.path.realpath(path) if os.path.isdir(path) else None


def real_path(path: str) -> str:
    """Return the real path of `path` (symlinks resolved as far as they exist)."""
    return os.path.realpath(path)


def kind_at(path: str) -> str:
    """Return what is at `path` now (not following a symlink): FOLDER, SYMLINK, FILE,
    OTHER, or MISSING when nothing."""
    try:
        return _kind_of(os.lstat(path).st_mode)
    except FileNotFoundError:
        return MISSING


@contextmanager
def staging_folder(parent: str) -> Iterator[str]:
    """Given the folder the target goes into, make a private staging folder in it for the
    `with` (removed with all it holds in the end); yield its path. Raises RestoreRefused
    when it cannot be made."""
    staging = os.path.join(parent, staging_name(os.getpid()))
    try:
        os.mkdir(staging, 0o700)
    except OSError as error:
        raise RestoreRefused(f"cannot write in {parent}: {error.strerror}; nothing was restored")
    try:
        yield staging
    finally:
        remove_tree(staging)


def put_in_place(copied: str, target: str, mode: str) -> None:
    """Given the finished copy, the target path and the write mode (NEW or REPLACE), rename
    the copy to the target (replacing it only for REPLACE). Raises RestoreRefused."""
    if mode == NEW and kind_at(target) != MISSING:
        raise RestoreRefused(f"{target} appeared while restoring; nothing was changed. Add "
                             f"--overwrite to replace it, or choose another place with --to DIR")
    try:
        _rename_folder_or_file(copied, target)
    except OSError as error:
        raise RestoreRefused(f"cannot put the restored copy at {target}: {error.strerror}; "
                             f"nothing was changed")


def _rename_folder_or_file(copied: str, target: str) -> None:
    """Rename `copied` to `target`. Moving a folder to another parent rewrites its '..'
    entry, which a normal user may do only in a folder they can write: a read-only restored
    folder is made writable for the rename and given its mode back."""
    info = os.lstat(copied)
    writable = not stat.S_ISDIR(info.st_mode) or os.geteuid() == 0 or info.st_mode & stat.S_IWUSR
    if writable:
        os.rename(copied, target)
        return
    os.chmod(copied, stat.S_IMODE(info.st_mode) | stat.S_IWUSR)
    try:
        os.rename(copied, target)
    except OSError:
        os.chmod(copied, stat.S_IMODE(info.st_mode))
        raise
    os.chmod(target, stat.S_IMODE(info.st_mode))
