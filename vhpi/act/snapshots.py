"""Making snapshots on disk: link a tree, make room by rotating, put it in place.

Every step is a rename within the destination, and nothing is ever named `<interval>.<n>`
before it is complete:

    cp -al backup.latest  .vhpi/work/building.<interval>          (may be cut short)
    rename building -> .vhpi/work/ready.<interval>@<time>          (complete from here on)
    rename the oldest <interval>.<n> -> .vhpi/work/trash.<...>     (drop, if the keep count says so)
    rename <interval>.<n> -> <interval>.<n+1>, highest first
    record <time> for <interval> in state.json
    rename ready -> <interval>.0

A crash anywhere leaves either an unfinished `building.*` (deleted on the next run) or a
`ready.*` tree, for which the next run computes the rotation plan again from the names
that exist and finishes it (see vhpi.decide.rotation); a `trash.<interval>.*` folder
still there tells it that the rotation's one drop has happened. The trash is emptied
only after every ready tree is in place.
"""

from __future__ import annotations

import errno
import logging
import os
from typing import Dict, Iterable, List, Optional, Tuple

from vhpi.act.checkpoints import checkpoint
from vhpi.act.files import fsync_folder
from vhpi.act.layout import LINK_PROBE, Layout
from vhpi.act.link_limit import LINK_LIMIT_MESSAGE, UNSHARE_SCRATCH, unshare_files_at_link_limit
from vhpi.act.processes import run_streaming
from vhpi.act.relink import Differences, RelinkCounts, relink_known, relink_tree
from vhpi.act.tree_edit import remove_tree
from vhpi.decide.recycling import room_is_ample
from vhpi.decide.rotation import RotationPlan, plan_rotation
from vhpi.decide.rsync_result import disk_full_in
from vhpi.decide.snapshot_names import snapshot_name, snapshot_numbers
from vhpi.decide.work_names import (BUILDING, SET_ASIDE, TRASH, building_name, dropped_trash_name,
                                    has_pending_drop, keeps_contents_only, pending_recycled,
                                    ready_by_time, ready_name, recycled_trash_name, set_aside_name)


class SnapshotError(Exception):
    """Making a snapshot failed; the message is for info.log."""


def ready_trees(layout: Layout) -> List[Tuple[str, float, str]]:
    """Return (interval, time, path) of every complete tree waiting to be put in place,
    oldest first."""
    return [(interval, taken_at, os.path.join(layout.work, name))
            for interval, taken_at, name in ready_by_time(_work_names(layout))]


def _work_names(layout: Layout) -> List[str]:
    try:
        return os.listdir(layout.work)
    except FileNotFoundError:
        return []


def discard_unfinished(layout: Layout, log: logging.Logger) -> List[str]:
    """Delete trees that a crash cut short while they were being linked (and retry the
    ones set aside before, see remove_or_set_aside); return the names of those removed."""
    removed = []
    for name in _work_names(layout):
        if name.startswith((BUILDING, UNSHARE_SCRATCH, SET_ASIDE, LINK_PROBE)):
            if remove_or_set_aside(layout, os.path.join(layout.work, name), log):
                removed.append(name)
    return removed


def remove_or_set_aside(layout: Layout, path: str, log: logging.Logger) -> bool:
    """Delete the work tree `path`; when that fails (a damaged file system, a folder the
    user cannot delete), rename it to `set-aside.<name>`, which no later step reads, and
    warn: a leftover that cannot be deleted must never block every later run. Returns
    True when it was deleted."""
    try:
        remove_tree(path)
        return True
    except (OSError, RecursionError) as error:
        name = os.path.basename(path)
        aside = set_aside_name(name, os.getpid())
        reason = getattr(error, "strerror", None) or str(error)
        try:
            if aside != name:
                os.rename(path, os.path.join(layout.work, aside))
        except OSError:
            aside = name
        log.warning("%s: cannot delete %s (%s); it is left as %s, and vhpi goes on without "
                    "it. Delete it by hand: rm -rf %s", layout.root, name, reason, aside,
                    os.path.join(layout.work, aside))
        return False


