"""The identities on the share of the files in backup.latest (vhpi.decide.moves), kept in
DEST/.vhpi/source-ids.sqlite3 so that a moved or renamed file can be linked, not copied.

The store is a cache that only ever makes a run cheaper: a row is used only after the file
at its path in backup.latest was checked to be the very copy the row describes, and a store
that is missing, damaged or unreadable is started afresh (every new file is then copied, as
without it). Nothing in it is needed to restore anything.

Table `files`: path (relative to backup.latest) -> the share's device (0: the source's own
file system), inode, birth time, size and modification time (ns) when vhpi copied it, and
the copy's inode number and birth time on the backup disk. Table `facts`: `filled` (every
file of backup.latest was recorded once, see fill_missing_ids) and `fill_failed_at`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from contextlib import contextmanager
from typing import Iterable, Iterator, List, Optional

from vhpi.act.layout import Layout
from vhpi.decide.moves import Recorded, SourceId

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS files (path BLOB PRIMARY KEY, device INTEGER, inode INTEGER,"
    " birth INTEGER, size INTEGER, mtime INTEGER, backup_inode INTEGER, backup_birth INTEGER)"
    " WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS facts (name TEXT PRIMARY KEY, value TEXT)")
_BATCH = 500


def store_path(layout: Layout) -> str:
    """Return the store's path for a destination."""
    return layout.source_ids


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    connection.execute("PRAGMA synchronous=NORMAL")
    for statement in _SCHEMA:
        connection.execute(statement)
    return connection


@contextmanager
def opened_store(layout: Layout, log: logging.Logger) -> Iterator[Optional[sqlite3.Connection]]:
    """Open the destination's store (made when missing; started afresh when damaged) and
    yield its connection, or None when it cannot be used at all (say why in debug.log)."""
    path = store_path(layout)
    try:
        connection = _connect(path)
        connection.execute("SELECT count(*) FROM facts").fetchone()
    except sqlite3.OperationalError as error:  # a full disk, a lock: not its content
        log.debug("the store of moved files %s cannot be used now: %s", path, error)
        yield None
        return
    except sqlite3.DatabaseError as error:
        log.debug("the store of moved files %s cannot be read (%s): started afresh", path, error)
        connection = _start_afresh(path, log)
    if connection is None:
        yield None
        return
    try:
        yield connection
    finally:
        connection.close()


def _start_afresh(path: str, log: logging.Logger) -> Optional[sqlite3.Connection]:
    for leftover in (path, path + "-journal", path + "-wal", path + "-shm"):
        try:
            os.unlink(leftover)
        except FileNotFoundError:
            pass
        except OSError as error:
            log.debug("cannot remove %s: %s", leftover, error)
            return None
    try:
        return _connect(path)
    except sqlite3.Error as error:
        log.debug("the store of moved files %s cannot be made: %s", path, error)
        return None


def recorded_at(connection: sqlite3.Connection, paths: Iterable[bytes]) -> List[Recorded]:
    """Return the rows of the given paths (those that have one)."""
    found: List[Recorded] = []
    batch = list(paths)
    for start in range(0, len(batch), _BATCH):
        chunk = batch[start:start + _BATCH]
        found.extend(_rows(connection, "SELECT * FROM files WHERE path IN (%s)"
                           % ",".join("?" * len(chunk)), chunk))
    return found


def _below(folder: bytes):
    """The range of paths below `folder`: folder/ up to folder0 ('0' follows '/')."""
    return folder + b"/", folder + b"0"


def _rows(connection: sqlite3.Connection, query: str, parameters) -> List[Recorded]:
    return [Recorded(bytes(path), SourceId(device, inode, birth, size, mtime), backup_inode,
                     backup_birth)
            for path, device, inode, birth, size, mtime, backup_inode, backup_birth
            in connection.execute(query, parameters)]


def record(connection: sqlite3.Connection, rows: Iterable[Recorded]) -> None:
    """Record (or replace) the given rows, in batches of transactions."""
    batch = []
    for row in rows:
        batch.append((row.path, *row.source[:3], row.source.size, row.source.mtime_ns,
                      row.backup_inode, row.backup_birth_ns))
        if len(batch) >= _BATCH:
            _insert(connection, batch)
            batch = []
    _insert(connection, batch)


def _insert(connection: sqlite3.Connection, batch: list) -> None:
    if batch:
        with _transaction(connection):
            connection.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?)", batch)


def forget(connection: sqlite3.Connection, entries: Iterable[bytes], below: bool = False) -> None:
    """Forget the given paths, and with `below` everything below them too."""
    query = ("DELETE FROM files WHERE path = ? OR (path >= ? AND path < ?)" if below
             else "DELETE FROM files WHERE path = ?")
    batch = list(entries)
    for start in range(0, len(batch), _BATCH):
        with _transaction(connection):
            connection.executemany(query, [(entry, *_below(entry)) if below else (entry,)
                                           for entry in batch[start:start + _BATCH]])


def forget_all(connection: sqlite3.Connection) -> None:
    """Forget every row and fact (backup.latest is made afresh)."""
    with _transaction(connection):
        connection.execute("DELETE FROM files")
        connection.execute("DELETE FROM facts")


def fact(connection: sqlite3.Connection, name: str) -> Optional[str]:
    """Return the fact `name`, or None."""
    row = connection.execute("SELECT value FROM facts WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def set_fact(connection: sqlite3.Connection, name: str, value: Optional[str]) -> None:
    """Set (or with None remove) the fact `name`."""
    with _transaction(connection):
        if value is None:
            connection.execute("DELETE FROM facts WHERE name = ?", (name,))
        else:
            connection.execute("INSERT OR REPLACE INTO facts VALUES (?, ?)", (name, value))


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN")
    try:
        yield
    except BaseException:
        if connection.in_transaction:  # SQLite may have rolled back itself (a full disk)
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
