"""vhpi.decide.recycling: when the destination has room to recycle a dropped snapshot."""

import os

import pytest

from vhpi.decide.recycling import RECYCLE_MIN_FREE_BYTES, RECYCLE_MIN_FREE_INODES, room_is_ample


def statvfs(free_bytes: int, free_inodes: int, total_inodes: int = 1_000_000) -> os.statvfs_result:
    """A statvfs result with 4 KiB fragments (f_bsize, f_frsize, f_blocks, f_bfree, f_bavail,
    f_files, f_ffree, f_favail, f_flag, f_namemax)."""
    blocks = free_bytes // 4096
    return os.statvfs_result((4096, 4096, blocks * 2, blocks, blocks, total_inodes, free_inodes,
                              free_inodes, 0, 255))


@pytest.mark.parametrize("free_bytes, free_inodes, total_inodes, ample", [
    (RECYCLE_MIN_FREE_BYTES, RECYCLE_MIN_FREE_INODES, 1_000_000, True),        # exactly enough
    (10 * RECYCLE_MIN_FREE_BYTES, 10 * RECYCLE_MIN_FREE_INODES, 1_000_000, True),
    (RECYCLE_MIN_FREE_BYTES - 4096, 10 * RECYCLE_MIN_FREE_INODES, 1_000_000, False),  # short of space
    (10 * RECYCLE_MIN_FREE_BYTES, RECYCLE_MIN_FREE_INODES - 1, 1_000_000, False),     # of inodes
    (10 * RECYCLE_MIN_FREE_BYTES, 0, 0, True),            # no inode limit (e.g. btrfs reports 0)
    (0, 0, 0, False),
])
def test_room_is_ample(free_bytes, free_inodes, total_inodes, ample):
    assert room_is_ample(statvfs(free_bytes, free_inodes, total_inodes)) is ample


def test_the_thresholds():
    assert RECYCLE_MIN_FREE_BYTES == 64 << 20
    assert RECYCLE_MIN_FREE_INODES == 4096
