"""The rules of `vhpi dedup` (vhpi.actions.dedup): which files may share one inode, which
inode keeps its blocks, how many names an inode may get, when a link batch may start, and
the words of the report. No disk, no clock.

Kept attributes: two inodes are linked only when they agree in content (sha256, then byte
for byte), size, file type and mode bits, owner, group, modification time (ns) and every
extended attribute (ACLs included). Not kept, as rsync -a does not keep them either: the
access time, ctime, birth time, inode number and link count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, NamedTuple, Sequence, Tuple

from vhpi.decide.units import human_bytes

#: Smallest file dedup looks at (bytes). Below one 4 KiB block a freed inode gives back at
#: most one block (ext4 keeps tiny files' data in the inode itself), while every file costs
#: the same listing row, hash, byte compare, link and rename as a large one; the space is
#: in large files.
MIN_SIZE = 4096
#: A link batch holds the destination locks for about this long (s), then lets a backup run in.
BATCH_SECONDS = 1.0
#: ... and re-points at most this many names.
BATCH_NAMES = 200
#: Around each full hour (cron's `0 * * * *`, the timer's OnCalendar=hourly with its 30 s
#: random delay) no batch starts: from QUIET_BEFORE s before to QUIET_AFTER s after it.
QUIET_BEFORE, QUIET_AFTER = 20, 90


class Inode(NamedTuple):
    """One inode of a duplicate group: its number, link count, how many of its names the
    listing found (all of them when equal to links) and its blocks in bytes."""

    ino: int
    links: int
    names: int
    bytes: int


class Move(NamedTuple):
    """Re-point every name of inode `dup` to inode `keeper`."""

    dup: Inode
    keeper: Inode


def link_cap(link_limit: int) -> int:
    """Return the most names dedup lets one inode have, given the file system's link limit:
    half of it, so that the next run's `cp -al` of backup.latest (which adds one name per
    name an inode has there) cannot reach the limit because of dedup."""
    return max(1, link_limit // 2)


def plan_moves(group: Sequence[Inode], cap: int) -> List[Move]:
    """Given the inodes of one group of identical files and the most names an inode may
    have, return the moves: inodes with the most names keep theirs (fewest renames); an
    inode is moved only when the listing found every one of its names (otherwise its blocks
    would stay) and its keeper then stays within `cap`; one that fits no keeper becomes a
    keeper itself."""
    keepers: List[List] = []  # [inode, names it will have]
    moves: List[Move] = []
    for inode in sorted(group, key=lambda one: (-one.links, one.ino)):
        target = None
        if inode.names == inode.links:
            target = next((slot for slot in keepers if slot[1] + inode.links <= cap), None)
        if target is None:
            keepers.append([inode, inode.links])
            continue
        target[1] += inode.links
        moves.append(Move(inode, target[0]))
    return moves


def quiet_time(seconds_past_hour: float) -> bool:
    """True when a backup run may be about to take a destination lock (around a full hour of
    local time): no link batch starts then."""
    return seconds_past_hour >= 3600 - QUIET_BEFORE or seconds_past_hour < QUIET_AFTER


def group_by_device(devices: Iterable[Tuple[str, int]]) -> List[List[str]]:
    """Given (job name, st_dev of its destination) in config order, return the jobs grouped
    by file system, each group in config order, groups in the order of their first job."""
    groups: Dict[int, List[str]] = {}
    for name, device in devices:
        groups.setdefault(device, []).append(name)
    return list(groups.values())


@dataclass
class GroupReport:
    """What dedup found and did for one group of jobs sharing a file system."""

    jobs: List[str]
    dry_run: bool = False
    files_seen: int = 0
    candidates: int = 0
    hashed: int = 0
    hashed_bytes: int = 0
    from_index: int = 0
    files_linked: int = 0
    inodes_freed: int = 0
    bytes_freed: int = 0
    differed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    problems: List[str] = field(default_factory=list)


def summary_line(report: GroupReport) -> str:
    """Return the one line that says what dedup did (or would do) for a group."""
    linked = "would be linked" if report.dry_run else "linked"
    freed = "would be freed" if report.dry_run else "freed"
    text = (f"jobs {', '.join(report.jobs)}: {report.files_linked:,} files {linked}, "
            f"{report.inodes_freed:,} inodes and {human_bytes(report.bytes_freed)} {freed}; "
            f"{report.files_seen:,} files of at least {human_bytes(MIN_SIZE)}, "
            f"{report.candidates:,} alike in size and metadata, {report.hashed:,} hashed "
            f"({human_bytes(report.hashed_bytes)}), {report.from_index:,} from the index, "
            f"{report.seconds:.1f} s")
    notes = []
    if report.differed:
        notes.append(f"{report.differed} same hash but different bytes, left apart")
    if report.skipped:
        notes.append(f"{report.skipped} changed meanwhile or at the link limit, left for next time")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def as_json(report: GroupReport) -> dict:
    """Return the report as a JSON-ready dict."""
    return {name: getattr(report, name) for name in (
        "jobs", "dry_run", "files_seen", "candidates", "hashed", "hashed_bytes", "from_index",
        "files_linked", "inodes_freed", "bytes_freed", "differed", "skipped", "problems")} | {
        "seconds": round(report.seconds, 3)}
