"""Re-pointing names to an identical inode without changing any snapshot, crash-safe.

One batch, with the destination locks held (vhpi.act.dedup_lock):

1. journal: for every destination the batch touches, DEST/.vhpi/dedup-journal.json lists
   each folder whose names will change, with its times (atime and mtime, ns), the inode of
   the folder and of its snapshot folder; written to a temporary name, fsynced, renamed,
   and the folder fsynced ("dedup-journaled");
2. per inode: every fact re-checked with lstat (each name still that inode, with the same
   size, mode, owner, group, mtime and ctime, and no name the listing did not see; the
   keeper still the same file with room for the names); then per name: the keeper linked
   to DEST/.vhpi/dedup.tmp ("dedup-temp-linked") and renamed over the name, an atomic
   replace ("dedup-renamed");
3. every journaled folder gets its times back and is fsynced ("dedup-times-restored"); the
   journal is removed ("dedup-batch-done").

A kill at any instant leaves each name either on its old inode or on the keeper, which
holds the same bytes and metadata: no snapshot loses or changes a file. What it may leave:
a folder whose mtime the rename moved, and a temporary name. vhpi.act.dedup_repair puts
both right; dedup calls it before its first batch, and a backup run should call it right
after taking a destination's lock (before it looks at or changes anything).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple

from vhpi.act.checkpoints import checkpoint
from vhpi.act.dedup_repair import (JOURNAL, TEMP, fsync_folder, own_folder, restore_entry,
                                   open_folder, write_journal)
from vhpi.act.dedup_listing import Name
from vhpi.act.fd_walk import DIR_FLAGS, OpenPath

#: Where the crash tests can stop a dedup (vhpi.act.checkpoints), in the order a batch
#: reaches them.
DEDUP_CHECKPOINTS = ("dedup-hashed", "dedup-journaled", "dedup-temp-linked", "dedup-renamed",
                     "dedup-times-restored", "dedup-batch-done")


class Facts(NamedTuple):
    """What must still hold of an inode when its names are re-pointed (from the listing)."""

    ino: int
    size: int
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    ctime_ns: int
    links: int


class Item(NamedTuple):
    """One planned move: every name of inode `dup` onto the inode of `keeper_name`; `blocks`
    is what the dup's inode holds on disk (bytes)."""

    dup: Facts
    names: List[Name]
    keeper: Facts
    keeper_name: Name
    blocks: int


@dataclass
class BatchResult:
    """What one batch did."""

    linked: int = 0
    freed: int = 0
    freed_bytes: int = 0
    skipped: int = 0


Folder = Tuple[int, bytes, int, bytes]  # destination number, snapshot, its inode, path below


def _text(data: bytes) -> str:
    return os.fsdecode(data)


def _folder_entries(roots: List[str], folders: Iterable[Folder]) -> Dict[int, List[list]]:
    """Return, per destination number, the journal entries of the `folders` that can be
    opened: [snapshot, its inode, path below, folder inode, atime_ns, mtime_ns]."""
    entries: Dict[int, List[list]] = {}
    for dest, top, top_ino, below in folders:
        try:
            with open_folder(roots[dest], top, top_ino, below) as walk:
                info = os.fstat(walk.fd)
        except OSError:
            continue
        entries.setdefault(dest, []).append(
            [_text(top), top_ino, _text(below), info.st_ino, info.st_atime_ns, info.st_mtime_ns])
    return entries


def _same(info: os.stat_result, facts: Facts, links: Optional[int] = None) -> bool:
    return ((info.st_ino, info.st_size, info.st_mode, info.st_uid, info.st_gid, info.st_mtime_ns)
            == (facts.ino, facts.size, facts.mode, facts.uid, facts.gid, facts.mtime_ns)
            and (links is None or info.st_nlink == links))


def _lstat_name(roots: List[str], name: Name) -> Optional[os.stat_result]:
    try:
        with open_folder(roots[name.dest], name.top, name.top_ino, name.below) as walk:
            return os.lstat(name.name, dir_fd=walk.fd)
    except OSError:
        return None


def _still_true(roots: List[str], item: Item, cap: int) -> bool:
    """True when, under the lock, every fact the move relies on still holds."""
    keeper = _lstat_name(roots, item.keeper_name)
    if keeper is None or not _same(keeper, item.keeper) or keeper.st_nlink + len(item.names) > cap:
        return False
    for name in item.names:
        info = _lstat_name(roots, name)
        if (info is None or not _same(info, item.dup, links=len(item.names))
                or info.st_ctime_ns != item.dup.ctime_ns):
            return False
    return True


def _replace(roots: List[str], keeper: OpenPath, keeper_name: bytes, name: Name) -> None:
    """Make `name` a name of the keeper's inode: link the keeper to DEST/.vhpi/dedup.tmp,
    then rename that over `name` (raises OSError; the temporary name is gone then)."""
    root = roots[name.dest]
    own_fd = os.open(own_folder(root), DIR_FLAGS)
    try:
        os.link(keeper_name, TEMP, src_dir_fd=keeper.fd, dst_dir_fd=own_fd, follow_symlinks=False)
        checkpoint("dedup-temp-linked")
        try:
            with open_folder(root, name.top, name.top_ino, name.below) as walk:
                os.rename(TEMP, name.name, src_dir_fd=own_fd, dst_dir_fd=walk.fd)
        except OSError:
            os.unlink(TEMP, dir_fd=own_fd)
            raise
        checkpoint("dedup-renamed")
    finally:
        os.close(own_fd)


def _move(roots: List[str], item: Item, cap: int, result: BatchResult) -> None:
    """Re-point every name of one duplicate inode (see the module docstring, step 2)."""
    if not _still_true(roots, item, cap):
        result.skipped += 1
        return
    done = 0
    keeper = item.keeper_name
    try:
        with open_folder(roots[keeper.dest], keeper.top, keeper.top_ino, keeper.below) as walk:
            for name in item.names:
                _replace(roots, walk, keeper.name, name)
                done += 1
    except OSError as error:
        if error.errno not in (errno.EMLINK, errno.ENOENT, errno.ESTALE, errno.ENOSPC):
            raise
        result.skipped += 1
    result.linked += done
    if done == len(item.names):
        result.freed += 1
        result.freed_bytes += item.blocks


def link_batch(roots: List[str], items: List[Item], cap: int,
               out_of_time: Callable[[], bool]) -> Tuple[BatchResult, List[Item]]:
    """Carry out `items` (the destination locks of `roots` held): journal, moves, times back,
    journal gone; no move starts once `out_of_time()` says so. Return what was done and
    the items left for the next batch. Raises OSError when a destination's own folder
    cannot be written (the journal then says what to put right)."""
    folders = {(name.dest, name.top, name.top_ino, name.below) for item in items for name in item.names}
    journals = _folder_entries(roots, sorted(folders))
    for dest, entries in journals.items():
        write_journal(roots[dest], entries)
    checkpoint("dedup-journaled")
    result = BatchResult()
    done = 0
    for item in items:
        if done and out_of_time():
            break
        _move(roots, item, cap, result)
        done += 1
    for dest, entries in journals.items():
        for entry in entries:
            restore_entry(roots[dest], entry)
    checkpoint("dedup-times-restored")
    for dest in journals:
        os.unlink(os.path.join(own_folder(roots[dest]), JOURNAL))
        fsync_folder(own_folder(roots[dest]))
    checkpoint("dedup-batch-done")
    return result, items[done:]