def _copy_with_links(latest: str, building: str, log: logging.Logger) -> Tuple[int, Tuple[str, ...]]:
    """Run `cp -al`; on failure remove what it made. Return (exit code, last lines)."""
    remove_tree(building)
    argv = ("cp", "-al", "--", latest, building)
    log.debug("running: %r", list(argv))
    finished = run_streaming(argv, lambda line: log.debug("cp: %s", line.decode("utf-8", "replace")),
                             tail_lines=200)
    if not finished.ok:
        remove_tree(building)
    return finished.code, finished.tail


def _unshare_at_link_limit(layout: Layout, log: logging.Logger) -> None:
    """Give backup.latest fresh inodes for the files at the link limit, and say so."""
    count = unshare_files_at_link_limit(layout.latest, layout.work, log)
    log.warning("%s: %d file(s) had reached the file system's hard-link limit; backup.latest "
                "got fresh copies of them (older snapshots keep theirs)", layout.root, count)


def link_tree(layout: Layout, interval: str, taken_at: float, log: logging.Logger) -> str:
    """Hard-link a copy of backup.latest into the work folder; return the ready tree's path.

    Raises SnapshotError (and leaves no partial tree behind) when cp fails, e.g. on a full
    disk, out of inodes, or at the file system's hard-link limit.
    """
    building = os.path.join(layout.work, building_name(interval))
    code, tail = _copy_with_links(layout.latest, building, log)
    if code != 0 and any(LINK_LIMIT_MESSAGE in line for line in tail):
        _unshare_at_link_limit(layout, log)
        code, tail = _copy_with_links(layout.latest, building, log)
    if code != 0:
        if disk_full_in(tail):
            raise SnapshotError("the destination disk is full (no space or no inodes left) "
                                f"while linking the {interval} snapshot")
        detail = "; ".join(tail[-3:]) or f"exit code {code}"
        raise SnapshotError(f"linking the {interval} snapshot failed: {detail}")
    return declare_ready(layout, building, interval, taken_at)


def pending_recycled_drops(layout: Layout, recorded: Dict[str, float]) -> List[str]:
    """Return the intervals whose recycling rotation dropped the oldest snapshot but never
    recorded its new one: a crash came between the drop and the state update. Their next
    rotation must drop nothing (see make_room and vhpi.decide.work_names.pending_recycled)."""
    return pending_recycled(_work_names(layout), recorded)


def has_room_to_recycle(layout: Layout) -> bool:
    """True when the destination has clearly enough free space and inodes to recycle
    (the thresholds: vhpi.decide.recycling)."""
    return room_is_ample(os.statvfs(layout.root))


def recycle_oldest(layout: Layout, interval: str, oldest: int, taken_at: float,
                   log: logging.Logger, known: Optional[Differences] = None) -> str:
    """Turn `<interval>.<oldest>`, the snapshot this rotation drops, into the new one: move
    it into the work folder and relink it to match backup.latest (vhpi.act.relink), instead
    of deleting one tree and linking another. Returns the ready tree's path. `known`: where
    it differs from backup.latest, found while rsync looked (vhpi.act.head_start.take_look,
    which says when they still hold); only those folders are visited then.

    The dropped snapshot is renamed to `trash.<interval>.recycled`, which also tells a
    recovery run that this rotation's drop is done; its top-level entries then move into a
    new `building.<interval>` folder, so the new snapshot never has the dropped one's
    folder. A crash from here on leaves trash and building trees that the next run deletes:
    that is the snapshot the rotation was dropping anyway.
    """
    trash = os.path.join(layout.work, recycled_trash_name(interval, taken_at))
    building = os.path.join(layout.work, building_name(interval))
    remove_tree(trash)
    remove_tree(building)
    os.rename(layout.snapshot(snapshot_name(interval, oldest)), trash)
    fsync_folder(layout.root)
    checkpoint("dropped")
    os.mkdir(building)
    for name in os.listdir(trash):
        os.rename(os.path.join(trash, name), os.path.join(building, name))
    try:
        counts = _relink(layout.latest, building, known, log)
    except OSError as error:
        if error.errno != errno.EMLINK:
            raise
        _unshare_at_link_limit(layout, log)
        counts = relink_tree(layout.latest, building)
    log.debug("recycled %s.%d: %d entries kept, %d linked anew, %d removed%s", interval, oldest,
              counts.kept, counts.linked, counts.removed,
              "" if known is None else " (visiting the folders found to differ while rsync looked)")
    return declare_ready(layout, building, interval, taken_at)


