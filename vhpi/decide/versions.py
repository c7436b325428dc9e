"""Pure decisions of `vhpi versions JOB PATH` (and of `vhpi restore JOB vN PATH`): the order
of a job's snapshots in time, grouping what each snapshot holds at PATH into versions, and
writing them for people and for JSON. No disk: vhpi.act.version_lookup looks at the
snapshots.

What "distinct" means. Each snapshot holds at PATH a file, a folder, a symlink, something
else (a FIFO, a device) or nothing. Two snapshots hold the same version when

* they hold the same inode (vhpi hard-links an unchanged file from snapshot to snapshot),
  or two files of equal size, mtime (to the nanosecond), mode, owner and group whose
  content and extended attributes are equal too (a copy made at the hard-link limit, a
  file restored and backed up again); the content is read only when all the cheap facts
  match;
* both hold a symlink with the same target;
* both hold a folder with the same tree: the same relative paths, each of the same kind,
  every file the same inode, every symlink the same target, every folder the same mode,
  owner and group (a folder's own mtime and size are left out: they change whenever an
  entry is added or removed, which the entries show).

Versions are numbered v1, v2, ... in the order they first appear, oldest first. A version
may come back (a file restored, or linked again by `vhpi dedup`): it keeps its number and
its snapshots are listed together. backup.latest is no snapshot (it is the mirror a run
works on) and is left out.
"""

from __future__ import annotations

import heapq
import re
import stat
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from vhpi.decide.selection import Snapshot
from vhpi.decide.tree_compare import FILE, FOLDER, OTHER, SYMLINK, printable_path
from vhpi.decide.units import human_bytes

_VERSION = re.compile(r"v([1-9][0-9]*)")


@dataclass(frozen=True)
class Item:
    """What one snapshot holds at PATH (the item itself never followed): its kind (FILE,
    FOLDER, SYMLINK, OTHER), device and inode, size, mtime_ns, st_mode, owner and group; a
    symlink's target; a folder's `tree` (a digest of what is below it, see tree_record;
    the folder's own mode and owners are its Item's)."""

    kind: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    mode: int
    uid: int
    gid: int
    target: Optional[str] = None
    tree: Optional[str] = None


@dataclass(frozen=True)
class Look:
    """One snapshot and what it holds at PATH: `folder` is the snapshot folder's (device,
    inode) when it was looked at, `names` the item's names below it (symlinked parent
    folders resolved), `item` None when PATH is not in it."""

    snapshot: Snapshot
    folder: Tuple[int, int]
    names: Tuple[str, ...] = ()
    item: Optional[Item] = None


@dataclass(frozen=True)
class Version:
    """One distinct version: its number (1 for v1) and the looks holding it, oldest first."""

    number: int
    looks: Tuple[Look, ...]

    @property
    def name(self) -> str:
        return f"v{self.number}"

    @property
    def item(self) -> Item:
        """The item as the newest snapshot holding it has it."""
        return self.looks[-1].item

    @property
    def newest(self) -> Look:
        """The newest snapshot holding it: what `vhpi restore JOB vN PATH` restores from."""
        return self.looks[-1]


@dataclass(frozen=True)
class TreeSize:
    """What a folder version holds: regular files, folders (itself included), symlinks and
    other entries, the files' total size, the newest mtime of the entries that are not
    folders (0 when there are none), and how many folders could not be read."""

    files: int = 0
    folders: int = 0
    symlinks: int = 0
    others: int = 0
    size: int = 0
    newest_mtime_ns: int = 0
    unreadable: int = 0


# ---------------------------------------------------------------- snapshots in time

def chronological(snapshots: Sequence[Snapshot], lengths: Dict[str, int]) -> List[Snapshot]:
    """Given a job's snapshots (vhpi.act.inventory.list_snapshots) and the intervals'
    lengths, return the snapshots oldest first, backup.latest left out.

    Within an interval the numbers decide (a higher number is older), whatever the recorded
    times say; the intervals are merged by the time each snapshot was taken. Snapshots with
    no recorded time come first (vhpi's records are newer than they are): longer intervals
    first, higher numbers first."""
    per_interval: Dict[str, List[Snapshot]] = {}
    for snapshot in snapshots:
        if snapshot.interval is not None and snapshot.number is not None:
            per_interval.setdefault(snapshot.interval, []).append(snapshot)

    def key(snapshot: Snapshot) -> tuple:
        if snapshot.taken_at is None:
            return (0, -lengths.get(snapshot.interval, 0), -snapshot.number)
        return (1, snapshot.taken_at, 0)

    by_length = sorted(per_interval, key=lambda interval: (lengths.get(interval, 0), interval))
    runs = [sorted(per_interval[interval], key=lambda s: -s.number) for interval in by_length]
    return list(heapq.merge(*runs, key=key))


# ---------------------------------------------------------------- grouping

