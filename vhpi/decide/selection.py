"""Choosing what a command works on from the names the user typed: a job of the config, a
snapshot of the job's destination (found by vhpi.act.inventory), and the order of a job's
intervals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

from vhpi.decide.snapshot_names import LATEST_NAME

if TYPE_CHECKING:
    from vhpi.config.model import Config, Job


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


def find_snapshot(snapshots: Sequence[Snapshot], name: str) -> Snapshot:
    """Return the snapshot called `name` ("latest" means backup.latest). Raises NotFound."""
    wanted = LATEST_NAME if name == "latest" else name.rstrip("/")
    for snapshot in snapshots:
        if snapshot.name == wanted:
            return snapshot
    known = ", ".join(snapshot.name for snapshot in snapshots) or "none"
    raise NotFound(f"no snapshot {name!r}; there are: {known}")