def _relink(latest: str, building: str, known: Optional[Differences], log: logging.Logger) -> RelinkCounts:
    """Relink `building` to match `latest`, visiting only the folders in `known` when given;
    should that fail (it cannot, unless something changed a tree meanwhile), walk everything.
    Raises OSError (EMLINK: a file at the hard-link limit)."""
    if known is not None:
        try:
            return relink_known(latest, building, known)
        except OSError as error:
            if error.errno == errno.EMLINK:
                raise
            log.debug("relinking the folders found to differ failed (%s); walking everything", error)
    return relink_tree(latest, building)


def declare_ready(layout: Layout, building: str, interval: str, taken_at: float) -> str:
    """Flush the finished tree to disk and rename it to its ready name; return that path."""
    checkpoint("linked")
    os.sync()
    ready = os.path.join(layout.work, ready_name(interval, taken_at))
    os.rename(building, ready)
    fsync_folder(layout.work)
    checkpoint("ready")
    return ready


def make_room(layout: Layout, interval: str, keep: int) -> RotationPlan:
    """Drop the oldest snapshot if the keep count says so and shift the others up by one,
    leaving `<interval>.0` free. Safe to run again after a crash part-way through: a
    dropped snapshot still in the trash means this rotation's drop is done already."""
    plan = plan_rotation(interval, snapshot_numbers(os.listdir(layout.root), interval), keep,
                         drop_is_pending(layout, interval))
    for number in plan.drops:
        trash = os.path.join(layout.work, dropped_trash_name(interval, number, os.getpid()))
        os.rename(layout.snapshot(snapshot_name(interval, number)), trash)
        checkpoint("dropped")
    for old, new in plan.renames:
        os.rename(layout.snapshot(snapshot_name(interval, old)),
                  layout.snapshot(snapshot_name(interval, new)))
        checkpoint("renamed")
    fsync_folder(layout.root)
    return plan


def put_in_place(layout: Layout, ready: str, interval: str) -> None:
    """Rename the ready tree to `<interval>.0` (make_room must have freed the name)."""
    os.rename(ready, layout.snapshot(snapshot_name(interval, 0)))
    fsync_folder(layout.root)
    checkpoint("placed")


def drop_is_pending(layout: Layout, interval: str) -> bool:
    """True when a rotation of `interval` has dropped its oldest snapshot but its new
    snapshot is not in place yet (its trash folder is still there)."""
    return has_pending_drop(_work_names(layout), interval)


def empty_trash(layout: Layout, log: logging.Logger, pending: Iterable[str] = ()) -> None:
    """Delete the snapshots that rotations dropped. For the intervals in `pending` (dropped
    by recycling, but the new snapshot never got made) only the contents go: the empty
    `trash.<interval>.recycled` folder stays as the sign that this rotation's drop is done,
    so that the run that makes the snapshot drops nothing more."""
    pending = tuple(pending)
    for name in _work_names(layout):
        if not name.startswith(TRASH):
            continue
        path = os.path.join(layout.work, name)
        log.debug("deleting dropped snapshot %s", name)
        if keeps_contents_only(name, pending):
            for entry in os.listdir(path):
                remove_or_set_aside(layout, os.path.join(path, entry), log)
        else:
            remove_or_set_aside(layout, path, log)
