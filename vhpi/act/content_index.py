"""The content index of a destination: DEST/.vhpi/content.sqlite3, the sha256 of the inodes
of that destination's snapshots, so that a file is hashed once, not by every command that
needs its content (vhpi dedup now; a verify later).

One table, keyed by inode number:

    inodes(ino, size, mtime_ns, birth_ns, sha256, hashed_at)

An entry is valid only while the inode still has the same size, mtime_ns and, when the file
system tells it, birth time (inode numbers are reused after a file is deleted; the birth
time tells the new file from the old). ctime is not used: it changes every time a snapshot
adds a name to the inode. look_up checks this; a stale entry reads as none.

SQLite in WAL mode with synchronous=NORMAL: a kill -9 at any instant loses at most the
transaction in progress, never the file. Writers call record() as often as they like and
commit() every few hundred records (one transaction per batch, not per file).

API: open_index(destination) -> connection (None in read_only mode when there is no index),
look_up(index, facts) -> sha256 or None, record(index, facts, sha256, when), forget(index,
ino), commit(index), close(index).

Inode numbers and crashes: a backup run records the checksums of the inodes it made after
they are on the disk (after the run's sync), in one transaction. Before its transfer it
marks the index "adding" (a durable commit), and clears the mark with that transaction. A
run killed in between leaves new inodes without records, and such an inode may have the
number of a deleted one whose record is still here: where the file system keeps birth
times the record's birth time tells them apart; a record without one (a file system that
keeps none) cannot: while the mark is set, look_up trusts no such record, and the next run
that finds the mark drops them all (begin_adding) and hashes every file of backup.latest
that has no valid record (the killed run's new files among them). A dropped record only
means the file is hashed afresh.
"""

from __future__ import annotations

import os
import sqlite3
from typing import NamedTuple, Optional

FILE_NAME = "content.sqlite3"
SCHEMA = """CREATE TABLE IF NOT EXISTS inodes (
    ino INTEGER PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    birth_ns INTEGER, sha256 BLOB NOT NULL, hashed_at REAL NOT NULL)"""
META_SCHEMA = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)"
ADDING = "adding_since"
LOOK_EVERYWHERE = "look_everywhere"
#: How long a writer waits for another one (a backup run and a verify at once), in seconds.
BUSY_TIMEOUT = 60.0


class Facts(NamedTuple):
    """What identifies an inode's content for the index: number, size, mtime (ns) and
    birth time (ns; None when the file system does not say)."""

    ino: int
    size: int
    mtime_ns: int
    birth_ns: Optional[int]


def index_path(destination: str) -> str:
    """Return the content index file of the destination folder `destination`."""
    return os.path.join(destination, ".vhpi", FILE_NAME)


def open_index(destination: str, read_only: bool = False) -> Optional[sqlite3.Connection]:
    """Open (and, unless `read_only`, make: mode 0600) the content index of `destination`;
    return the connection, or None when `read_only` and there is none yet. Raises
    sqlite3.Error or OSError when it cannot be opened."""
    path = index_path(destination)
    if read_only:
        if not os.path.exists(path):
            return None
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level="DEFERRED",
                               timeout=BUSY_TIMEOUT)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600))
    index = sqlite3.connect(path, isolation_level="DEFERRED", timeout=BUSY_TIMEOUT)
    index.execute("PRAGMA journal_mode=WAL")
    index.execute("PRAGMA synchronous=NORMAL")
    index.execute(SCHEMA)
    index.execute(META_SCHEMA)
    index.commit()
    return index


def adding_since(index: sqlite3.Connection) -> Optional[float]:
    """Return when a backup run marked the index "adding" (see the module docstring), or None."""
    row = index.execute("SELECT value FROM meta WHERE key = ?", (ADDING,)).fetchone()
    return None if row is None else float(row[0])


