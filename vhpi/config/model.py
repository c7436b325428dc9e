"""The validated configuration, as plain frozen records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

#: Seconds a look at a job's source may go without an answer (the sentinel, the host
#: check, an rsync pass that reads and writes nothing) before vhpi gives the source up as
#: not answering: longer than an NFS server's 90 s grace period after a restart or an
#: sshfs reconnect, short enough that a hung share costs the other jobs of a run little.
DEFAULT_SOURCE_TIMEOUT = 300
#: Seconds after its newest snapshot when a job counts as stale: every run then fails loudly
#: (a laptop away for days is normal; for weeks it is worth a mail).
DEFAULT_STALE_AFTER = 3 * 86400

#: The hook names a `hooks:` mapping may hold, in the order they run.
HOOK_NAMES = ("before", "after_success", "after_failure")


@dataclass(frozen=True)
class Hooks:
    """Shell command lines (run with /bin/sh -c) for the points of a job or a run; None = none.

    `before` runs first (exit 75 = skip quietly, other non-zero = fail), then `after_success`
    or `after_failure`. The rules are in vhpi.actions.watch."""

    before: Optional[str] = None
    after_success: Optional[str] = None
    after_failure: Optional[str] = None

    def configured(self) -> bool:
        """Return True when at least one hook is set."""
        return any(getattr(self, name) for name in HOOK_NAMES)


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
    hooks: Hooks = field(default_factory=Hooks)
    healthcheck_url: Optional[str] = None
    source_timeout: float = DEFAULT_SOURCE_TIMEOUT
    stale_after: float = DEFAULT_STALE_AFTER
    snapshot_group: Optional[str] = None
    #: The period (s) in which the scrub re-reads every byte of the job's backups once; 0: none.
    scrub_every: int = 0

    def active_keep_counts(self) -> Dict[str, int]:
        """Return the intervals this job snapshots (keep count above 0) with their counts."""
        return {name: keep for name, keep in self.keep_counts.items() if keep > 0}

    def watched(self) -> bool:
        """Return True when the job has a hook or a healthcheck URL."""
        return self.hooks.configured() or bool(self.healthcheck_url)


@dataclass(frozen=True)
class Config:
    """The whole config file: interval lengths in seconds, the jobs, and the hooks and
    healthcheck URL for the whole run (every cron start)."""

    path: str
    intervals: Dict[str, int]
    jobs: Tuple[Job, ...]
    hooks: Hooks = field(default_factory=Hooks)
    healthcheck_url: Optional[str] = None

    def watched(self) -> bool:
        """Return True when the run has a hook or a healthcheck URL."""
        return self.hooks.configured() or bool(self.healthcheck_url)
