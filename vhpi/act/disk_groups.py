"""Which jobs' backups share a disk: `vhpi dedup` links across them, `vhpi verify` reads an
inode they share once. Reads the destinations' marks and st_dev only."""

from __future__ import annotations

import os
from typing import List, Optional, Tuple

from vhpi.config.model import Config, Job
from vhpi.decide.dedup_plan import group_by_device
from vhpi.decide.selection import find_job


def destination_problem(job: Job) -> Optional[str]:
    """Return why the job's destination cannot be read as a backup (not marked: the disk is
    not mounted?), or None."""
    root = job.destination
    if not os.path.isfile(os.path.join(root, ".backup_destination")):
        return (f"job {job.name}: {root} is not a marked backup destination (is the disk "
                f"mounted?); skipped")
    return None


def jobs_by_disk(config: Config, wanted: Optional[str]) -> Tuple[List[List[Job]], List[str]]:
    """Return the groups of jobs whose destinations share a file system (all, or the one
    holding job `wanted`), leaving out jobs without backups yet, and the problems of the
    jobs left out. Raises vhpi.decide.selection.NotFound for an unknown job."""
    chosen = find_job(config, wanted) if wanted is not None else None
    devices, problems = [], []
    for job in config.jobs:
        problem = destination_problem(job)
        if problem is None and os.path.isdir(os.path.join(job.destination, ".vhpi")):
            devices.append((job.name, os.stat(job.destination).st_dev))
        elif problem is not None and (chosen is None or job is chosen):
            problems.append(problem)
    by_name = {job.name: job for job in config.jobs}
    groups = [[by_name[name] for name in names] for names in group_by_device(devices)]
    if chosen is not None:
        groups = [group for group in groups if chosen in group]
    return groups, problems
