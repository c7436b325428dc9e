"""Putting right what a `vhpi dedup` killed in a link batch left in a destination
(see vhpi.act.dedup_links for the batch): its journal DEST/.vhpi/dedup-journal.json (the
folders whose names a batch changes, with their times), and its temporary name
DEST/.vhpi/dedup.tmp. Kept apart from the rest of dedup and light to import: a backup run
calls needs_repair() (three lstat calls) right after taking a destination's lock, and
repair_after_dedup() when it says so.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from contextlib import contextmanager
from typing import Iterator, List, Optional

from vhpi.act.fd_walk import DIR_FLAGS, OpenPath

JOURNAL = "dedup-journal.json"
TEMP = "dedup.tmp"


def own_folder(root: str) -> str:
    return os.path.join(root, ".vhpi")


def fsync_folder(path: str) -> None:
    fd = os.open(path, DIR_FLAGS)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def open_folder(root: str, top: bytes, top_ino: int, below: bytes) -> Iterator[OpenPath]:
    """Open the folder `below` in the snapshot `top` of the destination `root`, checking
    that `top` still is the snapshot folder with inode `top_ino` (a rotation renames
    snapshots). Raises OSError (ESTALE for another snapshot under that name)."""
    walk = OpenPath.open(os.path.join(os.fsencode(root), top), follow=False)
    with walk:
        if os.fstat(walk.fd).st_ino != top_ino:
            raise OSError(errno.ESTALE, "the snapshot was renamed meanwhile", os.fsdecode(top))
        for part in below.split(b"/") if below else ():
            walk.down(part)
        yield walk


def write_journal(root: str, entries: List[list]) -> None:
    """Write the journal of the destination `root` (see the module docstring), durably."""
    own = own_folder(root)
    temporary = os.path.join(own, JOURNAL + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        os.write(fd, json.dumps({"folders": entries}).encode("utf-8", "surrogateescape"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temporary, os.path.join(own, JOURNAL))
    fsync_folder(own)


def _find_snapshot(root: str, top: str, top_ino: int) -> Optional[str]:
    """Return the name in `root` of the snapshot folder with inode `top_ino` (`top` first:
    a backup run may have renamed it since), or None when it is gone."""
    def names():
        yield top
        yield from sorted(os.listdir(root))
    for name in names():
        try:
            info = os.lstat(os.path.join(root, name))
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_ino == top_ino:
            return name
    return None


def restore_entry(root: str, entry: list) -> bool:
    """Give one journaled folder its times back and fsync it; False when it is gone."""
    top, top_ino, below, folder_ino, atime_ns, mtime_ns = entry
    name = _find_snapshot(root, top, top_ino)
    if name is None:
        return False
    try:
        with open_folder(root, os.fsencode(name), top_ino, os.fsencode(below)) as walk:
            if os.fstat(walk.fd).st_ino != folder_ino:
                return False
            os.utime(walk.fd, ns=(atime_ns, mtime_ns))
            os.fsync(walk.fd)
    except OSError:
        return False
    return True


def _remove_temp(root: str) -> bool:
    try:
        os.unlink(os.path.join(own_folder(root), TEMP))
        return True
    except FileNotFoundError:
        return False


def repair_after_dedup(root: str) -> int:
    """Put right what a dedup killed in a batch left in the destination `root`: remove its
    temporary name and give every folder in its journal its times back, then remove the
    journal. Return how many folders got their times back (0 when there was nothing to
    do). Call it holding the destination's lock. Raises OSError only when the destination
    itself cannot be read or written."""
    own = own_folder(root)
    _remove_temp(root)
    try:
        os.unlink(os.path.join(own, JOURNAL + ".new"))
    except FileNotFoundError:
        pass
    path = os.path.join(own, JOURNAL)
    try:
        with open(path, "rb") as handle:
            entries = json.loads(handle.read().decode("utf-8", "surrogateescape"))["folders"]
    except FileNotFoundError:
        return 0
    except (ValueError, KeyError, TypeError):
        entries = []  # written only whole (renamed into place): cannot happen; drop it
    restored = sum(restore_entry(root, entry) for entry in entries)
    os.unlink(path)
    fsync_folder(own)
    return restored


def needs_repair(root: str) -> bool:
    """True when a dedup killed in a batch left its journal or temporary name in `root`."""
    own = own_folder(root)
    return any(os.path.lexists(os.path.join(own, name)) for name in (JOURNAL, JOURNAL + ".new", TEMP))
