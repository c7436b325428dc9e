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
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional

from vhpi.act.layout import Layout
from vhpi.act.processes import BackgroundProcess, finish_background, start_in_background, stop_background
from vhpi.act.relink import relink_tree
from vhpi.act.tree_edit import remove_tree
from vhpi.decide.work_names import building_name


@dataclass
class HeadStart:
    """An early `cp -al` for `interval` into `building`; complete once it ended with 0."""

    interval: str
    building: str
    child: Optional[BackgroundProcess] = None
    complete: bool = False


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


def wait_for_head_start(head: Optional[HeadStart], log: logging.Logger) -> None:
    """Wait for the early cp to end, if there is one (backup.latest must not change before);
    a failed one leaves nothing behind."""
    if head is None or head.child is None:
        return
    finished = finish_background(head.child)
    head.child = None
    head.complete = finished.ok
    if not head.complete:
        log.debug("the early cp -al failed (exit code %s: %s); linking again after the transfer",
                  finished.code, "; ".join(finished.tail[-3:]))
        remove_tree(head.building)


def take_head_start(head: Optional[HeadStart], interval: str, latest: str, changed: bool,
                    log: logging.Logger) -> Optional[str]:
    """Return the early tree for `interval`, brought up to date with `latest` when the
    transfer `changed` anything; None (and nothing left behind) when there is none usable."""
    if head is None or head.interval != interval:
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


def abandon_head_start(head: Optional[HeadStart]) -> None:
    """Stop the early cp if it still runs and delete a tree nobody took."""
    if head is None:
        return
    if head.child is not None:
        stop_background(head.child)
        head.child = None
        remove_tree(head.building)
    if head.complete:
        remove_tree(head.building)
        head.complete = False
