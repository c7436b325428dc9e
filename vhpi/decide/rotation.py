"""What a rotation must do, as a plan of renames; the disk work happens in vhpi.act.snapshots.

The plan is computed from the snapshot numbers that exist now, so running it again after
a crash in the middle finishes the same rotation instead of starting a new one: that is
how vhpi recovers from a power cut without a journal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Tuple


@dataclass(frozen=True)
class RotationPlan:
    """The steps that make room for a new `<interval>.0`.

    drops:   numbers to move out of sight (then delete), oldest only.
    renames: (from, to) number pairs, in the order they must run.
    excess:  snapshots kept beyond the keep count because the count was lowered.
    """

    interval: str
    keep: int
    drops: Tuple[int, ...]
    renames: Tuple[Tuple[int, int], ...]
    excess: int


def plan_rotation(interval: str, existing: Iterable[int], keep: int,
                  already_dropped: bool = False) -> RotationPlan:
    """Given the snapshot numbers of `interval` that exist and its keep count (>= 1), return the plan.

    At most one snapshot is dropped per rotation, so history never shrinks faster than
    the interval: when the keep count was lowered, the extra ones stay and are reported
    in `excess`. `already_dropped` says that this rotation's drop happened before a crash,
    so re-planning must not drop another one. Gaps in the numbering are closed.
    """
    if keep < 1:
        raise ValueError(f"keep count of {interval} must be at least 1, got {keep}")
    numbers = sorted(set(existing))
    drops: Tuple[int, ...] = ()
    if len(numbers) >= keep and not already_dropped:
        drops = (numbers[-1],)
        numbers = numbers[:-1]
    return RotationPlan(interval, keep, drops, _renames_to_one_up(numbers),
                        max(0, len(numbers) + 1 - keep))


def _renames_to_one_up(numbers: List[int]) -> Tuple[Tuple[int, int], ...]:
    """Return the renames that turn sorted `numbers` into 1..len, never onto an existing name:
    moves down (closing gaps) lowest first, then moves up highest first."""
    targets = list(enumerate(numbers, start=1))
    down = [(number, target) for target, number in targets if number > target]
    up = [(number, target) for target, number in reversed(targets) if number < target]
    return tuple(down + up)


def describe_plan(plan: RotationPlan) -> str:
    """Return a one-line human description of a rotation plan."""
    name = plan.interval
    parts = [f"drop {name}.{n}" for n in plan.drops]
    parts += [f"{name}.{a} -> {name}.{b}" for a, b in plan.renames]
    parts.append(f"new {name}.0")
    if plan.excess:
        parts.append(f"({plan.excess} kept beyond keep={plan.keep})")
    return ", ".join(parts)
