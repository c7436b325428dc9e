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
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import BinaryIO, Dict, List, Optional, Sequence

from vhpi.act.layout import Layout
from vhpi.act.moves import (copy_from_disk, intact_records, link_moves, probe_share,
                            read_identities, rows_of_copies, unlink_names, walk_share)
from vhpi.act.pinned import list_line, read_list
from vhpi.act.processes import Limits
from vhpi.act.rsync_pass import run_rsync
from vhpi.act.source_ids import (fact, forget, forget_all, opened_store, record, recorded_at,
                                 set_fact, store_path)
from vhpi.config.model import Job
from vhpi.decide.moves import Move, find_moves, moved_bytes
from vhpi.decide.rsync_argv import check_argv
from vhpi.decide.rsync_options import keeps_times

#: A failed first recording of backup.latest (a share too slow to walk in time) is tried
#: again after this many seconds, not on every run.
FILL_RETRY_AFTER = 24 * 3600


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


def _rewrite_copy_list(copy_list: str, leave_out: set) -> None:
    """Write the copy list anew from its full copy (_all_copies), without `leave_out`."""
    with open(copy_list, "wb") as out:
        for entry in read_list(_all_copies(copy_list)):
            if entry[1:] not in leave_out:
                out.write(entry + b"\0")


def _candidate_moves(job: Job, layout: Layout, log: logging.Logger, deleted: List[bytes],
                     added: List[bytes]) -> List[Move]:
    """The moves among the deleted and added files, checked against backup.latest."""
    with opened_store(layout, log) as store:
        if store is None:
            return []
        recorded = intact_records(layout.latest, recorded_at(store, deleted))
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
        for path in (asked, answered):
            if os.path.exists(path):
                os.unlink(path)


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
    the copy list; return them."""
    deleted = _files_of(delete_list)
    added = _files_of(copy_list) if deleted else []
    moves = _candidate_moves(job, layout, log, deleted, added) if added else []
    if not moves:
        return MovedFiles()
    linked = link_moves(layout.latest, moves)
    differing = _differing(job, layout, log, linked) if linked else set()
    if differing is None:
        unlink_names(layout.latest, [move.new for move in linked])
        return MovedFiles()
    moved = MovedFiles([move for move in linked if move.new not in differing],
                       [move for move in linked if move.new in differing])
    os.replace(copy_list, _all_copies(copy_list))
    _rewrite_copy_list(copy_list, {move.new for move in linked})
    return moved


#: Work files of these steps; a run cut short may leave them (see clear_leftovers).
WORK_FILES = ("probe.list", "probe.ids", "moved.list", "copied.ids", "share.ids",
              "moved-copy.tmp", "copy.list.all")


def clear_leftovers(layout: Layout) -> None:
    """Remove the work files of these steps that a run cut short left."""
    for name in WORK_FILES:
        try:
            os.unlink(os.path.join(layout.work, name))
        except FileNotFoundError:
            pass


def after_room_is_made(layout: Layout, moved: MovedFiles, copy_list: str) -> None:
    """Step 2 (see the top)."""
    if not moved.count:
        return
    copy_from_disk(layout.latest, layout.work, [move.new for move in moved.recopied])
    _rewrite_copy_list(copy_list, {move.new for move in moved.kept})
    os.unlink(_all_copies(copy_list))


@dataclass
class Changes:
    """What a transfer changed in backup.latest, for the store: the list files of the
    dry run (delete, copy, links) and the identities its copy passes recorded."""

    lists: Dict[str, str]
    identities: str
    moved: MovedFiles
    anything: bool = True   # False: the dry run listed nothing to delete, copy or link


def open_identities(layout: Layout, stack: ExitStack) -> BinaryIO:
    """Open the work file the copy passes write each copy's identity on the share to."""
    return stack.enter_context(open(os.path.join(layout.work, "copied.ids"), "wb"))


def remember(job: Job, layout: Layout, log: logging.Logger, changes: Optional[Changes],
             complete: bool) -> None:
    """Step 3 (see the top). `changes` None: backup.latest was mirrored in one plain pass
    (every row is forgotten). `complete`: the transfer succeeded (only then is
    backup.latest recorded in full the first time). An hourly run that changed nothing
    does not even open the store (once it exists)."""
    if changes is not None and not changes.anything and os.path.exists(store_path(layout)):
        return
    with opened_store(layout, log) as store:
        if store is None:
            return
        if changes is None:
            forget_all(store)
        else:
            _learn(store, job, layout, changes)
        if complete and fact(store, "filled") is None:
            _fill(store, job, layout, log)


def _learn(store, job: Job, layout: Layout, changes: Changes) -> None:
    lists = changes.lists
    forget(store, (entry[1:] for entry in read_list(lists["delete"])), below=True)
    forget(store, (entry[1:] for entry in read_list(lists["copy"])))
    forget(store, (name for index, name in enumerate(read_list(lists["links"])) if index % 2 == 0))
    times_kept = keeps_times(job.rsync_options)
    if os.path.exists(changes.identities):
        record(store, rows_of_copies(layout.latest, read_identities(changes.identities), times_kept))
    moves = changes.moved.kept + changes.moved.recopied
    record(store, rows_of_copies(layout.latest, ((move.new, move.old.source) for move in moves),
                                 times_kept))


def _fill(store, job: Job, layout: Layout, log: logging.Logger) -> None:
    """Record every file of backup.latest whose size and modification time are those of
    the share's file at its path (the share is walked once, in a child)."""
    if not keeps_times(job.rsync_options):
        return  # a copy's time is not the share's: nothing tells which file it came from
    failed_at = fact(store, "fill_failed_at")
    if failed_at is not None and time.time() - float(failed_at) < FILL_RETRY_AFTER:
        return
    walked = os.path.join(layout.work, "share.ids")
    try:
        if not walk_share(job.source, walked, max(job.source_timeout, 60.0)):
            log.debug("moved files: backup.latest could not be recorded this time (the share's "
                      "inode numbers do not last, or it was slow)")
            set_fact(store, "fill_failed_at", f"{time.time():.0f}")
            return
        record(store, rows_of_copies(layout.latest, read_identities(walked), True))
        set_fact(store, "filled", "1")
        set_fact(store, "fill_failed_at", None)
    finally:
        if os.path.exists(walked):
            os.unlink(walked)
