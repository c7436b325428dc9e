"""vhpi.act.relink turns an expiring snapshot into an exact hard-linked copy of
backup.latest: checked against what `cp -al` makes, on real files with real inodes."""

import os
import stat
import subprocess

import pytest

from vhpi.act.relink import relink_tree
from tests.integration.helpers import walk


def _describe(root):
    """Every entry: files by inode, folders by owner, mode, times and xattrs."""
    found = {}
    for folder, folders, files in walk(root):
        for name in folders + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            relative = os.path.relpath(path, root)
            if stat.S_ISDIR(info.st_mode):
                xattrs = {key: os.getxattr(path, key) for key in os.listxattr(path)}
                found[relative] = ("dir", info.st_mode, info.st_uid, info.st_gid, info.st_mtime_ns, xattrs)
            else:
                found[relative] = ("inode", info.st_ino)
    root_info = os.lstat(root)
    found["."] = ("dir", root_info.st_mode, root_info.st_mtime_ns)
    return found


def _make_model(model):
    (model / "docs" / "deep").mkdir(parents=True)
    (model / "docs" / "a.txt").write_text("a")
    (model / "docs" / "deep" / "b.txt").write_text("b")
    (model / "kept.txt").write_text("kept")
    (model / "becomes-dir").mkdir()
    (model / "becomes-dir" / "inside").write_text("i")
    os.symlink("docs/a.txt", model / "link")
    os.mkfifo(model / "fifo")
    (model / "bad\udcffname").write_bytes(b"x")
    os.chmod(model / "docs", 0o750)
    os.setxattr(model / "docs", "user.note", b"model")
    os.utime(model / "docs", ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))


def test_relinked_tree_equals_a_fresh_cp_al(tmp_path):
    model, tree, fresh = tmp_path / "latest", tmp_path / "expiring", tmp_path / "fresh"
    model.mkdir()
    _make_model(model)
    subprocess.run(["cp", "-al", str(model), str(tree)], check=True)
    # the expiring tree is an older state: other files, other folders, other metadata
    (tree / "docs" / "a.txt").unlink()
    (tree / "docs" / "a.txt").write_text("old a")
    (tree / "gone.txt").write_text("only in the old state")
    (tree / "gone-dir" / "x").mkdir(parents=True)
    (tree / "becomes-dir").rename(tmp_path / "moved")
    (tree / "becomes-dir").write_text("was a file")
    os.chmod(tree / "docs", 0o700)
    os.setxattr(tree / "docs", "user.note", b"old")
    os.setxattr(tree / "docs", "user.extra", b"old only")
    kept_before = os.lstat(tree / "kept.txt").st_ino

    counts = relink_tree(str(model), str(tree))

    subprocess.run(["cp", "-al", str(model), str(fresh)], check=True)
    assert _describe(tree) == _describe(fresh) == _describe(model)
    assert os.lstat(tree / "kept.txt").st_ino == kept_before
    assert counts.linked >= 2 and counts.removed >= 3 and counts.kept >= 5


def test_relink_never_changes_an_inode_it_does_not_own(tmp_path):
    model, tree, other = tmp_path / "latest", tmp_path / "expiring", tmp_path / "other-snapshot"
    model.mkdir()
    (model / "f").write_text("new")
    os.chmod(model / "f", 0o600)
    tree.mkdir()
    (tree / "f").write_text("old")
    os.chmod(tree / "f", 0o644)
    os.link(tree / "f", other)  # the old inode is still in another snapshot
    before = os.lstat(other)

    relink_tree(str(model), str(tree))

    after = os.lstat(other)
    assert (after.st_mode, after.st_mtime_ns, other.read_text()) == (before.st_mode, before.st_mtime_ns, "old")
    assert os.lstat(tree / "f").st_ino == os.lstat(model / "f").st_ino


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: folder owners other than the user")
def test_relink_copies_folder_owners(tmp_path):
    model, tree = tmp_path / "latest", tmp_path / "expiring"
    (model / "d").mkdir(parents=True)
    (tree / "d").mkdir(parents=True)
    os.chown(model / "d", 12345, 23456)
    relink_tree(str(model), str(tree))
    info = os.lstat(tree / "d")
    assert (info.st_uid, info.st_gid) == (12345, 23456)
