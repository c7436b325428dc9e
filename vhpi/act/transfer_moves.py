"""The transfer's steps for moved and renamed files (vhpi.decide.moves), around the copy
passes of vhpi.act.transfer:

1. find_and_link, after the dry run listed what to delete and copy: the deleted files
   whose recorded copy is still in backup.latest, and the new files of the share whose
   identity is one of theirs, are the moves. Each new name gets the inode of its old name.
   An rsync dry run over just those names then says which of them differ in any attribute
   the job's options keep (mode, owner, group, times, ACLs, xattrs: rsync's own judgement,
   whatever the options and the user): the others are left out of the copy. The copy list
   now leaves out every linked name, so that making room for rsync keeps them.
2. after_room_is_made: each linked name whose attributes differ becomes a copy of that
   inode read from the backup disk (the old inode, which snapshots share, is never given
   other attributes) and goes back into the copy list: rsync finds its content up to date
   and only sets its attributes, reading no file data from the share.
3. remember, after the copy: the store of identities (vhpi.act.source_ids) learns what the
   run deleted, copied and linked; the first time, it records every file of backup.latest
   (one walk of the share).

Anything unexpected in steps 1 and 3 (the share's answer, the store) only costs the gain:
the files are copied as without this.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Dict, List, Optional, Sequence

from vhpi.act.layout import Layout
from vhpi.act.moves import (copy_from_disk, intact_records, link_moves, probe_share,
                            read_identities, rows_of_copies, unlink_names, walk_share)
from vhpi.act.pinned import list_line, read_list, read_pairs
from vhpi.act.processes import Limits
from vhpi.act.rsync_pass import run_rsync
from vhpi.config.model import Job
from vhpi.decide.moves import Move, find_moves, moved_bytes
from vhpi.decide.rsync_argv import check_argv
from vhpi.decide.rsync_options import keeps_times

#: A failed first recording of backup.latest (a share too slow to walk in time) is tried
#: again after this many seconds, not on every run.
FILL_RETRY_AFTER = 24 * 3600


def _trouble() -> tuple:
    """The errors that cost only the gain: the disk's (OSError) and the store's."""
    import sqlite3
    return (OSError, sqlite3.Error)


def _store():
    """The store module (vhpi.act.source_ids), imported only when a run needs it: with it
    sqlite3, which an hourly run that changed nothing never loads."""
    from vhpi.act import source_ids
    return source_ids


@dataclass
class MovedFiles:
    """The moves a transfer linked: `kept` are the same in every attribute (not copied at
    all), `recopied` differ in some attribute (copied from the backup disk)."""

    kept: List[Move] = field(default_factory=list)
    recopied: List[Move] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.kept) + len(self.recopied)

    @property
    def size(self) -> int:
        return moved_bytes(self.kept) + moved_bytes(self.recopied)


def _files_of(path: str) -> List[bytes]:
    """The regular-file entries (b'f' + path) of a delete or copy list, without the kind."""
    return [entry[1:] for entry in read_list(path) if entry[:1] == b"f"]


def _write_list(path: str, entries: Sequence[bytes], for_rsync: bool = False) -> None:
    """Write NUL-separated entries (for rsync's --files-from: see vhpi.act.pinned.list_line)."""
    with open(path, "wb") as out:
        for entry in entries:
            out.write((list_line(entry) if for_rsync else entry) + b"\0")


def _all_copies(copy_list: str) -> str:
    return copy_list + ".all"


def _final_copies(copy_list: str) -> str:
    return copy_list + ".final"


def _write_without(source_list: str, target: str, leave_out: set) -> None:
    """Write to `target` the entries of the list `source_list` but those in `leave_out`."""
    with open(target, "wb") as out:
        for entry in read_list(source_list):
            if entry[1:] not in leave_out:
                out.write(entry + b"\0")


def _candidate_moves(job: Job, layout: Layout, log: logging.Logger, deleted: List[bytes],
                     added: List[bytes]) -> List[Move]:
    """The moves among the deleted and added files, checked against backup.latest."""
    source_ids = _store()
    with source_ids.opened_store(layout, log) as store:
        if store is None:
            return []
        recorded = intact_records(layout.latest, source_ids.recorded_at(store, deleted))
    if not recorded:
        return []
    asked, answered = os.path.join(layout.work, "probe.list"), os.path.join(layout.work, "probe.ids")
    _write_list(asked, added)
    try:
        if not probe_share(job.source, asked, answered, job.source_timeout):
            log.debug("moved files: the share's inode numbers do not last (or it did not "
                      "answer): new files are copied")
            return []
        return find_moves(recorded, read_identities(answered))
    finally:
        _remove(asked)
        _remove(answered)


def _differing(job: Job, layout: Layout, log: logging.Logger, linked: List[Move]) -> Optional[set]:
    """Return the linked new names whose attributes rsync would change (None: rsync's
    check failed, e.g. a file vanished)."""
    listed = os.path.join(layout.work, "moved.list")
    _write_list(listed, [move.new for move in linked], for_rsync=True)
    differing: set = set()

    def on_item(item) -> None:
        if not item.is_dir:
            differing.add(item.path)
    try:
        checked = run_rsync(check_argv(job.rsync_options, job.excludes, job.source,
                                       layout.latest, listed),
                            log, Limits(stall_after=job.source_timeout), on_item)
    finally:
        os.unlink(listed)
    return differing if checked.code == 0 else None


def find_and_link(job: Job, layout: Layout, log: logging.Logger, delete_list: str,
                  copy_list: str) -> MovedFiles:
    """Step 1 (see the top): link the moved files into backup.latest and take them out of
    the copy list; return them. Trouble of any kind (a full disk, the store) costs only the
    gain: the copy list is then left whole, and every name linked here is in it, so it is
    removed to make room for rsync and copied as without this."""
    try:
        return _find_and_link(job, layout, log, delete_list, copy_list)
    except _trouble() as error:
        log.debug("moved files: not linked this time (%s): new files are copied", error)
        _remove(_final_copies(copy_list))
        return MovedFiles()


def _find_and_link(job: Job, layout: Layout, log: logging.Logger, delete_list: str,
                   copy_list: str) -> MovedFiles:
    deleted = _files_of(delete_list)
    added = _files_of(copy_list) if deleted else []
    moves = _candidate_moves(job, layout, log, deleted, added) if added else []
    if not moves:
        return MovedFiles()
    linked = link_moves(layout.latest, moves)
    differing = _differing(job, layout, log, linked) if linked else set()
    if differing is None:
        return MovedFiles()
    moved = MovedFiles([move for move in linked if move.new not in differing],
                       [move for move in linked if move.new in differing])
    # both lists are written before the copy list is swapped: a full disk stops it here
    final, first = _final_copies(copy_list), copy_list + ".moved"
    _write_without(copy_list, final, {move.new for move in moved.kept})
    _write_without(copy_list, first, {move.new for move in linked})
    os.replace(copy_list, _all_copies(copy_list))
    os.replace(first, copy_list)
    return moved


def _remove(path: Optional[str]) -> None:
    """Remove the work file `path` if it is there (None: there is none)."""
    if path is None:
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


#: Work files of these steps; a run cut short may leave them (see clear_leftovers).
WORK_FILES = ("probe.list", "probe.ids", "moved.list", "copied.ids", "share.ids",
              "moved-copy.tmp", "copy.list.all", "copy.list.final", "copy.list.moved")


def clear_leftovers(layout: Layout) -> None:
    """Remove the work files of these steps that a run cut short left."""
    for name in WORK_FILES:
        _remove(os.path.join(layout.work, name))


def after_room_is_made(layout: Layout, log: logging.Logger, moved: MovedFiles,
                       copy_list: str) -> None:
    """Step 2 (see the top). Should the copies from the backup disk fail (a full disk),
    the names that needed them are taken out again and copied from the share: none is
    left on an inode that snapshots share while rsync is to set its attributes."""
    if not moved.count:
        return
    recopied = [move.new for move in moved.recopied]
    try:
        copy_from_disk(layout.latest, layout.work, recopied)
    except OSError as error:
        log.debug("moved files: %d with new attributes could not be copied from the backup "
                  "disk (%s): they are copied from the share", len(recopied), error)
        unlink_names(layout.latest, recopied)
        moved.recopied = []
    os.replace(_final_copies(copy_list), copy_list)
    _remove(_all_copies(copy_list))


@dataclass
class Changes:
    """What a transfer changed in backup.latest, for the store: the list files of the
    dry run (delete, copy, links) and the identities its copy passes recorded."""

    lists: Dict[str, str]
    identities: Optional[str]   # None: not recorded whole
    moved: MovedFiles
    anything: bool = True   # False: the dry run listed nothing to delete, copy or link


def _identities_path(layout: Layout) -> str:
    return os.path.join(layout.work, "copied.ids")


def open_identities(layout: Layout) -> Optional[BinaryIO]:
    """Open the work file the copy passes write each copy's identity on the share to
    (vhpi.act.moves.write_identity); None when it cannot be made (a full disk)."""
    try:
        return open(_identities_path(layout), "wb")
    except OSError:
        return None


def close_identities(handle: Optional[BinaryIO]) -> Optional[str]:
    """Close the file open_identities gave; return its path, or None when it was not
    written whole (it is then removed)."""
    if handle is None:
        return None
    if not handle.closed:
        try:
            handle.close()
            return handle.name
        except OSError:
            pass
    _remove(handle.name)
    return None


def remember(job: Job, layout: Layout, log: logging.Logger, changes: Optional[Changes],
             complete: bool) -> None:
    """Step 3 (see the top). `changes` None: backup.latest was mirrored in one plain pass
    (every row is forgotten). `complete`: the transfer succeeded (only then is
    backup.latest recorded in full the first time). An hourly run that changed nothing
    does not even open the store (once it exists)."""
    if changes is not None and not changes.anything and os.path.exists(layout.source_ids):
        _remove(changes.identities)
        return
    try:
        _remember(job, layout, log, changes, complete)
    except _trouble() as error:  # a full disk: the store only makes runs cheaper
        log.debug("moved files: the store of moved files was not updated (%s)", error)


def _remember(job: Job, layout: Layout, log: logging.Logger, changes: Optional[Changes],
              complete: bool) -> None:
    source_ids = _store()
    with source_ids.opened_store(layout, log) as store:
        if store is None:
            return
        if changes is None:
            source_ids.forget_all(store)
        else:
            _learn(source_ids, store, job, layout, changes)
        if complete and source_ids.fact(store, "filled") is None:
            _fill(source_ids, store, job, layout, log)


def _learn(source_ids, store, job: Job, layout: Layout, changes: Changes) -> None:
    """Tell the store what the transfer deleted, copied and linked."""
    lists = changes.lists
    source_ids.forget(store, (entry[1:] for entry in read_list(lists["delete"])), below=True)
    source_ids.forget(store, (entry[1:] for entry in read_list(lists["copy"])))
    source_ids.forget(store, (name for name, _ in read_pairs(lists["links"])))
    times_kept = keeps_times(job.rsync_options)
    if changes.identities is not None:
        source_ids.record(store, rows_of_copies(layout.latest, read_identities(changes.identities),
                                                times_kept))
        _remove(changes.identities)
    moves = changes.moved.kept + changes.moved.recopied
    source_ids.record(store, rows_of_copies(layout.latest,
                                            ((move.new, move.old.source) for move in moves),
                                            times_kept))


def _fill(source_ids, store, job: Job, layout: Layout, log: logging.Logger) -> None:
    """Record every file of backup.latest whose size and modification time are those of
    the share's file at its path (the share is walked once, in a child)."""
    if not keeps_times(job.rsync_options):
        return  # a copy's time is not the share's: nothing tells which file it came from
    failed_at = source_ids.fact(store, "fill_failed_at")
    if failed_at is not None and time.time() - float(failed_at) < FILL_RETRY_AFTER:
        return
    walked = os.path.join(layout.work, "share.ids")
    try:
        if not walk_share(job.source, walked, max(job.source_timeout, 60.0)):
            log.debug("moved files: backup.latest could not be recorded this time (the share's "
                      "inode numbers do not last, or it was slow)")
            source_ids.set_fact(store, "fill_failed_at", f"{time.time():.0f}")
            return
        source_ids.record(store, rows_of_copies(layout.latest, read_identities(walked), True))
        source_ids.set_fact(store, "filled", "1")
        source_ids.set_fact(store, "fill_failed_at", None)
    finally:
        _remove(walked)
