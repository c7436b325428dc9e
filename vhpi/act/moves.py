"""Finding and linking the files of the share that were moved or renamed (see
vhpi.decide.moves for why a match is the same file), and recording what each copy in
backup.latest was on the share (vhpi.act.source_ids).

Looks at the share run in children (vhpi.act.processes.run_in_child), through folders
opened without following symlinks, like the copy passes (vhpi.act.pinned)."""

from __future__ import annotations

import os
import stat
from typing import BinaryIO, Iterable, Iterator, List, Optional, Sequence, Tuple

from vhpi.act.birth_time import birth_time_ns
from vhpi.act.fd_walk import FILE as WALKED_FILE
from vhpi.act.fd_walk import DIR_FLAGS, OpenPath, join, walk_tree
from vhpi.act.filesystem import filesystem_of
from vhpi.act.latest_names import make_folder, replace_with_copy
from vhpi.act.pinned import open_below, parent_of, read_list
from vhpi.act.processes import ChildFailed, Ending, run_in_child
from vhpi.decide.moves import Move, Recorded, SourceId, identity_is_stable, relative_device, still_the_copy

_ID_FIELDS = 6


# ---------------------------------------------------------------- records of identities

def write_identity(out: BinaryIO, entry: bytes, identity: SourceId) -> Optional[BinaryIO]:
    """Append one (entry, SourceId) record to a file of NUL-terminated fields; return the
    file, or None (closed) when it cannot be written (a full disk: recording stops, the
    backup goes on)."""
    try:
        out.write(b"\0".join((entry, b"%d" % identity.device, b"%d" % identity.inode,
                              b"" if identity.birth_ns is None else b"%d" % identity.birth_ns,
                              b"%d" % identity.size, b"%d" % identity.mtime_ns)) + b"\0")
        return out
    except OSError:
        _close_quietly(out)
        return None


def _close_quietly(out: BinaryIO) -> None:
    try:
        out.close()
    except OSError:
        pass


def read_identities(path: str) -> Iterator[Tuple[bytes, SourceId]]:
    """Yield the (entry, SourceId) records of a file write_identity made (read in chunks;
    a record cut short at the end is left out)."""
    fields = read_list(path)
    for entry, device, inode, birth, size, mtime in zip(*[fields] * _ID_FIELDS):
        yield entry, SourceId(int(device), int(inode), int(birth) if birth else None,
                              int(size), int(mtime))


# ---------------------------------------------------------------- the children's side

def _stable_source(source: str) -> bool:
    found = filesystem_of(source)
    return found is not None and identity_is_stable(found.fstype, found.fuse)


