"""The listing `vhpi dedup` works from: every regular file of at least MIN_SIZE bytes in
every snapshot (backup.latest included) of a group of destinations, per inode, in a scratch
SQLite file on the backup disk (DEST/.vhpi/dedup-listing.sqlite3 of the group's first
destination; removed at the end, and at the start when a killed dedup left it). A million
inodes cost disk, not memory: Python holds one folder listing at a time.

Tables:

    folders(id, dest, top, top_ino, below)   a folder: destination number, snapshot name,
                                             the snapshot folder's inode, path below it
    names(ino, folder, name)                 every name of a candidate-sized file
    inodes(ino, size, mode, uid, gid, mtime_ns, ctime_ns, links, blocks, seen,
           sha256, attrs)                    one row per inode; seen: names found;
                                             sha256, attrs (a digest of its xattrs) once hashed
"""

from __future__ import annotations

import os
import sqlite3
import stat
from typing import Callable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from vhpi.act.fd_walk import OpenPath, walk_tree
from vhpi.decide.dedup_plan import MIN_SIZE
from vhpi.decide.tree_compare import FILE

FILE_NAME = "dedup-listing.sqlite3"
SCHEMA = (
    "CREATE TABLE folders (id INTEGER PRIMARY KEY, dest INTEGER, top BLOB, top_ino INTEGER, "
    "below BLOB)",
    "CREATE TABLE names (ino INTEGER, folder INTEGER, name BLOB)",
    "CREATE TABLE inodes (ino INTEGER PRIMARY KEY, size INTEGER, mode INTEGER, uid INTEGER, "
    "gid INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, links INTEGER, blocks INTEGER, "
    "seen INTEGER, sha256 BLOB, attrs BLOB)",
)
Problem = Callable[[bytes, OSError], None]


class Tree(NamedTuple):
    """One snapshot folder to list: destination number, destination path, folder name."""

    dest: int
    root: str
    name: str


class Name(NamedTuple):
    """Where one name of an inode is: destination number, snapshot name, the snapshot
    folder's inode, the path of its folder below the snapshot (b"" at its top), the name."""

    dest: int
    top: bytes
    top_ino: int
    below: bytes
    name: bytes


def listing_path(own: str, file_name: str = FILE_NAME) -> str:
    """Return the scratch listing's path in the vhpi folder `own` (DEST/.vhpi); `file_name`
    for a listing of another command (vhpi verify's, the scrub's)."""
    return os.path.join(own, file_name)


def remove_listing(own: str, file_name: str = FILE_NAME) -> None:
    """Remove a scratch listing (and its journal files) from `own`, if there."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.unlink(listing_path(own, file_name) + suffix)
        except FileNotFoundError:
            pass


def new_listing(own: str, file_name: str = FILE_NAME) -> sqlite3.Connection:
    """Make an empty scratch listing in `own`; return it open. No journal, no syncs: a
    killed command's listing is thrown away."""
    remove_listing(own, file_name)
    path = listing_path(own, file_name)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600))
    listing = sqlite3.connect(path, isolation_level="DEFERRED")
    listing.execute("PRAGMA journal_mode=OFF")
    listing.execute("PRAGMA synchronous=OFF")
    listing.execute("PRAGMA cache_size=-8000")
    for statement in SCHEMA:
        listing.execute(statement)
    return listing


def _file_rows(fd: int, names: Sequence[bytes],
               min_size: int) -> Iterator[Tuple[bytes, os.stat_result]]:
    """Yield (name, lstat) for the regular files of at least `min_size` bytes among `names`
    in the open folder `fd` (a name gone meanwhile is passed over)."""
    for name in names:
        try:
            info = os.lstat(name, dir_fd=fd)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_size >= min_size:
            yield name, info


def _add_folder(listing: sqlite3.Connection, tree: Tree, top_ino: int, below: bytes,
                files: List[Tuple[bytes, os.stat_result]]) -> None:
    cursor = listing.execute("INSERT INTO folders (dest, top, top_ino, below) VALUES (?, ?, ?, ?)",
                             (tree.dest, os.fsencode(tree.name), top_ino, below))
    folder = cursor.lastrowid
    listing.executemany("INSERT INTO names (ino, folder, name) VALUES (?, ?, ?)",
                        [(info.st_ino, folder, name) for name, info in files])
    listing.executemany(
        "INSERT INTO inodes (ino, size, mode, uid, gid, mtime_ns, ctime_ns, links, blocks, seen) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (ino) DO UPDATE SET seen = seen + 1",
        [(info.st_ino, info.st_size, info.st_mode, info.st_uid, info.st_gid, info.st_mtime_ns,
          info.st_ctime_ns, info.st_nlink, info.st_blocks * 512) for _, info in files])


