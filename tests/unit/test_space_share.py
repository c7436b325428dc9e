"""vhpi.decide.space_share: own and new bytes per snapshot from synthetic inodes, the
snapshots' order, and the table."""

from collections import namedtuple

import pytest

from vhpi.decide.space_share import SpaceLedger, oldest_first, space_table


def ledger_after(snapshots: int, names) -> SpaceLedger:
    """names: (inode, links, bytes, snapshots holding a name at one path), in walk order."""
    ledger = SpaceLedger(snapshots)
    for inode, links, size, holders in names:
        ledger.add_names(inode, links, size, holders)
    ledger.finish()
    return ledger


@pytest.mark.parametrize("snapshots, names, own, new, pending_peak", [
    # one file in one snapshot: its own and new
    (1, [(1, 1, 4096, [0])], [4096], [4096], 0),
    # a file in all three snapshots at the same path: new in the oldest, nobody's own
    (3, [(1, 3, 4096, [0, 1, 2])], [0, 0, 0], [4096, 0, 0], 0),
    # a file in the two newest: new in snapshot 1
    (3, [(1, 2, 8192, [1, 2])], [0, 0, 0], [0, 8192, 0], 0),
    # a file hard-linked twice inside snapshot 2 only (two paths): own and new there
    (3, [(7, 2, 100, [2]), (7, 2, 100, [2])], [0, 0, 100], [0, 0, 100], 1),
    # the same pair of links in snapshots 1 and 2: new in 1, nobody's own
    (3, [(7, 4, 100, [1, 2]), (7, 4, 100, [1, 2])], [0, 0, 0], [0, 100, 0], 1),
    # names at a later path in an older snapshot: new goes to the oldest holder
    (3, [(7, 2, 100, [2]), (7, 2, 100, [0])], [0, 0, 0], [100, 0, 0], 1),
    # a link outside the snapshots: new where seen, nobody's own
    (2, [(9, 2, 512, [1])], [0, 0], [0, 512], 1),
    # several inodes at once
    (2, [(1, 1, 10, [0]), (2, 1, 20, [1]), (3, 2, 40, [0, 1]), (4, 2, 80, [1]), (4, 2, 80, [1])],
     [10, 100], [50, 100], 1),
    # a link appeared while walking (more names than st_nlink said): settled, not stuck
    (2, [(5, 1, 64, [0, 1])], [0, 0], [64, 0], 0),
])
def test_own_and_new(snapshots, names, own, new, pending_peak):
    ledger = ledger_after(snapshots, names)
    assert ledger.own == own
    assert ledger.new == new
    assert ledger.total == sum(new)
    assert ledger.peak_pending == pending_peak
    assert ledger.pending == 0


def test_folders_are_own_and_new():
    ledger = SpaceLedger(2)
    ledger.add_folder(0, 4096)
    ledger.add_folder(1, 4096)
    ledger.add_folder(1, 8192)
    assert ledger.own == ledger.new == [4096, 12288]


def test_links_outside_are_counted_once_finished():
    ledger = SpaceLedger(2)
    ledger.add_names("a", 3, 1000, [0, 1])
    assert ledger.pending == 1 and ledger.new == [0, 0]
    ledger.finish()
    assert ledger.new == [1000, 0] and ledger.linked_elsewhere == 1000 and ledger.pending == 0


def test_settled_inodes_are_forgotten():
    ledger = SpaceLedger(2)
    for inode in range(1000):
        ledger.add_names(inode, 2, 1, [0, 1])
    assert ledger.peak_pending == 0 and ledger.new == [1000, 0]


Snap = namedtuple("Snap", "name interval number taken_at")
INTERVALS = {"hourly": 3600, "daily": 86400}


@pytest.mark.parametrize("given, oldest_first_names", [
    ([Snap("hourly.0", "hourly", 0, 300.0), Snap("hourly.1", "hourly", 1, 200.0),
      Snap("backup.latest", None, None, None), Snap("daily.0", "daily", 0, 100.0)],
     ["daily.0", "hourly.1", "hourly.0", "backup.latest"]),
    # the same moment: the longer interval counts as older
    ([Snap("hourly.0", "hourly", 0, 100.0), Snap("daily.0", "daily", 0, 100.0)],
     ["daily.0", "hourly.0"]),
    # no recorded time: before all timed snapshots, longer interval and higher number first
    ([Snap("hourly.0", "hourly", 0, 100.0), Snap("hourly.2", "hourly", 2, None),
      Snap("hourly.3", "hourly", 3, None), Snap("daily.1", "daily", 1, None)],
     ["daily.1", "hourly.3", "hourly.2", "hourly.0"]),
    # a recorded time wins over the number
    ([Snap("hourly.1", "hourly", 1, 500.0), Snap("hourly.0", "hourly", 0, 400.0)],
     ["hourly.0", "hourly.1"]),
    ([], []),
])
def test_oldest_first(given, oldest_first_names):
    assert [s.name for s in oldest_first(given, INTERVALS)] == oldest_first_names


def test_space_table():
    lines = space_table([("daily.0", "2024-05-01 03:00:00", 4096, 1_048_576),
                         ("backup.latest", "-", 12288, 12288)], 1_060_864, lambda n: f"{n} B")
    assert lines == [
        "snapshot       taken                    own        new",
        "daily.0        2024-05-01 03:00:00   4096 B  1048576 B",
        "backup.latest  -                    12288 B    12288 B",
        "total                                        1060864 B",
    ]
