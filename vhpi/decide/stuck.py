"""Telling a busy run from a stuck one, when a run finds a job's destination (or the run
lock) taken by another vhpi run.

A live run touches its lock files every heartbeat (vhpi.act.heartbeat) and gives up on a
source that stops answering after `source_timeout`, so it is never silent for long; and a
run that is still copying after the job's longest interval has made every one of the
job's snapshots late. Both are reported loudly; any other overlap is a quiet skip.
"""

from __future__ import annotations

import enum
from typing import Optional

#: Seconds of silence allowed on top of twice the source timeout (a child is killed and
#: waited for, a snapshot is flushed to disk) before a run counts as stuck.
SILENCE_MARGIN_SECONDS = 180


class Busy(enum.Enum):
    """What another run's held lock means."""

    WORKING = "working"  # a normal overlap: skip the job quietly
    SILENT = "silent"    # no sign of life for far longer than a live run is ever silent
    OVERDUE = "overdue"  # alive, but at it for longer than the job's longest interval


def silence_limit(source_timeout: float) -> float:
    """Given a job's source_timeout, return how many seconds a live run may go without
    touching its lock file."""
    return 2 * source_timeout + SILENCE_MARGIN_SECONDS


def busy_verdict(running_for: Optional[float], silent_for: Optional[float],
                 source_timeout: float, longest_interval: Optional[float]) -> Busy:
    """Given how long the holder has been running and silent (seconds; None: unknown, e.g.
    a run of another user), the job's source_timeout and its longest active interval in
    seconds, return the Busy verdict."""
    if silent_for is not None and silent_for > silence_limit(source_timeout):
        return Busy.SILENT
    if running_for is not None and longest_interval and running_for > longest_interval:
        return Busy.OVERDUE
    return Busy.WORKING
