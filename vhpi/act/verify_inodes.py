"""Verifying the inodes of a listing (vhpi.act.dedup_listing, made with every regular file
of one or more destinations' snapshots): each inode is read once, in inode order, however
many snapshots share it, hashed (vhpi.act.file_hashes) and compared with its checksum in
its destination's content index (vhpi.act.content_index). An inode with no checksum yet is
recorded; one whose bytes differ, or that the disk cannot read (EIO), is damaged.

Nothing is locked: snapshots never change, and an inode that is gone or was replaced
meanwhile (backup.latest, a rotation's drop) shows as changed and is passed over. A
snapshot a rotation renamed meanwhile is found again by its folder's inode. A checksum is
recorded only from an fd held open while it was read (so it is that inode's, whatever
number a later file gets), only when the file did not change while it was read, and is
committed only after the disk was flushed. Records not committed (a kill) are lost, never
wrong.
"""

from __future__ import annotations

import errno
import os
import time
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from vhpi.act import content_index
from vhpi.act.birth_time import fd_birth_time_ns
from vhpi.act.dedup_content import open_file
from vhpi.act.dedup_listing import Name, by_inode
from vhpi.act.dedup_repair import _find_snapshot, open_folder
from vhpi.act.file_hashes import Hashed, hash_all
from vhpi.act.files import sync_file_system
from vhpi.decide.verify_report import Finding, finding_of, sort_paths

#: Index records per transaction.
COMMIT_EVERY = 256


class Checked(NamedTuple):
    """One inode's result: its number, Finding, size, bytes read, the name it was read by
    and whether the disk could not read it (EIO)."""

    ino: int
    finding: Finding
    size: int
    read: int
    name: Name
    unreadable: bool = False


class _Folders:
    """Opens the folders of listed names; keeps the last one open (names in inode order
    are often neighbours) and finds a snapshot a rotation renamed by its folder's inode."""

    def __init__(self, roots: Sequence[str]):
        self.roots = roots
        self.renamed: Dict[Tuple[int, int], bytes] = {}
        self.key: Optional[tuple] = None
        self.fd: Optional[int] = None

    def open(self, name: Name) -> int:
        """Return an fd of the regular file `name` (raises OSError)."""
        key = (name.dest, name.top_ino, name.below)
        if key != self.key:
            self.close()
            self.fd = self._folder(name)
            self.key = key
        return open_file(self.fd, name.name)

    def _folder(self, name: Name) -> int:
        root = self.roots[name.dest]
        top = self.renamed.get((name.dest, name.top_ino), name.top)
        try:
            with open_folder(root, top, name.top_ino, name.below) as walk:
                return os.dup(walk.fd)
        except OSError as error:
            if error.errno not in (errno.ESTALE, errno.ENOENT):
                raise
        found = _find_snapshot(root, os.fsdecode(top), name.top_ino)
        if found is None:
            raise FileNotFoundError(errno.ENOENT, "the snapshot is gone", os.fsdecode(top))
        self.renamed[(name.dest, name.top_ino)] = os.fsencode(found)
        with open_folder(root, os.fsencode(found), name.top_ino, name.below) as walk:
            return os.dup(walk.fd)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
        self.fd, self.key = None, None


class Limits(NamedTuple):
    """Where a verify stops early (a scrub step): after handing over `bytes` bytes, or at
    the monotonic time `deadline`; None: no limit."""

    bytes: Optional[int] = None
    deadline: Optional[float] = None


def _opened(listing, folders: _Folders, after: int, limits: Limits,
            gone: Callable[[Checked], None]) -> Iterator[Tuple[int, tuple]]:
    """Yield (fd, (ino, size, name, facts)) of every listed inode above `after` that is
    still the file listed, until a limit is reached; tell `gone` about the others."""
    handed = 0
    for ino, size, mtime_ns, name in by_inode(listing, after):
        if limits.bytes is not None and handed >= limits.bytes:
            return
        if limits.deadline is not None and time.monotonic() >= limits.deadline:
            return
        try:
            fd = folders.open(name)
        except OSError as error:
            unreadable = error.errno == errno.EIO
            gone(Checked(ino, Finding.DAMAGED if unreadable else Finding.CHANGED, size, 0, name,
                         unreadable))
            continue
        info = os.fstat(fd)
        if (info.st_ino, info.st_size, info.st_mtime_ns) != (ino, size, mtime_ns):
            os.close(fd)
            gone(Checked(ino, Finding.CHANGED, size, 0, name))
            continue
        handed += size
        yield fd, (ino, size, name, content_index.Facts(ino, size, mtime_ns, fd_birth_time_ns(fd)))


class _Comparer:
    """Compares each hashed inode with its recorded checksum and records unknown ones; the
    records are committed only after the destinations were flushed (a file of
    backup.latest that a backup run has just written may not be on the disk yet: its
    checksum must not outlive a power cut that takes its bytes)."""

    def __init__(self, roots: Sequence[str], indexes: Sequence,
                 on_checked: Callable[[Checked], None]):
        self.roots, self.indexes, self.on_checked = roots, indexes, on_checked
        self.since_commit = 0

    def __call__(self, hashed: Hashed) -> None:
        ino, size, name, facts = hashed.context
        index = self.indexes[name.dest]
        recorded = content_index.look_up(index, facts)
        unreadable = hashed.error is not None and hashed.error.errno == errno.EIO
        digest = hashed.digest if hashed.error is None else None
        finding = finding_of(recorded, digest, unreadable)
        if finding is Finding.RECORDED and index is not None:
            content_index.record(index, facts, digest, time.time())
            self._maybe_commit()
        self.on_checked(Checked(ino, finding, size, hashed.read, name, unreadable))

    def _maybe_commit(self) -> None:
        self.since_commit += 1
        if self.since_commit >= COMMIT_EVERY:
            self.commit()

    def commit(self) -> None:
        """Flush the destinations, then commit the records made since the last commit."""
        if self.since_commit:
            for root in self.roots:
                sync_file_system(root)
            for index in self.indexes:
                content_index.commit(index)
        self.since_commit = 0


def verify_listed(roots: Sequence[str], listing, indexes: Sequence,
                  on_checked: Callable[[Checked], None], after: int = 0,
                  limits: Limits = Limits()) -> None:
    """Verify every inode of `listing` above number `after` (of the destinations `roots`,
    with their open content indexes `indexes`, None for one that has none), calling
    on_checked(Checked) for each in inode order, until `limits`; records are committed."""
    folders = _Folders(roots)
    compare = _Comparer(roots, indexes, on_checked)
    try:
        hash_all(_opened(listing, folders, after, limits, on_checked), compare, drop_cache=True)
        compare.commit()
    finally:
        folders.close()


def paths_of(names: List[Name]) -> List[str]:
    """Return the names as "snapshot/path below it" strings, sorted, backup.latest last."""
    return sort_paths(os.fsdecode(b"/".join(part for part in (name.top, name.below, name.name) if part))
                      for name in names)