def version_number(text: str) -> Optional[int]:
    """Given what was typed in a snapshot's place, return N for 'vN' (N >= 1), else None
    (snapshot names always hold a dot, so 'v2' is never one)."""
    match = _VERSION.fullmatch(text)
    return int(match.group(1)) if match else None


def _identity(item: Item) -> tuple:
    """Return what makes two items the same version at once."""
    if item.kind == SYMLINK:
        return (SYMLINK, item.target)
    if item.kind == FOLDER:
        return (FOLDER, item.tree, stat.S_IMODE(item.mode), item.uid, item.gid)
    return (item.kind, item.device, item.inode)


def cheap_facts(item: Item) -> tuple:
    """Return the facts two files must share before their content is compared."""
    return (item.kind, item.size, item.mtime_ns, item.mode, item.uid, item.gid)


def group_versions(looks: Sequence[Look], same_content: Callable[[Look, Look], bool]
                   ) -> List[Version]:
    """Given the looks at PATH, oldest first, and `same_content(a, b)` (True when two files
    with equal cheap facts hold equal bytes and extended attributes), return the distinct
    versions (see the module docstring), oldest first. same_content is asked only about
    files of different inodes whose cheap facts match."""
    groups: List[List[Look]] = []
    by_identity: Dict[tuple, int] = {}
    for look in looks:
        if look.item is None:
            continue
        identity = _identity(look.item)
        index = by_identity.get(identity)
        if index is None and look.item.kind == FILE:
            index = next((i for i, group in enumerate(groups)
                          if cheap_facts(group[0].item) == cheap_facts(look.item)
                          and same_content(group[0], look)), None)
        if index is None:
            index = len(groups)
            groups.append([])
        groups[index].append(look)
        by_identity[identity] = index
    return [Version(number, tuple(group)) for number, group in enumerate(groups, 1)]


def pick_version(versions: Sequence[Version], number: int) -> Optional[Version]:
    """Return version `number` (1 for v1), None when there is none."""
    return versions[number - 1] if 1 <= number <= len(versions) else None


def no_such_version(number: int, versions: Sequence[Version], typed: str, job: str) -> str:
    """Return the message for a vN that PATH does not have."""
    count = len(versions)
    there = ("it is in no snapshot" if count == 0 else
             "there is 1 version (v1)" if count == 1 else f"there are {count} (v1 to v{count})")
    return (f"no version v{number} of {printable(typed)} in job {job}: {there}; see vhpi "
            f"versions {job} {printable(typed)}")


def absent_message(typed: str, job: str, looked: int) -> str:
    """Return the message for a PATH that none of the `looked` snapshots holds."""
    if looked == 0:
        return f"job {job} has no snapshots yet"
    return (f"{printable(typed)} is in none of the {looked} snapshot{'s' if looked != 1 else ''} "
            f"of job {job} (PATH is relative to the snapshot, as in the source: see vhpi "
            f"list {job})")


# ---------------------------------------------------------------- folder trees

def tree_record(path: bytes, kind: str, value: Any) -> bytes:
    """Return the bytes one entry of a folder's tree adds to its digest: its path relative
    to the folder, its kind and what identifies it (a file's inode, a symlink's target, a
    folder's (mode, uid, gid)); unambiguous, so different trees give different streams."""
    return repr((path, kind, value)).encode("ascii", "backslashreplace") + b"\n"


# ---------------------------------------------------------------- writing

def iso_moment(seconds: Optional[float]) -> Optional[str]:
    """Return a time since the epoch as local ISO 8601 with its offset, to the second."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")


def _moment(seconds: Optional[float]) -> str:
    """Return a time for the table: local, to the minute (snapshots are made on the hour)."""
    if seconds is None:
        return "time unknown"
    return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M")


def printable(text: str) -> str:
    """Return a name as typed (str, possibly with surrogate escapes) as printable text."""
    return printable_path(text.encode("utf-8", "surrogateescape"))


def _what(version: Version, sizes: Dict[int, TreeSize]) -> str:
    item = version.item
    if item.kind == FOLDER:
        tree = sizes.get(version.number)
        if tree is None:
            return "folder"
        return f"folder, {tree.files:,} file{'s' if tree.files != 1 else ''}"
    if item.kind == SYMLINK:
        return f"symlink -> {printable(item.target or '')}"
    if item.kind == OTHER:
        return _other_kind(item.mode)
    return "file"


def _other_kind(mode: int) -> str:
    for test, word in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return word
    return "other"


def _size_and_mtime(version: Version, sizes: Dict[int, TreeSize]) -> Tuple[int, int]:
    """Return (size, mtime_ns) of a version: a folder's are its files' total and the newest
    mtime of a file (or symlink...) in it; the folder's own mtime when it holds none."""
    item = version.item
    tree = sizes.get(version.number) if item.kind == FOLDER else None
    if tree is not None:
        return tree.size, tree.newest_mtime_ns or item.mtime_ns
    return item.size, item.mtime_ns


