"""`vhpi diff`: real snapshots made by real vhpi runs, compared by the real command."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from tests.integration.helpers import ino, vhpi, write_config, write_files

OLD, NEW = 1_700_000_000, 1_700_000_600


def diff_lines(world, *names: str, code: int = 0) -> list:
    """The lines `vhpi diff` prints (the summary last)."""
    return vhpi(world, "diff", *names, code=code).stdout.splitlines()


def diff_json(world, *names: str) -> dict:
    return json.loads(vhpi(world, "diff", *names, "--json", code=0).stdout)


def two_snapshots(world, before: dict, change) -> None:
    """Back up `before`, apply `change()` to the source, back up again two hours later."""
    write_files(world.source, before, mtime=OLD)
    vhpi(world, code=0)
    change()
    vhpi(world, at="+2h", code=0)


def test_added_removed_changed_and_metadata_only(world):
    def change():
        write_files(world.source, {"new.txt": "12345", "grown.txt": "grown by six"}, mtime=NEW)
        write_files(world.source, {"same-size.txt": "SAME"}, mtime=NEW)   # size kept, mtime not
        (world.source / "gone.txt").unlink()
        os.chmod(world.source / "chmod.txt", 0o600)

    two_snapshots(world, {"keep.txt": "k", "gone.txt": "abcd", "grown.txt": "grown",
                          "same-size.txt": "same", "chmod.txt": "c",
                          "deep/er/keep.bin": b"\0" * 5000}, change)
    old, new = world.dest / "hourly.1", world.dest / "hourly.0"
    assert ino(old / "keep.txt") == ino(new / "keep.txt")            # shared: nothing to say
    assert ino(old / "deep/er/keep.bin") == ino(new / "deep/er/keep.bin")

    assert diff_lines(world, "hourly.1", "hourly.0") == [
        "m chmod.txt",
        "- gone.txt",
        "M grown.txt",
        "+ new.txt",
        "M same-size.txt",
        "1 added (5 B), 1 removed (4 B), 2 changed (+7 B), 1 metadata only",
    ]
    # the other way round: what was added is now removed
    assert diff_lines(world, "hourly.0", "hourly.1")[-1] == \
        "1 added (4 B), 1 removed (5 B), 2 changed (-7 B), 1 metadata only"


def test_identical_snapshots_have_no_differences(world):
    write_files(world.source, {"a.txt": "a", "sub/b.txt": "b"})
    vhpi(world, code=0)
    assert diff_lines(world, "hourly.0", "latest") == ["0 added (0 B), 0 removed (0 B), 0 changed (+0 B)"]
    assert diff_lines(world, "daily.0", "backup.latest")[:-1] == []


def test_unchanged_files_cost_no_lstat(world, monkeypatch):
    """Shared inodes are told apart by the folder listing alone: the walk lstats the one
    changed file on each side (folders are looked at through their open fds), never the
    300 unchanged files."""
    from vhpi.act import tree_walk
    write_files(world.source, {f"d{d}/f{f}.txt": f"{d}-{f}" for d in range(3) for f in range(100)})
    two_snapshots(world, {}, lambda: write_files(world.source, {"d1/f7.txt": "changed!"}, mtime=NEW))
    calls = []
    real_lstat = os.lstat
    monkeypatch.setattr(os, "lstat", lambda path, **kw: calls.append(path) or real_lstat(path, **kw))
    changes = list(tree_walk.compare_trees(os.fsencode(world.dest / "hourly.1"),
                                           os.fsencode(world.dest / "hourly.0"), quick=False))
    assert [(c.marker, c.path) for c in changes] == [("M", b"d1/f7.txt")]
    files = [path for path in calls if path.endswith(b".txt")]
    assert files == [b"f7.txt", b"f7.txt"]   # by name, relative to each side's open folder
    assert len(calls) == 2


def test_added_and_removed_folders_are_one_line_with_their_files_counted(world):
    def change():
        for path in ("old/a.txt", "old/sub/b.txt", "old/sub/c.txt"):
            (world.source / path).unlink()
        (world.source / "old/sub").rmdir()
        (world.source / "old").rmdir()
        write_files(world.source, {"fresh/x.txt": "x" * 100, "fresh/y/z.txt": "z" * 28})

    two_snapshots(world, {"old/a.txt": "aa", "old/sub/b.txt": "bbb", "old/sub/c.txt": "c"}, change)
    assert diff_lines(world, "hourly.1", "hourly.0") == [
        "+ fresh/ (2 files, 128 B)",
        "- old/ (3 files, 6 B)",
        "2 added (128 B), 3 removed (6 B), 0 changed (+0 B); folders: 2 added, 2 removed",
    ]


def test_a_path_that_changes_kind_is_removed_and_added(world):
    def change():
        (world.source / "was-file").unlink()
        write_files(world.source, {"was-file/inside.txt": "inside"})
        (world.source / "was-folder/top.txt").unlink()
        (world.source / "was-folder").rmdir()
        write_files(world.source, {"was-folder": "now a file"}, mtime=NEW)
        (world.source / "was-link").unlink()
        write_files(world.source, {"was-link": "a file"}, mtime=NEW)

    def before():
        return {"was-file": "a plain file", "was-folder/top.txt": "top"}

    write_files(world.source, before(), mtime=OLD)
    os.symlink("was-file", world.source / "was-link")
    vhpi(world, code=0)
    change()
    vhpi(world, at="+2h", code=0)
    assert diff_lines(world, "hourly.1", "hourly.0")[:-1] == [
        "- was-file",
        "+ was-file/ (1 file, 6 B)",
        "- was-folder/ (1 file, 3 B)",
        "+ was-folder",
        "- was-link",
        "+ was-link",
    ]
    changed = diff_json(world, "hourly.1", "hourly.0")
    assert {(e["path"], e["kind"]) for e in changed["removed"]} == {
        ("was-file", "file"), ("was-folder", "folder"), ("was-link", "symlink")}
    assert {(e["path"], e["kind"]) for e in changed["added"]} == {
        ("was-file", "folder"), ("was-folder", "file"), ("was-link", "file")}


def test_symlink_targets_and_folder_permissions(world):
    def change():
        (world.source / "link").unlink()
        os.symlink("elsewhere", world.source / "link")
        os.chmod(world.source / "private", 0o700)

    write_files(world.source, {"private/note.txt": "n"})
    os.chmod(world.source / "private", 0o755)
    os.symlink("somewhere", world.source / "link")
    os.symlink("fixed", world.source / "steady")
    vhpi(world, code=0)
    change()
    vhpi(world, at="+2h", code=0)
    assert diff_lines(world, "hourly.1", "hourly.0") == [
        "M link",
        "m private/",
        "0 added (0 B), 0 removed (0 B), 1 changed (+0 B), 1 metadata only",
    ]
    changed = diff_json(world, "hourly.1", "hourly.0")["changed"]
    assert changed == [
        {"path": "link", "kind": "symlink", "size": 9, "old_size": 9, "what": ["target"],
         "metadata_only": False},
        {"path": "private", "kind": "folder", "size": changed[1]["size"],
         "old_size": changed[1]["old_size"], "what": ["mode"], "metadata_only": True},
    ]


ODD = {
    b"with space.txt": b"s",
    b"new\nline": b"n",
    b"tab\there": b"t",
    b"back\\slash": b"b",
    b"latin1-\xe9t\xe9": b"l",
    b"utf8-\xc3\xa4\xe2\x82\xac": b"u",
    b"folder with space/inner\nfile": b"i",
}
PRINTED = {
    b"with space.txt": "with space.txt",
    b"new\nline": "new\\nline",
    b"tab\there": "tab\\there",
    b"back\\slash": "back\\\\slash",
    b"latin1-\xe9t\xe9": "latin1-\\xe9t\\xe9",
    b"utf8-\xc3\xa4\xe2\x82\xac": "utf8-\u00e4\u20ac",
    b"folder with space": "folder with space/ (1 file, 1 B)",
}


def test_odd_names_are_printed_escaped_one_per_line_and_kept_exact_in_json(world):
    vhpi(world, code=0)
    write_files(world.source, ODD)
    vhpi(world, at="+2h", code=0)
    result = vhpi(world, "diff", "hourly.1", "hourly.0", code=0)
    lines = result.stdout.splitlines()
    assert sorted(lines[:-1]) == sorted("+ " + text for text in PRINTED.values())
    assert lines[-1].startswith("7 added (7 B), 0 removed")
    added = diff_json(world, "hourly.1", "hourly.0")["added"]
    assert sorted(os.fsencode(entry["path"]) for entry in added) == sorted(
        name for name in PRINTED)


def test_odd_names_print_on_an_ascii_terminal(world):
    vhpi(world, code=0)
    write_files(world.source, ODD)
    vhpi(world, at="+2h", code=0)
    result = vhpi(world, "diff", "hourly.1", "hourly.0", env={"PYTHONIOENCODING": "ascii"}, code=0)
    assert "+ utf8-\\xe4\\u20ac" in result.stdout.splitlines()


def test_diff_against_the_source_uses_the_quick_check_and_the_excludes(world):
    write_config(world, excludes=["*.tmp", "/cache/"])
    write_files(world.source, {"a.txt": "a", "b.txt": "b", "sub/c.txt": "c"}, mtime=OLD)
    vhpi(world, code=0)
    assert diff_lines(world, "hourly.0", "source") == ["0 added (0 B), 0 removed (0 B), 0 changed (+0 B)"]

    write_files(world.source, {"a.txt": "A", "new.txt": "new", "junk.tmp": "x",
                               "cache/big.bin": "x" * 1000, "sub/cache/kept.txt": "k"}, mtime=NEW)
    (world.source / "b.txt").unlink()
    os.chmod(world.source / "sub/c.txt", 0o604)
    assert diff_lines(world, "latest", "source") == [
        "M a.txt",
        "- b.txt",
        "+ new.txt",
        "m sub/c.txt",                  # names in byte order: "." before "a"
        "+ sub/cache/ (1 file, 1 B)",
        "2 added (4 B), 1 removed (1 B), 1 changed (+0 B), 1 metadata only; folders: 1 added, 0 removed",
    ]
    # source first works too, and the backup's folder times do not count as changes
    assert diff_lines(world, "source", "hourly.0")[-1] == (
        "1 added (1 B), 2 removed (4 B), 1 changed (+0 B), 1 metadata only; "
        "folders: 0 added, 1 removed")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: changes a file's owner")
def test_diff_against_the_source_ignores_owners_but_snapshots_compare_them(world):
    write_files(world.source, {"owned.txt": "o"}, mtime=OLD)
    vhpi(world, code=0)
    os.chown(world.source / "owned.txt", 1234, 1234)
    assert diff_lines(world, "latest", "source")[:-1] == []
    vhpi(world, at="+2h", code=0)
    assert diff_lines(world, "hourly.1", "hourly.0")[:-1] == ["m owned.txt"]
    assert diff_json(world, "hourly.1", "hourly.0")["changed"][0]["what"] == ["owner", "group"]


def test_a_missing_source_is_an_error(world):
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, code=0)
    (world.source / ".backup_valid").unlink()
    result = vhpi(world, "diff", "latest", "source", code=1)
    assert ".backup_valid" in result.stderr and result.stdout == ""


def test_unknown_snapshot_names_the_existing_ones(world):
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, code=0)
    result = vhpi(world, "diff", "hourly.7", "hourly.0", code=1)
    assert "hourly.7" in result.stderr
    for name in ("hourly.0", "daily.0", "backup.latest"):
        assert name in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("names", [["hourly.0"], ["job", "hourly.1", "hourly.0", "extra"]])
def test_wrong_number_of_names_prints_the_usage(world, names):
    result = vhpi(world, "diff", *names, code=2)
    assert "usage: vhpi diff [JOB] A B" in result.stderr


def test_two_names_with_several_jobs_asks_for_the_job(world):
    other = world.root / "other-dest"
    other.mkdir()
    (other / ".backup_destination").write_text("")
    jobs = [{"name": name, "source_ip": "127.0.0.1", "rsync_src": str(world.source),
             "rsync_dest": str(dest), "snapshots": {"hourly": 3, "daily": 2}}
            for name, dest in (("first", world.dest), ("second", other))]
    world.config.write_text(yaml.safe_dump({"app_cfg": {"intervals": {"hourly": 3600, "daily": 86400}},
                                            "jobs_cfg": jobs}))
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, code=0)
    result = vhpi(world, "diff", "hourly.0", "latest", code=2)
    assert "first, second" in result.stderr and "usage:" in result.stderr
    assert diff_lines(world, "second", "hourly.0", "latest") == \
        ["0 added (0 B), 0 removed (0 B), 0 changed (+0 B)"]
    result = vhpi(world, "diff", "third", "hourly.0", "latest", code=1)
    assert "third" in result.stderr and "first, second" in result.stderr


def test_json_shape(world):
    def change():
        write_files(world.source, {"add/one.txt": "1", "add/two.txt": "22", "edit.txt": "edited"},
                    mtime=NEW)
        (world.source / "drop.txt").unlink()

    two_snapshots(world, {"edit.txt": "e", "drop.txt": "dd"}, change)
    result = diff_json(world, "hourly.1", "hourly.0")
    assert result == {
        "job": result["job"], "a": "hourly.1", "b": "hourly.0",
        "added": [{"path": "add", "kind": "folder", "size": 3, "files": 2, "folders": 1}],
        "removed": [{"path": "drop.txt", "kind": "file", "size": 2}],
        "changed": [{"path": "edit.txt", "kind": "file", "size": 6, "old_size": 1,
                     "what": ["size", "mtime"], "metadata_only": False}],
        "summary": {"added": 2, "added_bytes": 3, "added_folders": 1, "removed": 1,
                    "removed_bytes": 2, "removed_folders": 0, "changed": 1, "changed_delta": 5,
                    "metadata_only": 0},
    }
    assert isinstance(result["job"], str) and result["job"]


def test_a_reader_that_stops_early_is_no_error(world):
    vhpi(world, code=0)
    long = "a-name-long-enough-that-the-output-outgrows-a-pipe-buffer-"
    write_files(world.source, {f"{long}{n:04}.txt": "x" for n in range(2000)})  # 130 KB
    vhpi(world, at="+2h", code=0)
    into_head = ("bash", "-c", '"$@" | head -1; exit ${PIPESTATUS[0]}', "bash")
    result = vhpi(world, "diff", "hourly.1", "hourly.0", prefix=into_head)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"+ {long}0000.txt\n", "")
