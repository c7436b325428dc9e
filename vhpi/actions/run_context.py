"""What the jobs of one run share, and how a job says it failed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class Run:
    """What every job of one run shares: vhpi's home folder, the run's start time (one
    clock reading for all jobs), the log, the user's --trust-clock, and the lock fd."""

    home: str
    now: float
    log: logging.Logger
    trust_clock: bool = False
    keep_fds: Tuple[int, ...] = ()


class JobFailed(Exception):
    """The job stopped before rotating anything; the message is for info.log."""
