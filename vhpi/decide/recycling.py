"""When a rotation may recycle the snapshot it drops into the new one (vhpi.act.snapshots):
recycling needs new folders and names only where the trees differ; below this much free
space or these many free inodes vhpi takes the plain `cp -al` path, which drops nothing
until the new tree is complete. `vhpi check` reports against the same thresholds."""

from __future__ import annotations

import os

RECYCLE_MIN_FREE_BYTES = 64 << 20
RECYCLE_MIN_FREE_INODES = 4096


def room_is_ample(info: os.statvfs_result) -> bool:
    """Given a file system's statvfs, return True when it has clearly enough free space and
    inodes to recycle (a file system without an inode limit reports 0 inodes)."""
    enough_inodes = info.f_files == 0 or info.f_favail >= RECYCLE_MIN_FREE_INODES
    return info.f_bavail * info.f_frsize >= RECYCLE_MIN_FREE_BYTES and enough_inodes
