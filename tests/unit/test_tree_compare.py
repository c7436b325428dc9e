"""vhpi.decide.tree_compare: what changed between two entries, merging listings, escaping
names, tallies and summary lines."""

import os
import stat
from collections import namedtuple

import pytest

from vhpi.decide.tree_compare import (Change, DiffTally, Facts, change_as_json, differences,
                                      facts_from_stat, format_change, format_summary, json_path,
                                      kind_of_mode, marker_for, merge_listings, printable_path,
                                      signed_bytes)

BASE = Facts("file", 10, 5_000_000_000, 0o644, 1000, 1000)


def with_(facts: Facts, **changes) -> Facts:
    return Facts(**{**vars(facts), **changes})


@pytest.mark.parametrize("b, quick, what, marker", [
    (BASE, False, (), None),
    (with_(BASE, size=11), False, ("size",), "M"),
    (with_(BASE, mtime_ns=5_000_000_001), False, ("mtime",), "M"),
    (with_(BASE, mtime_ns=5_000_000_001), True, (), None),          # whole seconds vs the source
    (with_(BASE, mtime_ns=6_000_000_000), True, ("mtime",), "M"),
    (with_(BASE, mode=0o600), False, ("mode",), "m"),
    (with_(BASE, mode=0o600), True, ("mode",), "m"),
    (with_(BASE, uid=0), False, ("owner",), "m"),
    (with_(BASE, uid=0, gid=0), False, ("owner", "group"), "m"),
    (with_(BASE, uid=0, gid=0), True, (), None),                    # owners not compared to the source
    (with_(BASE, size=1, mode=0o600), False, ("size", "mode"), "M"),
])
def test_file_differences(b, quick, what, marker):
    assert differences(BASE, b, quick) == what
    assert marker_for(differences(BASE, b, quick)) == marker


FOLDER = Facts("folder", 4096, 1, 0o755, 0, 0)
LINK = Facts("symlink", 3, 1, 0o777, 0, 0, target=b"abc")
DEVICE = Facts("other", 0, 1, 0o660, 0, 0, rdev=0x0801)


@pytest.mark.parametrize("a, b, what", [
    (FOLDER, with_(FOLDER, size=8192, mtime_ns=99), ()),             # folder size and time ignored
    (FOLDER, with_(FOLDER, mode=0o700), ("mode",)),
    (LINK, with_(LINK, mtime_ns=99), ()),                            # a symlink is its target
    (LINK, with_(LINK, target=b"xyz"), ("target",)),
    (LINK, with_(LINK, target=b"longer", size=6), ("target",)),
    (LINK, with_(LINK, uid=5), ("owner",)),
    (DEVICE, with_(DEVICE, rdev=0x0802), ("device",)),
])
def test_other_kinds(a, b, what):
    assert differences(a, b, quick=False) == what


@pytest.mark.parametrize("mode, kind", [
    (stat.S_IFREG | 0o644, "file"), (stat.S_IFDIR | 0o755, "folder"),
    (stat.S_IFLNK | 0o777, "symlink"), (stat.S_IFIFO | 0o600, "other"),
    (stat.S_IFCHR | 0o600, "other"), (stat.S_IFSOCK | 0o600, "other"),
])
def test_kind_of_mode(mode, kind):
    assert kind_of_mode(mode) == kind


