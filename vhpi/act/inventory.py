"""What a job's destination holds, for the commands that look at backups (status, list,
diff, du, restore): its snapshots, by name, with the time each was taken. Reads folder
names and vhpi's records only; never walks a snapshot."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from vhpi.act.layout import Layout
from vhpi.act.state import StateError, read_made_times, read_snapshot_times
from vhpi.config.model import Config, Job
from vhpi.decide.snapshot_names import LATEST_NAME, snapshot_name, snapshot_numbers


class NotFound(Exception):
    """A job or snapshot named on the command line does not exist; the message says which
    ones do."""


@dataclass(frozen=True)
class Snapshot:
    """One snapshot folder (or backup.latest, with interval None). taken_at: when it was
    made, None when vhpi has no record of it."""

    name: str
    path: str
    interval: Optional[str]
    number: Optional[int]
    taken_at: Optional[float]


def find_job(config: Config, name: Optional[str]) -> Job:
    """Return the job called `name`; with None, the only job. Raises NotFound."""
    names = [job.name for job in config.jobs]
    if name is None:
        if len(config.jobs) == 1:
            return config.jobs[0]
        raise NotFound(f"name a job: {', '.join(names)}")
    for job in config.jobs:
        if job.name == name:
            return job
    raise NotFound(f"no job {name!r} in {config.path}; the jobs are: {', '.join(names)}")


def intervals_by_length(job: Job, intervals: Dict[str, int]) -> List[str]:
    """Return the job's intervals, shortest first."""
    return sorted(job.keep_counts, key=lambda name: (intervals.get(name, 0), name))


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


def find_snapshot(snapshots: Sequence[Snapshot], name: str) -> Snapshot:
    """Return the snapshot called `name` ("latest" means backup.latest). Raises NotFound."""
    wanted = LATEST_NAME if name == "latest" else name.rstrip("/")
    for snapshot in snapshots:
        if snapshot.name == wanted:
            return snapshot
    known = ", ".join(snapshot.name for snapshot in snapshots) or "none"
    raise NotFound(f"no snapshot {name!r}; there are: {known}")
