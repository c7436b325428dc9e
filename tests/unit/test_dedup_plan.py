"""vhpi.decide.dedup_plan: keepers and moves, the link cap, the quiet time around the hour,
grouping jobs by file system, the report line."""

from vhpi.decide.dedup_plan import (GroupReport, Inode, as_json, group_by_device, link_cap,
                                    plan_moves, quiet_time, summary_line)


def test_the_inode_with_most_names_keeps_them_and_the_others_move_to_it():
    group = [Inode(1, 2, 2, 4096), Inode(2, 5, 5, 4096), Inode(3, 1, 1, 4096)]
    moves = plan_moves(group, cap=100)
    assert [(move.dup.ino, move.keeper.ino) for move in moves] == [(1, 2), (3, 2)]


def test_an_inode_with_names_outside_the_listing_is_never_moved_but_may_keep():
    group = [Inode(1, 4, 3, 4096), Inode(2, 2, 2, 4096)]
    assert [(m.dup.ino, m.keeper.ino) for m in plan_moves(group, cap=100)] == [(2, 1)]
    assert plan_moves([Inode(1, 2, 1, 4096), Inode(2, 2, 1, 4096)], cap=100) == []


def test_a_full_keeper_makes_the_next_inode_a_keeper_and_no_keeper_passes_the_cap():
    group = [Inode(n, 3, 3, 4096) for n in range(1, 6)]
    moves = plan_moves(group, cap=7)
    assert [(m.dup.ino, m.keeper.ino) for m in moves] == [(2, 1), (4, 3)]
    names = {1: 3, 3: 3, 5: 3}
    for move in moves:
        names[move.keeper.ino] += move.dup.links
    assert max(names.values()) <= 7


def test_the_cap_is_half_the_link_limit():
    assert link_cap(65000) == 32500 and link_cap(1) == 1


def test_no_batch_starts_around_a_full_hour():
    assert quiet_time(3590) and quiet_time(0) and quiet_time(89)
    assert not quiet_time(90) and not quiet_time(1800) and not quiet_time(3579)


def test_jobs_are_grouped_by_the_file_system_of_their_destination():
    assert group_by_device([("a", 1), ("b", 2), ("c", 1)]) == [["a", "c"], ["b"]]


def test_the_report_line_and_json():
    report = GroupReport(["a", "b"], files_linked=3, inodes_freed=2, bytes_freed=2048)
    assert summary_line(report).startswith("jobs a, b: 3 files linked, 2 inodes and 2.0 KiB freed")
    report.dry_run = True
    assert "3 files would be linked, 2 inodes and 2.0 KiB would be freed" in summary_line(report)
    assert as_json(report)["bytes_freed"] == 2048
