"""Deletions, a file and a folder swapping kinds, excludes, names that need escaping,
symlinks, and hard links."""

import os
import stat

import pytest

from tests.integration.helpers import (assert_same_listing, ino, listing, manifest, read, vhpi,
                                       walk, work_leftovers, write_config, write_files)


def test_deleted_files_and_folders_leave_the_new_snapshot_only(world):
    write_files(world.source, {"keep.txt": "keep", "gone.txt": "gone",
                               "old/deep/er/file.txt": "deep", "old/top.txt": "top"})
    vhpi(world, code=0)
    (world.source / "gone.txt").unlink()
    for path in ("old/deep/er/file.txt", "old/top.txt"):
        (world.source / path).unlink()
    for path in ("old/deep/er", "old/deep", "old"):
        (world.source / path).rmdir()

    vhpi(world, at="+2h", code=0)

    new, old = world.dest / "hourly.0", world.dest / "hourly.1"
    assert not (new / "gone.txt").exists() and not (new / "old").exists()
    assert not (world.dest / "backup.latest" / "gone.txt").exists()
    assert read(old / "gone.txt") == "gone"
    assert read(old / "old/deep/er/file.txt") == "deep"
    assert read(world.dest / "daily.0" / "old/top.txt") == "top"
    assert manifest(new) == manifest(world.source)
    assert ino(new / "keep.txt") == ino(old / "keep.txt")
    assert " 6 deleted" in world.info_log.splitlines()[-1]  # 2 files + 1 file + 3 folders


def test_a_file_becomes_a_folder_and_a_folder_becomes_a_file(world):
    write_files(world.source, {"was-file": "a plain file",
                               "was-folder/sub/deep.txt": "deep", "was-folder/top.txt": "top"})
    vhpi(world, code=0)
    (world.source / "was-file").unlink()
    write_files(world.source, {"was-file/now-inside.txt": "inside"})
    for path in ("was-folder/sub/deep.txt", "was-folder/top.txt"):
        (world.source / path).unlink()
    (world.source / "was-folder/sub").rmdir()
    (world.source / "was-folder").rmdir()
    write_files(world.source, {"was-folder": "now a file"})

    vhpi(world, at="+2h", code=0)

    new, old = world.dest / "hourly.0", world.dest / "hourly.1"
    assert manifest(new) == manifest(world.source)
    assert read(new / "was-file/now-inside.txt") == "inside"
    assert read(new / "was-folder") == "now a file"
    assert read(old / "was-file") == "a plain file"
    assert read(old / "was-folder/sub/deep.txt") == "deep"
    assert read(world.dest / "daily.0" / "was-folder/top.txt") == "top"

    # and back again
    (world.source / "was-file/now-inside.txt").unlink()
    (world.source / "was-file").rmdir()
    write_files(world.source, {"was-file": "a file again"})
    (world.source / "was-folder").unlink()
    write_files(world.source, {"was-folder/again.txt": "a folder again"})
    vhpi(world, at="+4h", code=0)
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert read(world.dest / "hourly.1" / "was-folder") == "now a file"
    assert read(world.dest / "hourly.2" / "was-folder/sub/deep.txt") == "deep"
    assert work_leftovers(world) == []


def test_excludes_from_the_library_and_the_job_keep_files_out(world):
    write_config(world, exclude_lib={"junk": ["*.tmp", "cache/"], "unused": ["keep.txt"]},
                 exclude_lists=["junk"], excludes=["secret*", "/top-only.txt"])
    write_files(world.source, {
        "keep.txt": "keep", "a.tmp": "x", "dir/b.tmp": "x", "cache/c.txt": "x",
        "dir/cache/d.txt": "x", "secret.key": "x", "dir/secret-notes.txt": "x",
        "top-only.txt": "x", "dir/top-only.txt": "kept: the pattern is anchored"})
    vhpi(world, code=0)

    expected = {"keep.txt", "dir/top-only.txt", ".backup_valid"}
    for snapshot in ("backup.latest", "hourly.0", "daily.0"):
        root = world.dest / snapshot
        found = {os.path.relpath(os.path.join(folder, name), root)
                 for folder, _, names in walk(root) for name in names}
        assert found == expected, snapshot

    write_files(world.source, {"new.tmp": "x", "cache/e.txt": "x", "secret2": "x", "new.txt": "new"})
    vhpi(world, at="+2h", code=0)
    root = world.dest / "hourly.0"
    found = {os.path.relpath(os.path.join(folder, name), root)
             for folder, _, names in walk(root) for name in names}
    assert found == expected | {"new.txt"}


TRICKY = {
    b"with space.txt": b"space",
    b"new\nline": b"newline",
    b"back\\#012slash": b"not an escape",
    b"latin1-\xe9t\xe9": b"not UTF-8",
    b"utf8-\xc3\xa4\xe2\x82\xac": b"umlaut and euro",
    b"-starts-with-dash": b"dash",
    b"*deleting   x": b"looks like an rsync line",
    b"dir with\ttab/inner file": b"tab",
}


UMLAUT = b"utf8-\xc3\xa4\xe2\x82\xac"