def list_tree(listing: sqlite3.Connection, tree: Tree, problem: Problem,
              min_size: int = MIN_SIZE) -> int:
    """Add every regular file of at least `min_size` bytes (by default dedup's candidate
    size) below the snapshot `tree` to `listing`; return how many names were added.
    Folders that cannot be read go to `problem`."""
    added = 0
    try:
        walk = OpenPath.open(os.path.join(tree.root, tree.name), follow=False)
    except OSError as error:
        problem(os.fsencode(os.path.join(tree.root, tree.name)), error)
        return 0
    with walk:
        top_ino = os.fstat(walk.fd).st_ino
        for entries in walk_tree(walk, problem):
            files = list(_file_rows(walk.fd, [entry.name for entry in entries if entry.kind == FILE],
                                    min_size))
            if files:
                _add_folder(listing, tree, top_ino, walk.path, files)
                added += len(files)
    listing.commit()
    return added


def finish_listing(listing: sqlite3.Connection) -> None:
    """Index the listing for the look-ups that follow (faster made once, after the inserts)."""
    listing.execute("CREATE INDEX names_by_ino ON names (ino)")
    listing.execute("CREATE INDEX inodes_by_kind ON inodes (size, mode, uid, gid, mtime_ns)")
    listing.commit()


#: Candidates read from the listing at a time (memory stays bounded).
PAGE = 5000
_CANDIDATES = (
    "SELECT i.ino, i.size, i.mtime_ns FROM inodes i JOIN (SELECT size, mode, uid, gid, mtime_ns "
    "FROM inodes GROUP BY size, mode, uid, gid, mtime_ns HAVING COUNT(*) > 1) k USING "
    "(size, mode, uid, gid, mtime_ns) WHERE (i.size, i.ino) < (?, ?) "
    "ORDER BY i.size DESC, i.ino DESC LIMIT ?")


def candidates(listing: sqlite3.Connection) -> Iterator[Tuple[int, int, int]]:
    """Yield (ino, size, mtime_ns) of every inode that shares size, mode, owner, group and
    mtime with another one (only those can have a twin), largest first, a page at a time
    (the caller may write to the listing meanwhile)."""
    after = (1 << 63) - 1, (1 << 63) - 1
    while True:
        page = listing.execute(_CANDIDATES, (*after, PAGE)).fetchall()
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1][1], page[-1][0]


def names_of(listing: sqlite3.Connection, ino: int) -> List[Name]:
    """Return every name the listing found for inode `ino`."""
    return [Name(*row) for row in listing.execute(
        "SELECT f.dest, f.top, f.top_ino, f.below, n.name FROM names n JOIN folders f ON "
        "f.id = n.folder WHERE n.ino = ? ORDER BY f.id, n.name", (ino,))]


def set_content(listing: sqlite3.Connection, ino: int, sha256: Optional[bytes],
                attrs: Optional[bytes]) -> None:
    """Note the content hash and xattr digest of inode `ino` (None: it could not be read)."""
    listing.execute("UPDATE inodes SET sha256 = ?, attrs = ? WHERE ino = ?", (sha256, attrs, ino))


def duplicate_rows(listing: sqlite3.Connection) -> Iterator[tuple]:
    """Yield (key, ino, links, seen, blocks, ctime_ns) of every hashed inode, ordered so that
    inodes with equal keys (hash, size, mode, owner, group, mtime, xattrs) come together."""
    cursor = listing.execute(
        "SELECT sha256, size, mode, uid, gid, mtime_ns, attrs, ino, links, seen, blocks, ctime_ns "
        "FROM inodes WHERE sha256 IS NOT NULL ORDER BY sha256, size, mode, uid, gid, mtime_ns, "
        "attrs, ino")
    for row in cursor:
        yield tuple(row[:7]), row[7], row[8], row[9], row[10], row[11]


_BY_INODE = (
    "SELECT i.ino, i.size, i.mtime_ns, f.dest, f.top, f.top_ino, f.below, n.name FROM inodes i "
    "JOIN names n ON n.rowid = (SELECT rowid FROM names WHERE ino = i.ino LIMIT 1) "
    "JOIN folders f ON f.id = n.folder WHERE i.ino > ? ORDER BY i.ino LIMIT ?")


def by_inode(listing: sqlite3.Connection, after: int = 0) -> Iterator[Tuple[int, int, int, Name]]:
    """Yield (ino, size, mtime_ns, one Name of it) of every inode above number `after`, in
    inode order (close to the order on an ext4 disk), a page at a time (needs
    finish_listing's index)."""
    while True:
        page = listing.execute(_BY_INODE, (after, PAGE)).fetchall()
        for ino, size, mtime_ns, *name in page:
            yield ino, size, mtime_ns, Name(*name)
        if len(page) < PAGE:
            return
        after = page[-1][0]


def total_bytes(listing: sqlite3.Connection) -> int:
    """Return the bytes of every inode the listing holds (each counted once)."""
    return listing.execute("SELECT COALESCE(SUM(size), 0) FROM inodes").fetchone()[0]


def count_inodes(listing: sqlite3.Connection) -> int:
    """Return how many inodes the listing holds."""
    return listing.execute("SELECT COUNT(*) FROM inodes").fetchone()[0]