def change_from(previous: Optional[Item], item: Item) -> str:
    """Return what differs from the previous version to this one, in a word or three:
    'first', 'was a folder', 'content', 'target', 'files' (a folder's tree), 'mode',
    'owner', 'group', or 'content or xattrs' (a file of equal size and mtime)."""
    if previous is None:
        return "first"
    if previous.kind != item.kind:
        return f"was a {previous.kind}"
    if item.kind == SYMLINK:
        return "target"
    if item.kind != FOLDER and (previous.size, previous.mtime_ns) != (item.size, item.mtime_ns):
        return "content"
    pairs = (("mode", stat.S_IMODE(previous.mode), stat.S_IMODE(item.mode)),
             ("owner", previous.uid, item.uid), ("group", previous.gid, item.gid))
    changed = [word for word, a, b in pairs if a != b]
    if item.kind == FOLDER and previous.tree != item.tree:
        changed.insert(0, "files")
    return ", ".join(changed) or "content or xattrs"


def _row(version: Version, previous: Optional[Version], sizes: Dict[int, TreeSize],
         name_width: int) -> List[str]:
    size, mtime_ns = _size_and_mtime(version, sizes)
    first, last = version.looks[0].snapshot, version.looks[-1].snapshot
    change = change_from(previous.item if previous else None, version.looks[0].item)
    return [version.name, _what(version, sizes), human_bytes(size), _moment(mtime_ns / 1e9),
            change, str(len(version.looks)),
            f"{first.name:<{name_width}}  {_moment(first.taken_at)}",
            f"{last.name:<{name_width}}  {_moment(last.taken_at)}"]


HEADINGS = ["version", "what", "size", "modified", "change", "snapshots", "first snapshot",
            "last snapshot"]
#: Columns aligned to the right.
_RIGHT = {2, 5}


def versions_table(job: str, typed: str, versions: Sequence[Version], looked: int,
                   sizes: Dict[int, TreeSize]) -> List[str]:
    """Return the lines `vhpi versions` prints: a heading, one row per version, oldest
    first, and how to restore one. `looked`: how many snapshots were looked at; `sizes`:
    {version number: TreeSize} of the folder versions."""
    shown = printable(typed)
    count = len(versions)
    name_width = max(len(look.snapshot.name) for version in versions for look in version.looks)
    rows = [HEADINGS] + [_row(version, versions[index - 1] if index else None, sizes, name_width)
                         for index, version in enumerate(versions)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADINGS))]
    lines = [f"job {job}: {shown}: {count} version{'s' if count != 1 else ''} in {looked} "
             f"snapshot{'s' if looked != 1 else ''}, oldest first"]
    for row in rows:
        cells = [cell.rjust(width) if column in _RIGHT else cell.ljust(width)
                 for column, (cell, width) in enumerate(zip(row, widths))]
        lines.append(("  " + "  ".join(cells)).rstrip())
    lines.extend(_notes(versions, sizes))
    lines.append(f"restore one with: vhpi restore {job} {versions[-1].name} {shown} [--to DIR]")
    return lines


def _notes(versions: Sequence[Version], sizes: Dict[int, TreeSize]) -> Iterator[str]:
    for version in versions:
        tree = sizes.get(version.number)
        if tree is not None and tree.unreadable:
            yield (f"note: {version.name}: {tree.unreadable} folder"
                   f"{'s' if tree.unreadable != 1 else ''} in it could not be read (run as "
                   f"the account that made the backups, or as root)")


def version_as_json(version: Version, sizes: Dict[int, TreeSize]) -> Dict[str, Any]:
    """Return one version for `vhpi versions --json`."""
    item = version.item
    size, mtime_ns = _size_and_mtime(version, sizes)
    first, last = version.looks[0].snapshot, version.looks[-1].snapshot
    data: Dict[str, Any] = {
        "version": version.name, "kind": item.kind,
        "snapshots": [look.snapshot.name for look in version.looks],
        "size": size, "mtime": iso_moment(mtime_ns / 1e9), "mtime_ns": mtime_ns,
        "backed_up": iso_moment(first.taken_at), "last_backed_up": iso_moment(last.taken_at),
        "first": first.name, "last": last.name,
        "mode": f"{stat.S_IMODE(item.mode):04o}", "uid": item.uid, "gid": item.gid}
    if item.kind == SYMLINK:
        data["target"] = item.target
    tree = sizes.get(version.number)
    if item.kind == FOLDER and tree is not None:
        data.update(files=tree.files, folders=tree.folders, symlinks=tree.symlinks,
                    others=tree.others, unreadable=tree.unreadable)
    return data


def versions_as_json(job: str, typed: str, versions: Sequence[Version], looked: int,
                     sizes: Dict[int, TreeSize]) -> Dict[str, Any]:
    """Return what `vhpi versions --json` prints."""
    return {"job": job, "path": typed, "snapshots_looked_at": looked,
            "versions": [version_as_json(version, sizes) for version in versions]}
