"""Pure bookkeeping for `vhpi du`: which snapshot a hard-linked inode's blocks belong to.

The snapshots of a job (backup.latest included) are numbered oldest first: 0 is the
oldest. Every inode's blocks are counted once, in two ways:

* new:  the oldest snapshot holding a name of the inode: what that snapshot added to the
        disk. The sum over all snapshots is the job's real disk use (every inode once).
* own:  the snapshot holding every one of the inode's st_nlink names, if one does: what
        deleting that snapshot would free. An inode with names in two snapshots (or
        outside the snapshots) is nobody's own.

A folder's blocks are both new and own for its snapshot (folders are never hard-linked).

SpaceLedger is told, path by path, which snapshots hold a name of an inode at that path.
An inode whose st_nlink names all sit at that one path (the usual case: vhpi links the
same relative path from snapshot to snapshot) is settled there and then and never
remembered. Only inodes with names at other paths too (hard links inside the source, or
links outside the snapshots) wait in a dict until their last name is seen, so memory is
O(such inodes seen but not yet settled): nothing for a source without hard links, and in
the worst case (a source made of hard links) one dict entry per such inode.
"""

from __future__ import annotations

from typing import Dict, Hashable, List, Mapping, Optional, Sequence, Tuple

#: A waiting inode: [names seen, oldest snapshot, the one snapshot holding them all or -1,
#: bytes, st_nlink].
_SEEN, _OLDEST, _ONLY, _BYTES, _LINKS = range(5)


class SpaceLedger:
    """Running totals: own[i] and new[i] in bytes for snapshot i (0 the oldest)."""

    def __init__(self, snapshots: int):
        self.own: List[int] = [0] * snapshots
        self.new: List[int] = [0] * snapshots
        self.linked_elsewhere = 0
        self.peak_pending = 0
        self._pending: Dict[Hashable, List[int]] = {}

    def add_folder(self, snapshot: int, size: int) -> None:
        """Count a folder of `snapshot` taking `size` bytes."""
        self.own[snapshot] += size
        self.new[snapshot] += size

    def add_names(self, inode: Hashable, links: int, size: int, snapshots: Sequence[int]) -> None:
        """Count the names of `inode` (st_nlink `links`, `size` bytes on disk) that one
        relative path has in `snapshots` (distinct snapshot numbers)."""
        entry = self._pending.get(inode)
        if entry is None:
            if len(snapshots) >= links:
                self._settle(min(snapshots), _only(snapshots, None), size)
                return
            entry = [0, min(snapshots), snapshots[0], size, links]
            self._pending[inode] = entry
            self.peak_pending = max(self.peak_pending, len(self._pending))
        entry[_SEEN] += len(snapshots)
        entry[_OLDEST] = min(entry[_OLDEST], *snapshots)
        entry[_ONLY] = _only(snapshots, entry[_ONLY])
        if entry[_SEEN] >= entry[_LINKS]:
            del self._pending[inode]
            self._settle(entry[_OLDEST], entry[_ONLY], entry[_BYTES])

    def finish(self) -> None:
        """Settle the inodes some of whose names lie outside the snapshots (new where first
        seen, nobody's own; their bytes are added up in `linked_elsewhere`)."""
        for entry in self._pending.values():
            self.new[entry[_OLDEST]] += entry[_BYTES]
            self.linked_elsewhere += entry[_BYTES]
        self._pending.clear()

    @property
    def pending(self) -> int:
        """How many inodes wait for more names."""
        return len(self._pending)

    @property
    def total(self) -> int:
        """Bytes of every folder and inode counted so far, each once."""
        return sum(self.new)

    def _settle(self, oldest: int, only: int, size: int) -> None:
        self.new[oldest] += size
        if only >= 0:
            self.own[only] += size


def _only(snapshots: Sequence[int], so_far: Optional[int]) -> int:
    """Return the one snapshot holding all the names (so far and in `snapshots`), or -1."""
    first = snapshots[0] if so_far is None else so_far
    if first < 0 or any(number != first for number in snapshots):
        return -1
    return first


def oldest_first(snapshots: Sequence, intervals: Mapping[str, int]) -> List:
    """Given snapshots (objects with name, interval, number and taken_at; interval None for
    backup.latest), return them oldest first: by the time each was taken; snapshots
    without a recorded time before all others; at equal times (or none) the longer
    interval and then the higher number first; backup.latest last."""
    def key(snapshot) -> Tuple:
        if snapshot.interval is None:
            return (2, 0.0, 0, 0)
        timed = snapshot.taken_at is not None
        return (int(timed), snapshot.taken_at or 0.0, -intervals.get(snapshot.interval, 0),
                -(snapshot.number or 0))
    return sorted(snapshots, key=key)


def space_table(rows: Sequence[Tuple[str, str, int, int]], total: int,
                human) -> List[str]:
    """Given rows (snapshot, taken, own bytes, new bytes), the total and a byte formatter,
    return the table's lines: a header, one line per row, and the total under `new`."""
    cells = [("snapshot", "taken", "own", "new")]
    cells += [(name, taken, human(own), human(new)) for name, taken, own, new in rows]
    cells.append(("total", "", "", human(total)))
    widths = [max(len(row[column]) for row in cells) for column in range(4)]
    name_width, taken_width, own_width, new_width = widths
    return [f"{name:<{name_width}}  {taken:<{taken_width}}  {own:>{own_width}}  "
            f"{new:>{new_width}}".rstrip()
            for name, taken, own, new in cells]
