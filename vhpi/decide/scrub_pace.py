"""How much the scrub reads in one step (pure): enough that every byte of a destination is
re-read once within its period (scrub_every), in small steps after the backup runs."""

from __future__ import annotations

from typing import Optional

#: The longest a scrub step may take (s): it ends long before the next hourly run.
STEP_SECONDS = 600.0
#: The least a step reads when anything is left (small steps are mostly overhead).
MIN_STEP_BYTES = 64 << 20


def new_cycle_due(started: Optional[float], finished: Optional[float], period: float,
                  now: float) -> bool:
    """Given when the current cycle started and finished (None: never / not yet), the
    period and now, return True when a new cycle (a fresh listing of every snapshot)
    should start: there is none, or the last one finished and began a period ago."""
    if started is None:
        return True
    return finished is not None and now - started >= period


def step_bytes(total: int, done: int, started: float, period: float, now: float) -> int:
    """Given the bytes of the cycle's listing, those already verified, when the cycle
    started, its period and now, return how many bytes this step should verify: what the
    share of the period gone by asks for, at least MIN_STEP_BYTES, at most what is left
    (a clock that went back counts as no time gone by)."""
    left = max(0, total - done)
    if left == 0:
        return 0
    share = min(1.0, max(0.0, now - started) / period) if period > 0 else 1.0
    return min(left, max(MIN_STEP_BYTES, int(total * share) - done))


def cycle_share(done: int, total: int, finished: Optional[float]) -> Optional[float]:
    """Return the percentage of a scrub cycle done (None when it has ended or has no
    listing yet: nothing to show)."""
    if finished is not None or total <= 0:
        return None
    return 100.0 * min(done, total) / total
