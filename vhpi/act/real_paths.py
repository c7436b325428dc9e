"""Config problems that only the real paths show (symlinks seen through). The config
itself is read without looking at the disks; main asks this after loading it. Only the
destinations are resolved here (local disks): a source share may hang, so its real path
is looked at by the job's bounded source probe (vhpi.act.source)."""

from __future__ import annotations

import os
from typing import List

from vhpi.config.model import Config
from vhpi.decide.paths import destination_clashes


def real_destination_problems(config: Config) -> List[str]:
    """Return a problem for each job whose destination is, through symlinks, an earlier
    job's too (their snapshots would overwrite each other); [] when there is none."""
    return destination_clashes([os.path.realpath(job.destination) for job in config.jobs])