def _identity(name: bytes, fd: int, top_device: int) -> Optional[SourceId]:
    """The SourceId of the regular file `name` in the open folder `fd`, else None."""
    try:
        info = os.lstat(name, dir_fd=fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        birth = birth_time_ns(name, dir_fd=fd)
    except OSError:
        return None
    return SourceId(relative_device(info.st_dev, top_device), info.st_ino, birth,
                    info.st_size, info.st_mtime_ns)


def _probe_in_child(source: str, entries_path: str, out_path: str) -> bool:
    """In a child: write the identity of each listed regular file of the share to
    `out_path`; return False (writing nothing) when the share's inode numbers do not last."""
    if not _stable_source(source):
        return False
    root = os.open(source, os.O_RDONLY | os.O_DIRECTORY)
    top_device = os.fstat(root).st_dev
    stack: List[Tuple[bytes, int]] = []
    with open(entries_path, "rb") as listed, open(out_path, "wb") as out:
        for entry in listed.read().split(b"\0")[:-1]:
            parent, _, name = entry.rpartition(b"/")
            fd = open_below(parent, stack, root)
            identity = None if fd is None else _identity(name, fd, top_device)
            if identity is not None:
                write_identity(out, entry, identity)
    return True


def _walk_in_child(source: str, out_path: str) -> bool:
    """In a child: write the identity of every regular file below the share's top folder
    to `out_path` (symlinks are not followed); False when its inode numbers do not last."""
    if not _stable_source(source):
        return False
    with OpenPath.open(source) as walk, open(out_path, "wb") as out:
        top_device = os.fstat(walk.fd).st_dev
        for listing in walk_tree(walk, problem=lambda path, error: None):
            for entry in listing:
                identity = _identity(entry.name, walk.fd, top_device) if entry.kind == WALKED_FILE else None
                if identity is not None:
                    write_identity(out, join(walk.path, entry.name), identity)
    return True


def _in_child(function, timeout: float, *args) -> bool:
    try:
        answer = run_in_child(function, *args, timeout=timeout)
    except ChildFailed:
        return False
    return answer.ending is Ending.EXITED and bool(answer.value)


def probe_share(source: str, entries_path: str, out_path: str, timeout: float) -> bool:
    """Look up the identities of the NUL-separated entries in `entries_path` on the share
    (in a child, given up after `timeout` s) into `out_path`; return True when done."""
    return _in_child(_probe_in_child, timeout, source, entries_path, out_path)


def walk_share(source: str, out_path: str, timeout: float) -> bool:
    """Write the identity of every regular file of the share to `out_path` (in a child,
    given up after `timeout` s); return True when done."""
    return _in_child(_walk_in_child, timeout, source, out_path)


# ---------------------------------------------------------------- backup.latest's side

class OpenParents:
    """The parent folders of paths below `root`, opened without following symlinks and
    kept open while consecutive paths share them (vhpi.act.pinned.open_below): a hundred
    thousand paths in a few folders cost a few opens, not one per path and level. A
    context manager: leaving it closes them."""

    def __init__(self, root: str):
        self._root = os.open(root, DIR_FLAGS)
        self._stack: List[Tuple[bytes, int]] = []

    def of(self, relative: bytes) -> Optional[Tuple[int, bytes]]:
        """Return (fd of the parent folder, last name) of `relative`, or None when the
        parent cannot be reached through real folders."""
        parent, _, name = relative.rpartition(b"/")
        fd = open_below(parent, self._stack, self._root)
        return None if fd is None else (fd, name)

    def __enter__(self) -> "OpenParents":
        return self

    def __exit__(self, *exc_info) -> None:
        for _, fd in self._stack:
            os.close(fd)
        os.close(self._root)


def copy_identity(parents: OpenParents, relative: bytes) -> Optional[Tuple[int, Optional[int], int, int, bool]]:
    """Return (inode, birth time, size, mtime_ns, is a regular file) of `relative` (below
    the root of `parents`), without following symlinks; None when it is not there."""
    found = parents.of(relative)
    if found is None:
        return None
    fd, name = found
    try:
        info = os.lstat(name, dir_fd=fd)
        is_file = stat.S_ISREG(info.st_mode)
        birth = birth_time_ns(name, dir_fd=fd) if is_file else None
    except OSError:
        return None
    return info.st_ino, birth, info.st_size, info.st_mtime_ns, is_file


def intact_records(latest: str, records: Iterable[Recorded]) -> List[Recorded]:
    """Return the records whose path in backup.latest still holds the recorded copy."""
    intact = []
    with OpenParents(latest) as parents:
        for record in records:
            found = copy_identity(parents, record.path)
            if found is not None and still_the_copy(record, found[0], found[1], found[2], found[4]):
                intact.append(record)
    return intact


def rows_of_copies(latest: str, identities: Iterable[Tuple[bytes, SourceId]],
                   times_kept: bool) -> Iterator[Recorded]:
    """Yield a record for each (entry, identity on the share) whose copy in backup.latest
    is a regular file of that size (and modification time, when the options keep it)."""
    with OpenParents(latest) as parents:
        for entry, identity in identities:
            found = copy_identity(parents, entry)
            if found is None:
                continue
            inode, birth, size, mtime_ns, is_file = found
            if is_file and size == identity.size and (not times_kept or mtime_ns == identity.mtime_ns):
                yield Recorded(entry, identity, inode, birth)


def _make_parents(latest: str, entry: bytes, made: set) -> None:
    """Make the folders above `entry` in backup.latest that are not there yet."""
    missing = []
    parent = parent_of(entry)
    while parent and parent not in made:
        missing.append(parent)
        parent = parent_of(parent)
    for folder in reversed(missing):
        make_folder(latest, folder)
        made.add(folder)


def _link(old: Tuple[int, bytes], new: Tuple[int, bytes]) -> None:
    """Make the name `new` (folder fd, name) another name of the file `old`, replacing a
    non-folder that is there."""
    try:
        os.link(old[1], new[1], src_dir_fd=old[0], dst_dir_fd=new[0], follow_symlinks=False)
    except FileExistsError:
        os.unlink(new[1], dir_fd=new[0])
        os.link(old[1], new[1], src_dir_fd=old[0], dst_dir_fd=new[0], follow_symlinks=False)


def link_moves(latest: str, moves: Sequence[Move]) -> List[Move]:
    """Give each move's new name the inode backup.latest holds at its old name (a regular
    file: intact_records); return the moves that were linked (a folder in the way, say,
    leaves one to be copied). The folders that get names are not given their times back
    here: rsync sets those of listed folders, and the transfer restores the others."""
    linked, made = [], set()
    with OpenParents(latest) as old_parents, OpenParents(latest) as new_parents:
        for move in moves:
            try:
                _make_parents(latest, move.new, made)
                old, new = old_parents.of(move.old.path), new_parents.of(move.new)
                if old is not None and new is not None:
                    _link(old, new)
                    linked.append(move)
            except OSError:
                continue
    return linked


def unlink_names(latest: str, entries: Iterable[bytes]) -> None:
    """Take the given names of regular files out of backup.latest (their inodes stay)."""
    with OpenParents(latest) as parents:
        for entry in entries:
            found = parents.of(entry)
            try:
                if found is not None:
                    os.unlink(found[1], dir_fd=found[0])
            except OSError:
                pass


def copy_from_disk(latest: str, work: str, entries: Iterable[bytes]) -> None:
    """Make each of the given names in backup.latest a new inode holding a copy of what it
    holds now (read from the backup disk, not the share), its modification time kept, so
    that rsync only sets its attributes (the inode it had is shared with snapshots)."""
    temporary = os.path.join(work, "moved-copy.tmp")
    for entry in entries:
        replace_with_copy(latest, entry, temporary)
