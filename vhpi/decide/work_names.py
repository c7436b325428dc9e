"""The names vhpi gives its work in progress in DEST/.vhpi/work/ (see vhpi.act.snapshots):
which name a tree gets at each step of making a snapshot, and what the names that exist
say about a rotation a crash cut short. Names only: the folders are read and renamed in
vhpi.act."""

from __future__ import annotations

from typing import Iterable, List, Mapping, Tuple

BUILDING = "building."    # a tree being linked (deleted when a crash cut it short)
READY = "ready."          # a complete tree not yet in place
TRASH = "trash."          # a dropped snapshot, deleted at the end of the job
#: A leftover that could not be deleted, renamed out of every step's way (retried each run).
SET_ASIDE = "set-aside."
#: The trash of a recycling rotation: `trash.<interval>.recycled@<time>`.
RECYCLED = "recycled"


def building_name(interval: str) -> str:
    """Return the work-folder name of the tree being linked for `interval`."""
    return BUILDING + interval


def ready_name(interval: str, taken_at: float) -> str:
    """Return the work-folder name of a complete, not yet placed snapshot."""
    return f"{READY}{interval}@{taken_at:.3f}"


def parse_ready_name(name: str) -> Tuple[str, float]:
    """Return (interval, time) from a name made by ready_name; ValueError when it is not one."""
    if not name.startswith(READY) or "@" not in name:
        raise ValueError(name)
    interval, _, taken_at = name[len(READY):].rpartition("@")
    return interval, float(taken_at)


def ready_by_time(names: Iterable[str]) -> List[Tuple[str, float, str]]:
    """Return (interval, time, name) of every ready name among `names`, oldest first."""
    found = []
    for name in names:
        try:
            interval, taken_at = parse_ready_name(name)
        except ValueError:
            continue
        found.append((interval, taken_at, name))
    return sorted(found, key=lambda entry: entry[1])


def set_aside_name(name: str, pid: int) -> str:
    """Return the name a work tree that cannot be deleted is renamed to (a tree set aside
    before keeps its name)."""
    return name if name.startswith(SET_ASIDE) else f"{SET_ASIDE}{name}@{pid}"


def trash_prefix(interval: str) -> str:
    """Return how the trash folders of `interval`'s rotations begin."""
    return f"{TRASH}{interval}."


def dropped_trash_name(interval: str, number: int, pid: int) -> str:
    """Return the trash name `<interval>.<number>` moves to when a rotation drops it."""
    return f"{trash_prefix(interval)}{number}.{pid}"


def recycled_trash_name(interval: str, taken_at: float) -> str:
    """Return the name of the trash folder a recycling rotation of `interval` at `taken_at`
    moves the dropped snapshot to (and keeps, empty, until that rotation is recorded)."""
    return f"{recycled_trash_prefix(interval)}{taken_at:.3f}"


def recycled_trash_prefix(interval: str) -> str:
    """Return how the trash folders of `interval`'s recycling rotations begin."""
    return f"{trash_prefix(interval)}{RECYCLED}@"


def has_pending_drop(names: Iterable[str], interval: str) -> bool:
    """Given the work folder's names: True when a rotation of `interval` has dropped its
    oldest snapshot but its new snapshot is not in place yet (its trash is still there)."""
    return any(name.startswith(trash_prefix(interval)) for name in names)


def pending_recycled(names: Iterable[str], recorded: Mapping[str, float]) -> List[str]:
    """Given the work folder's names and the recorded time of each interval's newest
    snapshot, return the intervals whose recycling rotation dropped the oldest snapshot but
    never recorded its new one (a crash came between the drop and the state update)."""
    pending = []
    for name in names:
        interval, marker, stamp = name[len(TRASH):].partition("." + RECYCLED + "@")
        recorded_stamp = f"{recorded[interval]:.3f}" if interval in recorded else None
        if name.startswith(TRASH) and marker and recorded_stamp != stamp:
            pending.append(interval)
    return pending


def keeps_contents_only(name: str, pending: Iterable[str]) -> bool:
    """True when emptying the trash must keep the folder `name` itself (only its contents
    go): the recycled trash of an interval in `pending` (see pending_recycled)."""
    marks = tuple(recycled_trash_prefix(interval) for interval in pending)
    return bool(marks) and name.startswith(marks)

