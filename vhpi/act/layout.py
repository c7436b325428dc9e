"""Where things live in a destination folder.

    DEST/.backup_destination   the user's mark: "this folder is on the backup disk"
    DEST/.vhpi/state.json      when each interval last got a snapshot
    DEST/.vhpi/source-ids.sqlite3   what each file of backup.latest is on the share (moves)
    DEST/.vhpi/work/           work in progress, never a snapshot (cleaned or resumed)
    DEST/backup.latest/        the mirror rsync writes into
    DEST/<interval>.<n>/       complete snapshots, .0 the newest
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vhpi.decide.snapshot_names import LATEST_NAME
from vhpi.decide.work_names import BUILDING, READY, SET_ASIDE, TRASH

DESTINATION_MARK = ".backup_destination"
#: Names in DEST/.vhpi/work/ that a run leaves only when it was cut short (see
#: vhpi.act.snapshots and vhpi.act.link_limit; the snapshot steps' names, and the
#: set-aside name of a leftover that could not be deleted, are vhpi.decide.work_names').
LINK_PROBE = ".vhpi-link-test."  # the hard-link probe's files (vhpi.act.filesystem)
UNFINISHED_WORK_PREFIXES = (BUILDING, READY, TRASH, "unshare.", LINK_PROBE)
SOURCE_MARK = ".backup_valid"


@dataclass(frozen=True)
class Layout:
    """The paths of one destination folder."""

    root: str

    @property
    def mark(self) -> str:
        return os.path.join(self.root, DESTINATION_MARK)

    @property
    def own(self) -> str:
        return os.path.join(self.root, ".vhpi")

    @property
    def state(self) -> str:
        return os.path.join(self.own, "state.json")

    @property
    def source_ids(self) -> str:
        return os.path.join(self.own, "source-ids.sqlite3")

    @property
    def work(self) -> str:
        return os.path.join(self.own, "work")

    @property
    def latest(self) -> str:
        return os.path.join(self.root, LATEST_NAME)

    def snapshot(self, name: str) -> str:
        return os.path.join(self.root, name)


def work_has_leftovers(layout: Layout) -> bool:
    """True when the work folder holds trees or files an interrupted run left (or one set
    aside because it could not be deleted: each run tries again)."""
    try:
        names = os.listdir(layout.work)
    except FileNotFoundError:
        return False
    return any(name.startswith((*UNFINISHED_WORK_PREFIXES, SET_ASIDE)) for name in names)