def test_facts_from_a_real_stat(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    os.chmod(path, 0o640)
    facts = facts_from_stat(os.lstat(path))
    assert (facts.kind, facts.size, facts.mode, facts.target, facts.rdev) == ("file", 5, 0o640, None, 0)


Item = namedtuple("Item", "name tag")


@pytest.mark.parametrize("a, b, merged", [
    ([], [], []),
    (["x"], [], [("x", "a", None)]),
    ([], ["x"], [("x", None, "b")]),
    (["a", "c"], ["b", "c", "d"], [("a", "a", None), ("b", None, "b"), ("c", "a", "b"), ("d", None, "b")]),
    (["a", "b"], ["a", "b"], [("a", "a", "b"), ("b", "a", "b")]),
])
def test_merge_listings(a, b, merged):
    to_items = lambda names, tag: [Item(name.encode(), tag) for name in names]  # noqa: E731
    found = [(name.decode(), x and x.tag, y and y.tag)
             for name, x, y in merge_listings(to_items(a, "a"), to_items(b, "b"))]
    assert found == merged


def test_merge_listings_orders_bytes_as_bytes():
    a = [Item(name, "a") for name in sorted([b"\xe9", b"Z", b"a.txt"])]
    b = [Item(name, "b") for name in sorted([b"a", b"\xff"])]
    assert [name for name, _, _ in merge_listings(a, b)] == [b"Z", b"a", b"a.txt", b"\xe9", b"\xff"]


@pytest.mark.parametrize("raw, text", [
    (b"plain.txt", "plain.txt"),
    (b"with space", "with space"),
    (b"new\nline", "new\\nline"),
    (b"tab\tcr\r", "tab\\tcr\\r"),
    (b"back\\slash", "back\\\\slash"),
    (b"\\n", "\\\\n"),                                  # a real backslash-n is not a newline
    (b"latin1-\xe9", "latin1-\\xe9"),
    (b"\xff\xfe", "\\xff\\xfe"),
    ("utf8-äé€".encode(), "utf8-äé€"),
    (b"bell\x07", "bell\\u0007"),
    ("rtl\u202eevil".encode(), "rtl\\u202eevil"),
    ("tag\U000e0001".encode(), "tag\\U000e0001"),
    (b"del\x7f", "del\\u007f"),
])
def test_printable_path(raw, text):
    assert printable_path(raw) == text
    assert "\n" not in printable_path(raw)


def test_printable_path_is_one_to_one():
    names = [b"a\nb", b"a\\nb", b"a\\\\nb", b"\xe9", b"\\xe9", "é".encode(), b"\x00", b"\\u0000"]
    assert len({printable_path(name) for name in names}) == len(names)


@pytest.mark.parametrize("raw", [b"plain", b"\xe9t\xe9", b"new\nline", "€".encode(), b"\xff"])
def test_json_path_gives_the_bytes_back(raw):
    assert os.fsencode(json_path(raw)) == raw


@pytest.mark.parametrize("change, line", [
    (Change("+", b"new.txt", "file", 5), "+ new.txt"),
    (Change("-", b"a/b", "symlink", 3), "- a/b"),
    (Change("M", b"x", "file", 9, old_size=3, what=("size",)), "M x"),
    (Change("m", b"dir", "folder", 4096, old_size=4096, what=("mode",)), "m dir/"),
    (Change("+", b"photos", "folder", 12288, files=3, folders=1), "+ photos/ (3 files, 12.0 KiB)"),
    (Change("-", b"one", "folder", 4, files=1, folders=2), "- one/ (1 file, 4 B)"),
    (Change("-", b"empty", "folder", 0, files=0, folders=1), "- empty/ (0 files, 0 B)"),
    (Change("+", b"odd\nname", "file", 1), "+ odd\\nname"),
])
def test_format_change(change, line):
    assert format_change(change) == line


def tally_of(*changes: Change) -> DiffTally:
    tally = DiffTally()
    for change in changes:
        tally.count(change)
    return tally


@pytest.mark.parametrize("changes, summary", [
    ((), "0 added (0 B), 0 removed (0 B), 0 changed (+0 B)"),
    ((Change("+", b"a", "file", 12288), Change("+", b"d", "folder", 0, files=2, folders=1),
      Change("-", b"r", "file", 4), Change("M", b"c", "file", 2000, old_size=800),
      Change("M", b"e", "file", 10, old_size=10), Change("m", b"f", "file", 1, old_size=1)),
     "3 added (12.0 KiB), 1 removed (4 B), 2 changed (+1.2 KiB), 1 metadata only; "
     "folders: 1 added, 0 removed"),
    ((Change("M", b"c", "file", 1, old_size=5),), "0 added (0 B), 0 removed (0 B), 1 changed (-4 B)"),
    ((Change("-", b"d", "folder", 100, files=4, folders=3),),
     "0 added (0 B), 4 removed (100 B), 0 changed (+0 B); folders: 0 added, 3 removed"),
])
def test_summary(changes, summary):
    assert format_summary(tally_of(*changes)) == summary


def test_tally_as_dict():
    tally = tally_of(Change("+", b"d", "folder", 7, files=2, folders=2), Change("M", b"x", "file", 3, old_size=1))
    assert tally.as_dict() == {"added": 2, "added_bytes": 7, "added_folders": 2, "removed": 0,
                               "removed_bytes": 0, "removed_folders": 0, "changed": 1,
                               "changed_delta": 2, "metadata_only": 0}


@pytest.mark.parametrize("count, text", [(0, "+0 B"), (1536, "+1.5 KiB"), (-4, "-4 B")])
def test_signed_bytes(count, text):
    assert signed_bytes(count) == text


@pytest.mark.parametrize("change, entry", [
    (Change("+", b"f", "file", 5), {"path": "f", "kind": "file", "size": 5}),
    (Change("-", b"d", "folder", 9, files=3, folders=2),
     {"path": "d", "kind": "folder", "size": 9, "files": 3, "folders": 2}),
    (Change("m", b"\xe9", "file", 1, old_size=1, what=("mode",)),
     {"path": "\udce9", "kind": "file", "size": 1, "old_size": 1, "what": ["mode"],
      "metadata_only": True}),
    (Change("M", b"l", "symlink", 4, old_size=2, what=("target",)),
     {"path": "l", "kind": "symlink", "size": 4, "old_size": 2, "what": ["target"],
      "metadata_only": False}),
])
def test_change_as_json(change, entry):
    assert change_as_json(change) == entry
