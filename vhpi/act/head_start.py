"""Linking the new snapshot while rsync is still looking for changes.

When the first due interval's snapshot will be made with `cp -al` (not by recycling),
`cp -al backup.latest .vhpi/work/building.<interval>` starts before rsync's dry run: the
dry run only reads backup.latest, so both can run at once. The copy must be complete
before anything in backup.latest changes (wait_for_head_start, called between the dry run
and the first change). After the transfer the early tree is brought up to date with
relink_tree, which touches only what differs, or taken as it is when the transfer changed
nothing. On any trouble the early tree is thrown away and link_tree makes one the usual
way, with its error reporting. It is not used on a nearly full disk (below the free space
and inodes recycling asks for), where the transfer must get the last inodes first. A crash leaves `building.<interval>`, which the next run
deletes like any unfinished tree.

When the first due interval's snapshot will be recycled from the one its rotation drops
(vhpi.act.snapshots.recycle_oldest), nothing may touch that snapshot before the transfer
has succeeded; but both it and backup.latest can be read during the dry run. A child
(vhpi.act.relink_look) then finds the folders where the expiring snapshot differs from
backup.latest, and when the transfer changed nothing the recycling visits only those
(vhpi.act.relink.relink_known) instead of walking both trees after the transfer. When the
transfer changed something, or the look failed, recycling walks everything as before. The
look writes `building.<interval>.look`, deleted once read (or by the next run, like any
unfinished work).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional, Tuple, Union

from vhpi.act.layout import Layout
from vhpi.act.processes import BackgroundProcess, finish_background, start_in_background, stop_background
from vhpi.act.relink import Differences, relink_tree
from vhpi.act.relink_look import child_argv, read_differences
from vhpi.act.tree_edit import remove_tree
from vhpi.decide.snapshot_names import snapshot_name
from vhpi.decide.work_names import building_name

#: How the look's file is named: after the tree the recycling builds.
LOOK_SUFFIX = ".look"


@dataclass
class HeadStart:
    """An early `cp -al` for `interval` into `building`; complete once it ended with 0."""

    interval: str
    building: str
    child: Optional[BackgroundProcess] = None
    complete: bool = False


@dataclass
class RecycleLook:
    """A child finding how `<interval>.<oldest>` (its top folder: `identity`, st_dev and
    st_ino) differs from backup.latest, writing to `output`; `differences` once it ended well."""

    interval: str
    snapshot: str
    identity: Tuple[int, int]
    output: str
    child: Optional[BackgroundProcess] = None
    differences: Optional[Differences] = None


#: What copy_and_rotate starts before the dry run, if anything.
Early = Union[HeadStart, RecycleLook]


def _identity(path: str) -> Tuple[int, int]:
    info = os.lstat(path)
    return info.st_dev, info.st_ino


def start_recycle_look(layout: Layout, interval: str, oldest: int, log: logging.Logger) -> Optional[RecycleLook]:
    """Start the child that finds how `<interval>.<oldest>` differs from backup.latest;
    return its handle (None when it cannot start: recycling then walks everything)."""
    snapshot = layout.snapshot(snapshot_name(interval, oldest))
    output = os.path.join(layout.work, building_name(interval) + LOOK_SUFFIX)
    try:
        remove_tree(output)
        look = RecycleLook(interval, snapshot, _identity(snapshot), output)
        argv = child_argv(layout.latest, snapshot, output)
        log.debug("looking for what %s lacks, while rsync looks for changes: %r", snapshot, argv)
        look.child = start_in_background(argv)
    except OSError as error:
        log.debug("could not start looking for differences early: %s", error)
        return None
    return look


def _finish_look(look: RecycleLook, log: logging.Logger) -> None:
    """Wait for the look's child; read its differences when it ended well; delete its file."""
    finished = finish_background(look.child)
    look.child = None
    try:
        if finished.ok:
            with open(look.output, "rb") as handle:
                look.differences = read_differences(handle.read())
        remove_tree(look.output)
    except OSError as error:
        log.debug("reading the differences found early failed: %s", error)
        look.differences = None
    if look.differences is None:
        log.debug("looking for differences early did not work (exit code %s: %s); recycling "
                  "walks everything", finished.code, "; ".join(finished.tail[-3:]))


def take_look(look: Optional[Early], interval: str, snapshot: str, changed: bool) -> Optional[Differences]:
    """Return the differences found early for recycling `snapshot` as `interval`'s new one,
    when they still hold: the look was of that very snapshot folder, it ended well, and the
    transfer `changed` nothing in backup.latest since; else None (walk everything)."""
    if not isinstance(look, RecycleLook) or look.interval != interval or look.snapshot != snapshot:
        return None
    differences, look.differences = look.differences, None  # taken: used once at most
    if changed or differences is None:
        return None
    try:
        return differences if _identity(snapshot) == look.identity else None
    except OSError:
        return None


def start_head_start(layout: Layout, interval: str, log: logging.Logger) -> HeadStart:
    """Start `cp -al backup.latest building.<interval>` in the background; return its handle."""
    head = HeadStart(interval, os.path.join(layout.work, building_name(interval)))
    remove_tree(head.building)
    argv = ("cp", "-al", "--", layout.latest, head.building)
    log.debug("running: %r (in the background, while rsync looks for changes)", list(argv))
    try:
        head.child = start_in_background(argv)
    except OSError as error:
        log.debug("could not start cp early: %s", error)
    return head


def wait_for_head_start(head: Optional[Early], log: logging.Logger) -> None:
    """Wait for the early cp or look to end, if there is one (backup.latest must not change
    before); a failed one leaves nothing behind."""
    if head is None or head.child is None:
        return
    if isinstance(head, RecycleLook):
        _finish_look(head, log)
        return
    finished = finish_background(head.child)
    head.child = None
    head.complete = finished.ok
    if not head.complete:
        log.debug("the early cp -al failed (exit code %s: %s); linking again after the transfer",
                  finished.code, "; ".join(finished.tail[-3:]))
        remove_tree(head.building)


def take_head_start(head: Optional[Early], interval: str, latest: str, changed: bool,
                    log: logging.Logger) -> Optional[str]:
    """Return the early tree for `interval`, brought up to date with `latest` when the
    transfer `changed` anything; None (and nothing left behind) when there is none usable."""
    if not isinstance(head, HeadStart) or head.interval != interval:
        return None
    wait_for_head_start(head, log)
    if not head.complete:
        return None
    head.complete = False  # taken: abandon_head_start must leave it alone
    if not changed:
        return head.building
    try:
        counts = relink_tree(latest, head.building)
    except OSError as error:
        log.debug("bringing the early tree up to date failed (%s); linking again", error)
        remove_tree(head.building)
        return None
    log.debug("early tree brought up to date: %d entries kept, %d linked anew, %d removed",
              counts.kept, counts.linked, counts.removed)
    return head.building


def abandon_head_start(head: Optional[Early]) -> None:
    """Stop the early cp or look if it still runs and delete a tree or file nobody took."""
    if head is None:
        return
    if isinstance(head, RecycleLook):
        if head.child is not None:
            stop_background(head.child)
            head.child = None
        remove_tree(head.output)
        head.differences = None
        return
    if head.child is not None:
        stop_background(head.child)
        head.child = None
        remove_tree(head.building)
    if head.complete:
        remove_tree(head.building)
        head.complete = False
