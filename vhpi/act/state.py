"""vhpi's record of when each interval of a destination last got a snapshot.

Stored as DEST/.vhpi/state.json, so it travels with the backup disk:
    {"format": 1, "snapshots": {"daily": 1763856000.0, ...},
     "made": {"<inode of a snapshot's top folder>": 1763856000.0, ...}}

"snapshots" decides what is due. "made" says when each snapshot was taken, for `vhpi
status` and `vhpi list`: a snapshot's top folder keeps its inode through every rename
(hourly.0 -> hourly.1 ...), and every new snapshot gets a new top folder. Entries whose
folder is gone are dropped at each write. Older files without "made" are read fine.
"""

from __future__ import annotations

import json
import math
import os
from typing import Dict, Optional, Tuple

from vhpi.act.files import write_json_atomically
from vhpi.act.layout import Layout
from vhpi.decide.due import clamp_to_now
from vhpi.decide.snapshot_names import LATEST_NAME
from vhpi.decide.work_names import READY

FORMAT = 1


class StateError(Exception):
    """The state file exists but cannot be used; the message says why and what to do."""


#: Times vhpi accepts in its records: from the epoch to the year 5000.
LATEST_BELIEVABLE_TIME = 95_617_584_000


def _is_time(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and 0 <= value <= LATEST_BELIEVABLE_TIME)


def _times_from(data: object, path: str) -> Dict[str, float]:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StateError(f"{path} is not a vhpi state file of format {FORMAT}")
    times = data.get("snapshots")
    if not isinstance(times, dict) or not all(
            isinstance(k, str) and _is_time(v) for k, v in times.items()):
        raise StateError(f"{path} has no valid 'snapshots' record")
    return {name: float(when) for name, when in times.items()}


def read_snapshot_times(layout: Layout) -> Optional[Dict[str, float]]:
    """Return {interval: time of its newest snapshot}, or None when there is no state file.

    Raises StateError when the file is damaged (truncated, not JSON, wrong shape).
    """
    try:
        with open(layout.state, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise StateError(f"cannot read {layout.state}: {error}")
    try:
        data = json.loads(text)
    except ValueError as error:
        raise StateError(f"{layout.state} is damaged ({error})")
    return _times_from(data, layout.state)


def read_made_times(layout: Layout) -> Dict[int, float]:
    """Return {inode of a snapshot's top folder: when it was taken} (empty when unknown)."""
    try:
        with open(layout.state, encoding="utf-8") as handle:
            made = json.load(handle).get("made")
        return {int(inode): float(when) for inode, when in made.items() if _is_time(when)}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def _snapshot_folder_inodes(layout: Layout) -> set:
    """Return the inodes of the folders that may be snapshots: every non-hidden folder in
    the destination but backup.latest, and the complete trees waiting in the work folder
    (not vhpi's own folders, which may get a deleted snapshot's inode number)."""
    found = set()
    for folder, wanted in ((layout.root, lambda name: not name.startswith(".") and name != LATEST_NAME),
                           (layout.work, lambda name: name.startswith(READY))):
        try:
            with os.scandir(folder) as entries:
                found.update(entry.inode() for entry in entries
                             if wanted(entry.name) and entry.is_dir(follow_symlinks=False))
        except OSError:
            pass
    return found


def write_snapshot_times(layout: Layout, times: Dict[str, float],
                         new_snapshot: Optional[Tuple[str, float]] = None,
                         not_after: Optional[float] = None) -> None:
    """Replace the state file atomically with `times`, keeping the "made" records of the
    folders still there (each no later than `not_after`, when given: --trust-clock) and
    adding `new_snapshot` = (its folder, when it was taken) (DEST/.vhpi must exist: vhpi
    never creates folders it might write into an empty mountpoint)."""
    present = _snapshot_folder_inodes(layout)
    made = {inode: when for inode, when in read_made_times(layout).items() if inode in present}
    if not_after is not None:
        made = clamp_to_now(made, not_after)
    if new_snapshot is not None:
        made[os.lstat(new_snapshot[0]).st_ino] = new_snapshot[1]
    write_json_atomically(layout.state, {"format": FORMAT, "snapshots": times,
                                         "made": {str(inode): when for inode, when in sorted(made.items())}})
