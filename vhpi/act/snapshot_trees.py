"""The snapshot folders of jobs as trees to list (vhpi.act.dedup_listing.Tree), for
`vhpi verify`, the scrub and the damage report: every snapshot and backup.latest, by name
as `vhpi list` shows them."""

from __future__ import annotations

import os
from typing import List, Sequence

from vhpi.act.dedup_listing import Tree
from vhpi.act.inventory import list_snapshots
from vhpi.config.model import Config, Job
from vhpi.decide.snapshot_names import LATEST_NAME


def trees_of(config: Config, jobs: Sequence[Job]) -> List[Tree]:
    """Return the snapshot folders (backup.latest included) of `jobs`, numbered by job."""
    return [Tree(number, job.destination, os.path.basename(found.path))
            for number, job in enumerate(jobs) for found in list_snapshots(job, config.intervals)]


def is_snapshot(tree: Tree, wanted: str) -> bool:
    """True when `tree` is the snapshot the user named ("latest" is backup.latest)."""
    return tree.name == (LATEST_NAME if wanted == "latest" else wanted.rstrip("/"))
