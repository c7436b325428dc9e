"""How a job's run ended, as data: the exit code, the record in last-runs.json, `vhpi
status`, the after hooks' VHPI_RESULT and the healthcheck ping all read the Outcome, never
the words of the summary line."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable


class Outcome(enum.Enum):
    """One job's result in one run; the value is what hooks see as VHPI_RESULT."""

    OK = "ok"                    # the due snapshots were made
    NOTHING_DUE = "nothing due"  # nothing to do this hour (not recorded)
    OFFLINE = "offline"          # the source host did not answer: a normal event
    SKIPPED = "skipped"          # the job's before hook asked to skip it (exit 75)
    BUSY = "busy"                # another vhpi run is working on the destination (not recorded)
    FAILED = "failed"            # stopped before rotating anything, or the run went wrong
    STALE = "stale"              # fine this hour, but the newest snapshot is too old (stale_after)
    INTERRUPTED = "interrupted"  # vhpi was stopped by a signal during the job
    DAMAGED = "damaged"          # a verify or scrub found files that no longer match their checksums

    @property
    def fine(self) -> bool:
        """True for the outcomes that leave the run's exit code 0."""
        return self not in (Outcome.FAILED, Outcome.STALE, Outcome.INTERRUPTED, Outcome.DAMAGED)

    @property
    def recorded(self) -> bool:
        """True for the outcomes kept as the job's last run (vhpi status): real work, or
        real trouble; not a quiet hour nor another run's work."""
        return self not in (Outcome.NOTHING_DUE, Outcome.BUSY)


@dataclass(frozen=True)
class JobResult:
    """A job's Outcome with its one-line summary (as info.log shows it after 'job NAME: ')."""

    outcome: Outcome
    summary: str


def run_is_fine(results: Iterable[JobResult]) -> bool:
    """Given the results of a run's jobs, return True when none failed or was interrupted."""
    return all(result.outcome.fine for result in results)
