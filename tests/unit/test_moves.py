"""The pure rules of vhpi.decide.moves: which new names are files vhpi already has."""

from __future__ import annotations

import pytest

from vhpi.decide.moves import (Move, Recorded, SourceId, find_moves, identity_is_stable,
                               moved_bytes, relative_device, same_file, still_the_copy)

FILE = SourceId(0, 1234, 1_700_000_000_123_456_789, 5000, 1_690_000_000_987_654_321)


def _record(path: bytes = b"a/photo.jpg", source: SourceId = FILE) -> Recorded:
    return Recorded(path, source, backup_inode=99, backup_birth_ns=1_700_000_100_000_000_000)


@pytest.mark.parametrize("seen, same", [
    (FILE, True),
    (FILE._replace(inode=1235), False),                       # another file
    (FILE._replace(birth_ns=FILE.birth_ns + 1), False),       # the number was given out again
    (FILE._replace(birth_ns=None), False),                    # known on one side only
    (FILE._replace(size=5001), False),
    (FILE._replace(mtime_ns=FILE.mtime_ns + 1), False),       # one nanosecond is enough
    (FILE._replace(device=2049), False),                      # another file system below the source
])
def test_same_file_needs_every_part_of_the_identity(seen, same):
    assert same_file(FILE, seen) is same


def test_without_birth_times_on_either_side_the_rest_must_match():
    recorded = FILE._replace(birth_ns=None)
    assert same_file(recorded, recorded)
    assert not same_file(recorded, recorded._replace(mtime_ns=1))


@pytest.mark.parametrize("deleted, seen, expected", [
    ([], [(b"b/photo.jpg", FILE)], []),
    ([_record()], [], []),
    ([_record()], [(b"b/photo.jpg", FILE)], [Move(_record(), b"b/photo.jpg")]),
    # a look-alike: another inode with the same size and time at the same name elsewhere
    ([_record()], [(b"b/photo.jpg", FILE._replace(inode=777))], []),
    # two new names of one inode (a hard link on the share): both link to the one copy
    ([_record()], [(b"b/x", FILE), (b"c/y", FILE)],
     [Move(_record(), b"b/x"), Move(_record(), b"c/y")]),
    # the recorded file was changed since (another time): not the copy vhpi has
    ([_record(source=FILE._replace(mtime_ns=1))], [(b"b/photo.jpg", FILE)], []),
])
def test_find_moves(deleted, seen, expected):
    assert find_moves(deleted, seen) == expected


@pytest.mark.parametrize("inode, birth, size, is_file, intact", [
    (99, 1_700_000_100_000_000_000, 5000, True, True),
    (98, 1_700_000_100_000_000_000, 5000, True, False),   # replaced by another copy
    (99, 1_700_000_200_000_000_000, 5000, True, False),   # same number, a newer inode
    (99, 1_700_000_100_000_000_000, 4999, True, False),
    (99, 1_700_000_100_000_000_000, 5000, False, False),  # now a folder or symlink
])
def test_still_the_copy(inode, birth, size, is_file, intact):
    assert still_the_copy(_record(), inode, birth, size, is_file) is intact


@pytest.mark.parametrize("fstype, fuse, stable", [
    ("ext4", False, True), ("xfs", False, True), ("btrfs", False, True), ("tmpfs", False, True),
    ("nfs4", False, True), ("nfs", False, True),
    ("vfat", False, False), ("exfat", False, False),   # numbered by their place in a folder
    ("sshfs", True, False), ("ext4", True, False),     # FUSE: numbers may be made up per mount
    ("overlay", False, False), (None, False, False),
])
def test_identity_is_stable(fstype, fuse, stable):
    assert identity_is_stable(fstype, fuse) is stable


def test_relative_device_and_moved_bytes():
    assert relative_device(2049, 2049) == 0 and relative_device(2050, 2049) == 2050
    assert moved_bytes([Move(_record(), b"x"), Move(_record(), b"y")]) == 10000
