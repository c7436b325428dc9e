"""The validated configuration, as plain frozen records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple


@dataclass(frozen=True)
class Job:
    """One backup job. Paths are absolute; `keep_counts` has every interval the job names."""

    name: str
    source_ip: str
    source: str
    destination: str
    rsync_options: Tuple[str, ...]
    excludes: Tuple[str, ...]
    keep_counts: Dict[str, int]
    warnings: Tuple[str, ...] = field(default=())

    def active_keep_counts(self) -> Dict[str, int]:
        """Return the intervals this job snapshots (keep count above 0) with their counts."""
        return {name: keep for name, keep in self.keep_counts.items() if keep > 0}


@dataclass(frozen=True)
class Config:
    """The whole config file: interval lengths in seconds and the jobs."""

    path: str
    intervals: Dict[str, int]
    jobs: Tuple[Job, ...]