def begin_adding(index: sqlite3.Connection, now: float) -> int:
    """Mark the index "adding" from `now`, durably; when a run killed before it finished
    left the mark, first drop every record without a birth time and note that the files
    of backup.latest must all be looked at (must_look_everywhere); return how many records
    were dropped."""
    commit(index)
    index.execute("PRAGMA synchronous=FULL")  # (not inside a transaction)
    dropped = 0
    if adding_since(index) is not None:
        dropped = drop_weak_records(index)
        index.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, 1)", (LOOK_EVERYWHERE,))
    index.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (ADDING, now))
    index.commit()
    index.execute("PRAGMA synchronous=NORMAL")
    return dropped


def must_look_everywhere(index: sqlite3.Connection) -> bool:
    """True when a run was killed before it recorded its new files: the next run hashes
    every file of backup.latest that has no valid record, not only its own new files."""
    return index.execute("SELECT 1 FROM meta WHERE key = ?", (LOOK_EVERYWHERE,)).fetchone() is not None


def finish_adding(index: sqlite3.Connection) -> None:
    """Clear the "adding" mark, in the transaction of the records added (then commit it)."""
    index.execute("DELETE FROM meta WHERE key IN (?, ?)", (ADDING, LOOK_EVERYWHERE))
    index.commit()


def drop_weak_records(index: sqlite3.Connection) -> int:
    """Drop the records made without a birth time (in the open transaction); return how many."""
    return index.execute("DELETE FROM inodes WHERE birth_ns IS NULL").rowcount


def look_up(index: Optional[sqlite3.Connection], facts: Facts) -> Optional[bytes]:
    """Return the recorded sha256 (32 bytes) of the inode `facts` describe, or None when
    there is no index, no entry, the entry is for another file (size, mtime or birth time
    differ), or it has no birth time while the index is marked "adding" (by a run now, or
    by one a kill cut short: a new inode may have taken its number)."""
    if index is None:
        return None
    row = index.execute("SELECT size, mtime_ns, birth_ns, sha256 FROM inodes WHERE ino = ?",
                        (facts.ino,)).fetchone()
    if row is None or (row[0], row[1], row[2]) != (facts.size, facts.mtime_ns, facts.birth_ns):
        return None
    if row[2] is None and adding_since(index) is not None:
        return None  # see the module docstring
    return bytes(row[3])


def record(index: sqlite3.Connection, facts: Facts, sha256: bytes, when: float) -> None:
    """Remember that the inode `facts` describe had content `sha256` at time `when` (in the
    open transaction: commit() makes it last)."""
    index.execute("INSERT OR REPLACE INTO inodes (ino, size, mtime_ns, birth_ns, sha256, "
                  "hashed_at) VALUES (?, ?, ?, ?, ?, ?)",
                  (facts.ino, facts.size, facts.mtime_ns, facts.birth_ns, sha256, when))


def forget(index: sqlite3.Connection, ino: int) -> None:
    """Drop the entry of inode `ino` (in the open transaction)."""
    index.execute("DELETE FROM inodes WHERE ino = ?", (ino,))


def commit(index: Optional[sqlite3.Connection]) -> None:
    """Make every record() and forget() since the last commit last."""
    if index is not None and index.in_transaction:
        index.commit()


def close(index: Optional[sqlite3.Connection]) -> None:
    """Commit and close the index (None: nothing)."""
    if index is not None:
        commit(index)
        index.close()


def prune(index: sqlite3.Connection, listing_file: str, listed_from: float, min_size: int) -> int:
    """Drop the records of inodes that a complete listing (vhpi.act.dedup_listing, of every
    snapshot, of files of at least `min_size` bytes, begun at time `listed_from`) did not
    find: files no snapshot holds any more. Records made since the listing began (a backup
    run's new files) and of files smaller than the listing looked at are kept. Return how
    many were dropped (committed)."""
    index.execute("ATTACH DATABASE ? AS listing", (listing_file,))
    try:
        dropped = index.execute(
            "DELETE FROM inodes WHERE hashed_at < ? AND size >= ? AND ino NOT IN "
            "(SELECT ino FROM listing.inodes)", (listed_from, min_size)).rowcount
        index.commit()
    finally:
        index.execute("DETACH DATABASE listing")
    return dropped
