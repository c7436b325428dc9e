"""Was a copy in backup.latest really made from the entry vhpi pinned (vhpi.act.pinned)?

Before rsync reads a pass's entries, its child records what each entry is, as seen through
the folder it opened without following symlinks; after the pass vhpi compares the copies
with that. rsync 3.4 and newer resolve the pinned folder's link into a path by name again
(following symlinks as they go), so a share that swaps a folder on that path in the
instant between could still lead rsync elsewhere: the copy then holds another file, with
another size or modification time (to the nanosecond), and is taken out again like a file
that vanished. (The next run copies the entry as the share has it then.)
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import Callable, Optional

FILE, SYMLINK, FOLDER, OTHER = "f", "l", "d", "o"


@dataclass(frozen=True)
class EntryFacts:
    """What one entry is: its kind (FILE, SYMLINK, FOLDER, OTHER), size, modification time
    in nanoseconds, and a symlink's target."""

    kind: str
    size: int = 0
    mtime_ns: int = 0
    target: Optional[bytes] = None


def facts_from_stat(info, read_target: Callable[[], bytes]) -> EntryFacts:
    """Given an lstat result and how to read the entry's symlink target, return its facts."""
    if stat.S_ISREG(info.st_mode):
        return EntryFacts(FILE, info.st_size, info.st_mtime_ns)
    if stat.S_ISLNK(info.st_mode):
        return EntryFacts(SYMLINK, target=read_target())
    return EntryFacts(FOLDER if stat.S_ISDIR(info.st_mode) else OTHER)


def copied_from_elsewhere(pinned: EntryFacts, copied: EntryFacts, times_kept: bool,
                          links_followed: bool) -> bool:
    """Given the pinned entry and its copy, whether the options keep modification times
    and follow symlinks, return True when the copy cannot have come from the pinned entry."""
    if pinned.kind == SYMLINK and links_followed:
        return False  # rsync copied what the symlink points to, as asked
    if pinned.kind != copied.kind:
        return True
    if pinned.kind == SYMLINK:
        return pinned.target != copied.target
    if pinned.kind == FILE:
        return pinned.size != copied.size or (times_kept and not same_time(pinned.mtime_ns,
                                                                           copied.mtime_ns))
    return False


def same_time(pinned_ns: int, copied_ns: int) -> bool:
    """True when a copy's mtime (ns) is the pinned entry's, or that cut short by a backup
    disk that keeps coarser times (whole seconds: ext4 with 128-byte inodes, ext3; 100 ns:
    NTFS): earlier by less than a second, within the same second. A file changed while it
    was copied has a later time."""
    second = 1_000_000_000
    return pinned_ns == copied_ns or (copied_ns < pinned_ns and pinned_ns // second == copied_ns // second)
