"""What a job's destination holds, for the commands that look at backups (status, list,
diff, du, restore): its snapshots, by name, with the time each was taken. Reads folder
names and vhpi's records only; never walks a snapshot. Choosing a job or a snapshot by
name is vhpi.decide.selection."""

from __future__ import annotations

import os
from typing import Dict, List, Optional

from vhpi.act.layout import Layout
from vhpi.act.state import StateError, read_made_times, read_snapshot_times
from vhpi.config.model import Job
from vhpi.decide.selection import Snapshot, intervals_by_length
from vhpi.decide.snapshot_names import LATEST_NAME, snapshot_name, snapshot_numbers


def list_snapshots(job: Job, intervals: Dict[str, int]) -> List[Snapshot]:
    """Return the job's snapshots: per interval (shortest first) newest first, then
    backup.latest when it exists. Empty when the destination cannot be read."""
    layout = Layout(job.destination)
    try:
        names = os.listdir(layout.root)
    except OSError:
        return []
    made = read_made_times(layout)
    newest: Optional[Dict[str, float]] = None  # read only for a .0 without a made record
    found = []
    for interval in intervals_by_length(job, intervals):
        for number in snapshot_numbers(names, interval):
            path = layout.snapshot(snapshot_name(interval, number))
            taken_at = _taken_at(path, made)
            if taken_at is None and number == 0:
                newest = _newest_times(layout) if newest is None else newest
                taken_at = newest.get(interval)
            found.append(Snapshot(snapshot_name(interval, number), path, interval, number, taken_at))
    if LATEST_NAME in names:
        found.append(Snapshot(LATEST_NAME, layout.latest, None, None, None))
    return found


def _taken_at(path: str, made: Dict[int, float]) -> Optional[float]:
    try:
        return made.get(os.lstat(path).st_ino)
    except OSError:
        return None


def _newest_times(layout: Layout) -> Dict[str, float]:
    try:
        return read_snapshot_times(layout) or {}
    except StateError:
        return {}
