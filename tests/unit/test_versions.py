"""vhpi.decide.versions (the order of snapshots in time, grouping what they hold into
versions, the table and the JSON) and the content comparison of vhpi.act.version_lookup,
on real files."""

from __future__ import annotations

import os
import stat
from typing import List, Optional, Tuple

import pytest

from vhpi.act.version_lookup import look_at, same_content
from vhpi.decide.selection import Snapshot
from vhpi.decide.versions import (FILE, FOLDER, SYMLINK, Item, Look, TreeSize, change_from,
                                  chronological, group_versions, no_such_version, pick_version,
                                  tree_record, version_number, versions_as_json, versions_table)

LENGTHS = {"hourly": 3600, "daily": 86400}
T0 = 1_790_000_000.0


def snap(name: str, taken_at: Optional[float] = None) -> Snapshot:
    interval, number = name.rsplit(".", 1)
    return Snapshot(name, f"/d/{name}", interval, int(number), taken_at)


def file_item(inode: int, size: int = 10, mtime_ns: int = 5, mode: int = 0o100644,
              uid: int = 0, gid: int = 0) -> Item:
    return Item(FILE, 1, inode, size, mtime_ns, mode, uid, gid)


def looks(*pairs: Tuple[str, Optional[Item]]) -> List[Look]:
    return [Look(snap(name, T0 + index), (1, 100 + index), ("a",), item)
            for index, (name, item) in enumerate(pairs)]


def never(a: Look, b: Look) -> bool:
    raise AssertionError("content compared")


# ---------------------------------------------------------------- snapshots in time

def test_snapshots_are_merged_by_time_oldest_first_without_latest():
    listed = [snap("hourly.0", T0 + 7200), snap("hourly.1", T0 + 3600), snap("daily.0", T0 + 7200),
              snap("daily.1", T0), Snapshot("backup.latest", "/d/backup.latest", None, None, None)]
    assert [s.name for s in chronological(listed, LENGTHS)] == [
        "daily.1", "hourly.1", "hourly.0", "daily.0"]


def test_within_an_interval_the_numbers_decide_and_unknown_times_come_first():
    listed = [snap("hourly.0", T0), snap("hourly.1", T0 + 9999),  # a clock that was wrong
              snap("hourly.2"), snap("daily.0", T0 + 5), snap("daily.3"), snap("daily.4")]
    assert [s.name for s in chronological(listed, LENGTHS)] == [
        "daily.4", "daily.3", "hourly.2", "daily.0", "hourly.1", "hourly.0"]


@pytest.mark.parametrize("text, number", [("v1", 1), ("v12", 12), ("v0", None), ("v", None),
                                          ("v01", None), ("V2", None), ("hourly.1", None),
                                          ("v2.0", None), ("latest", None)])
def test_version_numbers(text, number):
    assert version_number(text) == number


# ---------------------------------------------------------------- grouping

def test_snapshots_sharing_an_inode_hold_one_version_and_content_is_not_read():
    found = group_versions(looks(("daily.1", None), ("hourly.2", file_item(7)),
                                 ("hourly.1", file_item(7)), ("hourly.0", file_item(8, size=11))),
                           never)
    assert [(v.name, [look.snapshot.name for look in v.looks]) for v in found] == [
        ("v1", ["hourly.2", "hourly.1"]), ("v2", ["hourly.0"])]
    assert found[0].newest.snapshot.name == "hourly.1"


def test_copies_with_equal_facts_and_content_are_one_version():
    asked = []

    def same(a, b):
        asked.append((a.item.inode, b.item.inode))
        return b.item.inode != 9

    found = group_versions(looks(("hourly.3", file_item(7)), ("hourly.2", file_item(8)),
                                 ("hourly.1", file_item(9)), ("hourly.0", file_item(10, mode=0o100600))),
                           same)
    assert [[look.item.inode for look in v.looks] for v in found] == [[7, 8], [9], [10]]
    assert asked == [(7, 8), (7, 9)]  # never asked about a different mode


def test_a_version_that_comes_back_keeps_its_number():
    found = group_versions(looks(("hourly.2", file_item(7)), ("hourly.1", file_item(8, size=3)),
                                 ("hourly.0", file_item(7))), never)
    assert [[look.snapshot.name for look in v.looks] for v in found] == [
        ["hourly.2", "hourly.0"], ["hourly.1"]]


def test_symlinks_compare_by_target_and_folders_by_tree_and_attributes():
    def link(target, inode):
        return Item(SYMLINK, 1, inode, len(target), inode, 0o120777, 0, 0, target)

    def folder(tree, mode=0o40755, inode=1):
        return Item(FOLDER, 1, inode, 4096, inode, mode, 0, 0, None, tree)

    links = group_versions(looks(("h.3", link("a", 1)), ("h.2", link("a", 2)), ("h.1", link("b", 3))), never)
    assert [len(v.looks) for v in links] == [2, 1]
    folders = group_versions(looks(("h.3", folder("x", inode=1)), ("h.2", folder("x", inode=2)),
                                   ("h.1", folder("x", 0o40700, 3)), ("h.0", folder("y", inode=4))), never)
    assert [len(v.looks) for v in folders] == [2, 1, 1]
    assert [change_from(None if i == 0 else folders[i - 1].item, v.item)
            for i, v in enumerate(folders)] == ["first", "mode", "files, mode"]


