"""Which snapshot intervals are due, and whether the clock can be trusted.

All times are seconds since the epoch (UTC), so daylight-saving changes do not matter.
"""

from __future__ import annotations

from typing import Dict, Hashable, List, Mapping, Optional, TypeVar

from vhpi.decide.units import human_duration

#: Cron starts runs a second or so late or early; without some grace an hourly run that
#: starts 0.5 s early would find 3599.5 s elapsed and skip a whole hour.
GRACE_FRACTION = 0.01
GRACE_LIMIT_SECONDS = 300.0


def grace_seconds(interval_seconds: float) -> float:
    """Given an interval length, return how early a run may come and still count as due."""
    return min(interval_seconds * GRACE_FRACTION, GRACE_LIMIT_SECONDS)


def due_intervals(
    keep_counts: Mapping[str, int],
    interval_seconds: Mapping[str, int],
    last_snapshot_times: Mapping[str, float],
    now: float,
) -> List[str]:
    """Return the intervals of a job that are due now, shortest interval first.

    An interval with keep count 0 is switched off. One that has never had a snapshot is due.
    Otherwise it is due when its length (less a small grace) has passed since its last one.
    """
    due = []
    for name, keep in keep_counts.items():
        if keep <= 0:
            continue
        last = last_snapshot_times.get(name)
        length = interval_seconds[name]
        if last is None or now - last >= length - grace_seconds(length):
            due.append(name)
    return sorted(due, key=lambda name: (interval_seconds[name], name))


def newest_recorded_time(last_snapshot_times: Mapping[str, float]) -> Optional[float]:
    """Return the newest snapshot time on record, or None when there is none."""
    return max(last_snapshot_times.values(), default=None)


def clock_is_behind(last_snapshot_times: Mapping[str, float], now: float) -> bool:
    """True when `now` is earlier than the newest recorded snapshot: the clock cannot be right.

    A Pi without a real-time clock boots with the time of its last shutdown (fake-hwclock)
    or with 1970 until NTP answers; rotating on such a clock would misfire.
    """
    newest = newest_recorded_time(last_snapshot_times)
    return newest is not None and now < newest


Key = TypeVar("Key", bound=Hashable)


def clamp_to_now(records: Mapping[Key, float], now: float) -> Dict[Key, float]:
    """Return the records ({anything: time}) with every time later than `now` set to `now`
    (the user trusts the clock)."""
    return {name: min(when, now) for name, when in records.items()}


def next_due_time(last: Optional[float], interval_seconds: float) -> Optional[float]:
    """Given an interval's last snapshot time (None: never) and its length, return the
    moment from which a run counts it as due (None: due now, it never had one)."""
    if last is None:
        return None
    return last + interval_seconds - grace_seconds(interval_seconds)


def stale_limit(stale_after: float, active_intervals: Mapping[str, int]) -> float:
    """Given a job's stale_after and the lengths of its active intervals, return how old its
    newest snapshot may get: stale_after, but at least twice its shortest interval (a
    weekly-only job is not stale on its fourth day)."""
    shortest = min(active_intervals.values(), default=0)
    return max(stale_after, 2 * shortest)


def stale_words(age: float, limit: float, has_snapshots: bool) -> str:
    """Return what a stale job's line says: how old its newest snapshot is (or, with none
    yet, how long vhpi has tried) against its limit."""
    if has_snapshots:
        return (f"the newest snapshot is {human_duration(age)} old, older than stale_after "
                f"({human_duration(limit)}): is the host away, or has every run failed since?")
    return (f"no snapshot yet, {human_duration(age)} after vhpi first ran this job, longer than "
            f"stale_after ({human_duration(limit)}): is the host right, and ever on?")


def stale_age(last_snapshot_times: Mapping[str, float], now: float, limit: float,
              first_run: Optional[float] = None) -> Optional[float]:
    """Return the age of the newest snapshot when it is older than `limit` seconds, else
    None. A job with no snapshot yet counts from `first_run` (when vhpi first ran it;
    None: never, so not stale)."""
    newest = newest_recorded_time(last_snapshot_times)
    if newest is None:
        newest = first_run
    if newest is None or now - newest <= limit:
        return None
    return now - newest