@pytest.fixture(params=[0o022, 0o077], ids=["umask-022", "umask-077"])
def process_umask(request):
    """Run the test under this process umask (restored after). An in-process vhpi main()
    earlier in the session (test_example_config, test_healthcheck, test_hooks) leaves the
    test process with vhpi's private 077, so that files a test writes are 0600 already."""
    before = os.umask(request.param)
    yield request.param
    os.umask(before)


def test_names_that_need_escaping_survive_changes_and_deletions(world, process_umask):
    write_files(world.source, TRICKY, mtime=1_700_000_000)
    source = os.fsencode(world.source)
    for name in TRICKY:  # whatever the umask: the chmod below must be a real change
        os.chmod(os.path.join(source, name), 0o644)
    vhpi(world, code=0)
    assert manifest(world.dest / "hourly.0") == manifest(world.source)

    write_files(world.source, {b"new\nline": b"newline v2", b"back\\#012slash": b"changed too"},
                mtime=1_700_000_100)
    os.unlink(os.path.join(os.fsencode(world.source), b"latin1-\xe9t\xe9"))
    os.unlink(os.path.join(os.fsencode(world.source), b"*deleting   x"))
    os.chmod(os.path.join(source, UMLAUT), 0o600)
    vhpi(world, at="+2h", code=0)

    new, old = os.fsencode(world.dest / "hourly.0"), os.fsencode(world.dest / "hourly.1")
    assert manifest(new) == manifest(world.source)
    with open(os.path.join(old, b"new\nline"), "rb") as handle:
        assert handle.read() == b"newline"
    assert os.path.exists(os.path.join(old, b"latin1-\xe9t\xe9"))
    for name in (b"new\nline", b"back\\#012slash", UMLAUT):
        assert os.lstat(os.path.join(new, name)).st_ino != os.lstat(os.path.join(old, name)).st_ino
    for snapshot in (old, os.fsencode(world.dest / "daily.0")):  # the older snapshots did not change
        assert stat.S_IMODE(os.lstat(os.path.join(snapshot, UMLAUT)).st_mode) == 0o644
    assert stat.S_IMODE(os.lstat(os.path.join(new, UMLAUT)).st_mode) == 0o600
    for name in (b"with space.txt", b"-starts-with-dash", b"dir with\ttab/inner file"):
        assert os.lstat(os.path.join(new, name)).st_ino == os.lstat(os.path.join(old, name)).st_ino


def test_names_rsync_would_read_as_comments_are_copied_when_they_change(world):
    """rsync skips --files-from lines that start with '#' or ';': vhpi lists such paths so
    that rsync reads them as paths (a changed one must not vanish from the new snapshot)."""
    names = ("#notes.txt", ";semi", "#recycle/inner.txt", "plain.txt")
    write_files(world.source, {name: "v1" for name in names}, mtime=1_700_000_000)
    vhpi(world, code=0)
    write_files(world.source, {**{name: "v2, longer" for name in names}, "#recycle/new.txt": "new"},
                mtime=1_700_000_100)
    vhpi(world, at="+2h", code=0)
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert read(world.dest / "hourly.1" / "#recycle/inner.txt") == "v1"
    assert "warning" not in world.info_log.lower()


def test_a_new_hard_link_to_an_unchanged_file_stays_a_link(world):
    write_files(world.source, {"one/original.bin": b"o" * 100_000, "two/other.txt": "x"})
    vhpi(world, code=0)
    os.link(world.source / "one/original.bin", world.source / "two/link.bin")
    vhpi(world, at="+2h", code=0)
    vhpi(world, at="+4h", code=0)

    for snapshot in ("hourly.0", "hourly.1"):
        root = world.dest / snapshot
        assert ino(root / "two/link.bin") == ino(root / "one/original.bin"), snapshot
    assert ino(world.dest / "hourly.0/two/link.bin") == ino(world.dest / "hourly.1/two/link.bin"), \
        "an unchanged file was copied again"


def test_symlinks_in_the_tree_are_never_followed(world):
    outside = world.root / "outside"
    write_files(outside, {"canary.txt": "must survive"})
    before = listing(outside)
    os.symlink(outside, world.source / "link")  # a folder symlink pointing out of the tree
    write_files(world.source, {"real/inside.txt": "inside"})
    vhpi(world, code=0)
    assert os.readlink(world.dest / "hourly.0" / "link") == str(outside)

    # the symlink becomes a real folder, and the real folder becomes a symlink out
    (world.source / "link").unlink()
    write_files(world.source, {"link/canary.txt": "a new file, not the one outside"})
    (world.source / "real/inside.txt").unlink()
    (world.source / "real").rmdir()
    os.symlink(outside, world.source / "real")
    vhpi(world, at="+2h", code=0)
    # and both are deleted
    (world.source / "link/canary.txt").unlink()
    (world.source / "link").rmdir()
    (world.source / "real").unlink()
    vhpi(world, at="+4h", code=0)

    assert_same_listing(before, listing(outside))
    assert os.readlink(world.dest / "hourly.1" / "real") == str(outside)
    assert read(world.dest / "hourly.1" / "link/canary.txt") == "a new file, not the one outside"
    assert read(world.dest / "hourly.2" / "real/inside.txt") == "inside"
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
