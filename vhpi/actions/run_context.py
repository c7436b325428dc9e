"""What the jobs of one run share, and how a job says it failed."""

from __future__ import annotations

import logging
from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    """What every job of one run shares: vhpi's home folder, the run's start time (one
    clock reading for all jobs), the log and the user's --trust-clock."""

    home: str
    now: float
    log: logging.Logger
    trust_clock: bool = False


class JobFailed(Exception):
    """The job stopped before rotating anything; the message is for info.log."""
