"""Checksums at backup time: every inode a run adds to the disk gets its sha256 in the
destination's content index (vhpi.act.content_index), so that `vhpi verify` and the scrub
can tell later whether it still holds the same bytes.

Which inodes are new: the transfer removes every non-folder it copies from backup.latest
first, so rsync only ever writes new inodes, and its copy list (DEST/.vhpi/new-files.list,
kept by vhpi.act.transfer) names them; a first backup (one plain rsync) marks the list
"everything", and so does a run killed before it recorded its checksums (for the next
run: content_index.must_look_everywhere). An inode that already has a valid record (a
moved file linked, not copied; a hard-linked group's second name) is not read again.

Order, for crash safety: start_adding() marks the index before the transfer;
record_new_files() runs after the new snapshots were flushed to the disk (so a checksum is
never recorded for bytes a power cut could still take away), hashes the new files from
backup.latest (just written: still in the page cache) and commits every record together
with clearing the mark. A kill before that commit records nothing.
"""

from __future__ import annotations

import logging
import os
import time
from itertools import chain
from typing import Iterator, NamedTuple, Optional, Tuple

from vhpi.act.birth_time import fd_birth_time_ns
from vhpi.act.dedup_content import open_file
from vhpi.act.fd_walk import OpenPath, walk_tree
from vhpi.act.file_hashes import Hashed, hash_all
from vhpi.act.layout import Layout
from vhpi.act.pinned import read_list
from vhpi.act.tree_edit import _open_parent
from vhpi.decide.tree_compare import FILE

LIST_NAME = "new-files.list"
#: The one entry of a list that stands for every file in backup.latest (a first backup).
EVERYTHING = b"*"


class Recorded(NamedTuple):
    """What record_new_files did: files hashed, bytes read, seconds taken."""

    files: int
    size: int
    seconds: float


def new_files_path(layout: Layout) -> str:
    """Return the path of the list of the names the transfer wrote (see the docstring)."""
    return os.path.join(layout.own, LIST_NAME)


def keep_everything(layout: Layout) -> None:
    """Note that every file in backup.latest is new (a first backup)."""
    with open(new_files_path(layout), "wb") as handle:
        handle.write(EVERYTHING + b"\0")


def start_adding(layout: Layout, log: logging.Logger):
    """Before a transfer: open the destination's content index and mark it "adding";
    return it (None when it cannot be used: the backup goes on without checksums)."""
    from vhpi.act import content_index
    try:
        _remove(new_files_path(layout))
        index = content_index.open_index(layout.root)
        dropped = content_index.begin_adding(index, time.time())
    except Exception as error:  # sqlite3.Error or OSError: checksums are lost, not the backup
        log.warning("the checksums of this run cannot be recorded (%s); vhpi verify will "
                    "hash its new files later", error)
        return None
    if dropped:
        log.info("dropped %d checksums after an interrupted run: this file system keeps no "
                 "birth times, so a reused inode number cannot be told from the old file; "
                 "the next verify hashes those files afresh", dropped)
    return index


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _names(path: str) -> Tuple[bool, Iterator[bytes]]:
    """Return (everything, the regular-file names) of a new-files list (none: nothing new)."""
    if not os.path.exists(path):
        return False, iter(())
    entries = read_list(path)
    first = next(entries, None)
    if first is None or first == EVERYTHING:
        return first is not None, iter(())
    return False, (entry[1:] for entry in chain([first], entries) if entry[:1] == b"f")


def _opened_by_name(latest: str, names: Iterator[bytes]) -> Iterator[Tuple[int, tuple]]:
    """Yield (fd, facts) of every listed regular file, keeping the last parent folder open."""
    parent_path, parent_fd = None, None
    try:
        for name in names:
            folder, _, leaf = name.rpartition(b"/")
            if folder != parent_path:
                if parent_fd is not None:
                    os.close(parent_fd)
                    parent_fd = None
                parent_path = folder
                try:
                    parent_fd, _ = _open_parent(latest, name)
                except OSError:
                    continue
            if parent_fd is not None:
                yield from _opened(parent_fd, leaf)
    finally:
        if parent_fd is not None:
            os.close(parent_fd)


def _opened(folder_fd: int, name: bytes) -> Iterator[Tuple[int, tuple]]:
    """Yield (fd, facts) of the regular file `name` in `folder_fd` when it can be opened."""
    from vhpi.act.content_index import Facts
    try:
        fd = open_file(folder_fd, name)
    except OSError:
        return
    info = os.fstat(fd)
    yield fd, Facts(info.st_ino, info.st_size, info.st_mtime_ns, fd_birth_time_ns(fd))


def _opened_everywhere(latest: str) -> Iterator[Tuple[int, tuple]]:
    """Yield (fd, facts) of every regular file in backup.latest."""
    with OpenPath.open(latest, follow=False) as walk:
        for entries in walk_tree(walk, lambda path, error: None):
            for entry in entries:
                if entry.kind == FILE:
                    yield from _opened(walk.fd, entry.name)


def record_new_files(index, layout: Layout, log: logging.Logger) -> Optional[Recorded]:
    """After the new snapshots are on the disk: hash every new file the list names that has
    no valid record yet, record them and clear the "adding" mark in one commit; close the
    index. Return what was done (None: trouble, logged; the mark stays)."""
    from vhpi.act import content_index
    if index is None:
        return None
    started, done = time.monotonic(), [0, 0]
    now = time.time()

    def fresh(opened: Iterator[Tuple[int, tuple]]) -> Iterator[Tuple[int, tuple]]:
        for fd, facts in opened:
            if facts.size == 0 or content_index.look_up(index, facts) is not None:
                os.close(fd)
                continue
            yield fd, facts

    def keep(hashed: Hashed) -> None:
        if hashed.digest is not None:
            content_index.record(index, hashed.context, hashed.digest, now)
            done[0] += 1
            done[1] += hashed.read

    try:
        everything, names = _names(new_files_path(layout))
        everything = everything or content_index.must_look_everywhere(index)
        opened = _opened_everywhere(layout.latest) if everything else \
            _opened_by_name(layout.latest, names)
        hash_all(fresh(opened), keep)
        content_index.finish_adding(index)
        _remove(new_files_path(layout))
    except Exception as error:  # sqlite3.Error, OSError: the checksums are lost, not the backup
        log.warning("the checksums of this run's new files could not be recorded (%s); "
                    "vhpi verify will hash them later", error)
        return None
    finally:
        index.close()  # uncommitted records (after trouble) are dropped
    return Recorded(done[0], done[1], time.monotonic() - started)