def test_what_changed_from_the_previous_version():
    base = file_item(1)
    assert change_from(base, file_item(2, size=11)) == "content"
    assert change_from(base, file_item(2, uid=5, gid=6)) == "owner, group"
    assert change_from(base, file_item(2)) == "content or xattrs"
    assert change_from(Item(FOLDER, 1, 3, 0, 0, 0o40755, 0, 0), base) == "was a folder"


def test_tree_records_tell_different_trees_apart():
    assert tree_record(b"a/b", FILE, 5) != tree_record(b"a", FILE, 5)
    assert tree_record(b"a", FILE, 5) != tree_record(b"a", SYMLINK, "5")
    assert tree_record(b"a\n", FILE, 1) != tree_record(b"a", FILE, 1) + b""


def test_asking_for_a_version_that_is_not_there():
    found = group_versions(looks(("h.1", file_item(1)), ("h.0", file_item(2, size=1))), never)
    assert pick_version(found, 2) is found[1] and pick_version(found, 3) is None
    assert "there are 2 (v1 to v2)" in no_such_version(3, found, "a", "home")
    assert "there is 1 version (v1)" in no_such_version(2, found[:1], "a", "home")


# ---------------------------------------------------------------- writing

def test_the_table_has_one_row_per_version_and_says_how_to_restore():
    found = group_versions(looks(("hourly.1", file_item(1, size=2048)), ("hourly.0", file_item(2, size=10))), never)
    lines = versions_table("home", "docs/a\nb", found, 3, {})
    assert lines[0] == "job home: docs/a\\nb: 2 versions in 3 snapshots, oldest first"
    assert lines[1].split() == ["version", "what", "size", "modified", "change", "snapshots",
                                "first", "snapshot", "last", "snapshot"]
    assert lines[2].split()[:4] == ["v1", "file", "2.0", "KiB"] and " first " in lines[2]
    assert lines[3].split()[:4] == ["v2", "file", "10", "B"] and " content " in lines[3]
    assert lines[-1] == "restore one with: vhpi restore home v2 docs/a\\nb [--to DIR]"


def test_the_json_lists_the_snapshots_of_each_version_oldest_first():
    folder = Item(FOLDER, 1, 3, 4096, 0, 0o40750, 7, 8, None, "t")
    found = group_versions(looks(("hourly.1", folder), ("hourly.0", folder)), never)
    data = versions_as_json("home", "docs", found, 2, {1: TreeSize(files=3, folders=2, size=30,
                                                                   newest_mtime_ns=T0 * 10**9)})
    (version,) = data["versions"]
    assert data["job"] == "home" and data["path"] == "docs"
    assert version["version"] == "v1" and version["kind"] == "folder"
    assert version["snapshots"] == ["hourly.1", "hourly.0"]
    assert (version["size"], version["files"], version["mode"], version["uid"]) == (30, 3, "0750", 7)
    assert version["backed_up"].startswith("2026-") and version["first"] == "hourly.1"


# ---------------------------------------------------------------- content, on real files

def _two_files(tmp_path, content_b: bytes = b"same bytes", xattr_b: Optional[bytes] = None):
    for name, content in (("s.1", b"same bytes"), ("s.0", content_b)):
        (tmp_path / name).mkdir()
        path = tmp_path / name / "f"
        path.write_bytes(content)
        os.utime(path, ns=(10**18, 10**18))
    if xattr_b is not None:
        try:
            os.setxattr(tmp_path / "s.0" / "f", "user.tag", xattr_b)
        except OSError:
            pytest.skip("this file system has no user extended attributes")
    return [look_at(Snapshot(name, str(tmp_path / name), "s", int(name[-1]), None), ("f",))
            for name in ("s.1", "s.0")]


def test_equal_copies_are_the_same_content(tmp_path):
    a, b = _two_files(tmp_path)
    assert a.item.inode != b.item.inode and a.item.kind == FILE and a.names == ("f",)
    assert same_content(a, b)


@pytest.mark.parametrize("content, xattr", [(b"same bytez", None), (b"same bytes", b"x")])
def test_different_bytes_or_xattrs_are_not(tmp_path, content, xattr):
    a, b = _two_files(tmp_path, content, xattr)
    assert a.item.size == b.item.size and stat.S_ISREG(a.item.mode)
    assert not same_content(a, b)


def test_a_file_that_is_no_longer_the_inode_looked_at_is_not_compared(tmp_path):
    a, b = _two_files(tmp_path)
    path = tmp_path / "s.0" / "f"
    path.rename(tmp_path / "kept")  # kept: its inode number is not given to the new file
    path.write_bytes(b"same bytes")
    os.utime(path, ns=(10**18, 10**18))
    assert not same_content(a, b)
