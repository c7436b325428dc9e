"""Where things live in a destination folder.

    DEST/.backup_destination   the user's mark: "this folder is on the backup disk"
    DEST/.vhpi/state.json      when each interval last got a snapshot
    DEST/.vhpi/work/           work in progress, never a snapshot (cleaned or resumed)
    DEST/backup.latest/        the mirror rsync writes into
    DEST/<interval>.<n>/       complete snapshots, .0 the newest
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vhpi.decide.snapshot_names import LATEST_NAME

DESTINATION_MARK = ".backup_destination"
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
    def work(self) -> str:
        return os.path.join(self.own, "work")

    @property
    def latest(self) -> str:
        return os.path.join(self.root, LATEST_NAME)

    def snapshot(self, name: str) -> str:
        return os.path.join(self.root, name)
