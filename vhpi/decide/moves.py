"""Which new files of the share are files vhpi already has, moved or renamed.

When vhpi copies a file it records the file's identity on the share (vhpi.act.source_ids):
its inode number, its device (0: the source's own file system), its birth time when the
share keeps one, its size and modification time in nanoseconds. A rename or a move keeps
all of these; so a new name whose identity equals that of a name deleted in the same run is
the same file, and the new snapshot can link the inode vhpi already has instead of copying.

Why a look-alike is never taken for it: a different file with the same name, size and
modification time as a deleted one (the case that name-based matching gets wrong) has
another inode number. Only if the share gave it the deleted file's inode number again
(file systems reuse freed numbers) and it has the same size and the same modification time
to the nanosecond could it match; where the share keeps birth times (ext4, xfs, btrfs,
tmpfs) the reused inode is born later and does not match either. That is never weaker than
rsync's own quick check, which takes any file of the same size and modification time at
the same path for unchanged.

File systems whose inode numbers do not last (FAT and exFAT number files by their place in
a folder; FUSE file systems such as sshfs without `-o use_ino` make numbers up per mount;
overlayfs) are never matched: their new files are copied.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, NamedTuple, Optional, Tuple

#: File systems whose inode numbers belong to the file for its life (renames included).
STABLE_IDENTITY_TYPES = frozenset({
    "ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "tmpfs", "zfs", "jfs", "reiserfs",
    "nilfs2", "bcachefs", "nfs", "nfs4"})


class SourceId(NamedTuple):
    """A regular file's identity on the share (see the module docstring)."""

    device: int             # 0: the file system of the source's top folder
    inode: int
    birth_ns: Optional[int]  # None: the share keeps no birth times
    size: int
    mtime_ns: int


class Recorded(NamedTuple):
    """A file of backup.latest as vhpi recorded it: its path, the identity of the share's
    file it was copied from, and its own inode number and birth time on the backup disk."""

    path: bytes
    source: SourceId
    backup_inode: int
    backup_birth_ns: Optional[int]


class Move(NamedTuple):
    """A new name of the share that is the file backup.latest holds at `old`."""

    old: Recorded
    new: bytes


def relative_device(device: int, top_device: int) -> int:
    """Return the device number to record: 0 for the source's own file system (its number
    changes when a share is mounted again), else the number itself."""
    return 0 if device == top_device else device


def identity_is_stable(fstype: Optional[str], fuse: bool) -> bool:
    """Given the source's file system type (None: unknown) and whether FUSE serves it,
    return whether its inode numbers identify files across renames and runs."""
    return not fuse and fstype in STABLE_IDENTITY_TYPES


def same_file(recorded: SourceId, seen: SourceId) -> bool:
    """True when `seen` (a new name's identity now) is the file recorded as `recorded`:
    every part equal, a birth time included (known on one side only: not the same)."""
    return recorded == seen


def find_moves(deleted: Iterable[Recorded], seen: Iterable[Tuple[bytes, SourceId]]) -> List[Move]:
    """Given the recorded files of the names the run deletes and the identities of the new
    names (path, SourceId), return the new names that are one of those files. Several new
    names may be one file (hard links on the share): each gets a Move."""
    by_inode: Dict[Tuple[int, int], Recorded] = {}
    for record in deleted:
        by_inode.setdefault((record.source.device, record.source.inode), record)
    moves = []
    for path, identity in seen:
        record = by_inode.get((identity.device, identity.inode))
        if record is not None and same_file(record.source, identity):
            moves.append(Move(record, path))
    return moves


def still_the_copy(record: Recorded, inode: int, birth_ns: Optional[int], size: int,
                   is_file: bool) -> bool:
    """Given what backup.latest holds at a recorded path now (its inode number, birth time,
    size, whether it is a regular file), return True when it is still the copy vhpi
    recorded (not replaced since, e.g. by a run that a crash cut short)."""
    return (is_file and inode == record.backup_inode and size == record.source.size
            and birth_ns == record.backup_birth_ns)


def moved_bytes(moves: Iterable[Move]) -> int:
    """Return the bytes the moves did not copy."""
    return sum(move.old.source.size for move in moves)
