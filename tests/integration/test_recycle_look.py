"""Recycling the expiring snapshot with the differences found while rsync looked
(vhpi.act.relink.find_differences and relink_known, vhpi.act.relink_look, the look of
vhpi.act.head_start): the recycled tree must end up exactly like backup.latest (every name
the same inode, every folder the same metadata), visiting only the folders that differ; a
look that no longer holds is not used. On real files, real inodes, a real child process."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.helpers import debug_log, ino, manifest, numbers, vhpi, work_leftovers, write_files
from tests.integration.test_deep_trees import DEPTH, _model_and_old_state, bottom, deep, few_fds  # noqa: F401
from vhpi.act.head_start import (RecycleLook, abandon_head_start, start_recycle_look, take_look,
                                 wait_for_head_start)
from vhpi.act.layout import Layout
from vhpi.act.relink import DIFFERS, FULL, find_differences, relink_known, relink_tree
from vhpi.act.relink_look import read_differences, tokens_of, write_differences
from vhpi.act.snapshots import recycle_oldest

LOG = logging.getLogger("vhpi-test-recycle-look")


def _describe(root: Path) -> dict:
    """Every entry below `root`: files by inode, folders by mode, owner, mtime and xattrs."""
    found, pending = {}, [root]
    while pending:
        folder = pending.pop()
        for entry in os.scandir(folder):
            info = entry.stat(follow_symlinks=False)
            relative = os.path.relpath(entry.path, root)
            if stat.S_ISDIR(info.st_mode):
                xattrs = {key: os.getxattr(entry.path, key) for key in os.listxattr(entry.path)}
                found[relative] = ("dir", info.st_mode, info.st_uid, info.st_gid, info.st_mtime_ns, xattrs)
                pending.append(entry.path)
            else:
                found[relative] = ("inode", info.st_ino)
    return found


def _folder_ctimes(root: Path) -> dict:
    return {relative: os.lstat(root / relative).st_ctime_ns
            for relative, entry in _describe(root).items() if entry[0] == "dir"}


def _model_and_old_tree(tmp_path: Path):
    """backup.latest and an older, hard-linked state of it: many unchanged folders, and
    folders whose files, kinds, subfolders, mode, xattrs or mtime differ."""
    model, tree = tmp_path / "latest", tmp_path / "expiring"
    for top in range(3):
        for leaf in range(4):
            write_files(model, {f"same{top}/leaf{leaf}/f{n}.txt": f"{top}{leaf}{n}" for n in range(5)})
    write_files(model, {"docs/a.txt": "a", "docs/deep/b.txt": "b", "kept.txt": "kept",
                        "becomes-dir/inside": "i", "chmod/x": "x", "touch/y": "y"})
    os.symlink("docs/a.txt", model / "link")
    (model / "bad\udcffname").write_bytes(b"x")
    os.setxattr(model / "docs", "user.note", b"model")
    subprocess.run(["cp", "-al", str(model), str(tree)], check=True)
    (tree / "docs" / "a.txt").unlink()
    (tree / "docs" / "a.txt").write_text("old a")
    (tree / "gone.txt").write_text("only in the old state")
    write_files(tree, {"gone-dir/x/y": "old"})
    os.rename(tree / "becomes-dir", tmp_path / "moved-away")
    (tree / "becomes-dir").write_text("was a file")
    os.setxattr(tree / "docs", "user.note", b"old")
    os.chmod(tree / "chmod", 0o700)
    os.utime(tree / "touch", ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
    os.utime(tree / "same1" / "leaf2", ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
    os.utime(tree, ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
    return model, tree


# ---------------------------------------------------------------- finding and applying

def test_found_differences_name_only_the_folders_that_differ_and_those_above(tmp_path):
    model, tree = _model_and_old_tree(tmp_path)

    differences = find_differences(str(model), str(tree))

    assert differences[DIFFERS] is True      # gone.txt, becomes-dir, the top's mtime
    assert differences["docs"] == {DIFFERS: True}   # a.txt's inode and the xattr; deep/ is alike
    assert differences["chmod"] == {DIFFERS: True} and differences["touch"] == {DIFFERS: True}
    assert differences["same1"] == {"leaf2": {DIFFERS: True}}   # only there to lead to leaf2
    assert set(differences) == {DIFFERS, "docs", "chmod", "touch", "same1"}


def test_relinking_the_found_differences_equals_a_fresh_cp_al_and_leaves_the_rest_alone(tmp_path):
    model, tree = _model_and_old_tree(tmp_path)
    differences = find_differences(str(model), str(tree))
    untouched = {path: ctime for path, ctime in _folder_ctimes(tree).items()
                 if path.startswith(("same0", "same2", "docs/deep"))}
    time.sleep(0.05)  # so that a folder written now would get another ctime

    counts = relink_known(str(model), str(tree), differences)

    subprocess.run(["cp", "-al", str(model), str(tmp_path / "fresh")], check=True)
    assert _describe(tree) == _describe(tmp_path / "fresh") == _describe(model)
    assert {path: _folder_ctimes(tree)[path] for path in untouched} == untouched
    # linked: docs/a.txt, becomes-dir/inside; removed: the old a.txt, gone.txt, gone-dir, the file becomes-dir
    assert (counts.linked, counts.removed) == (2, 4)


def test_an_unchanged_tree_has_no_differences_and_relinking_it_writes_no_folder(tmp_path):
    model, tree = _model_and_old_tree(tmp_path)
    relink_tree(str(model), str(tree))
    before = _folder_ctimes(tree)
    time.sleep(0.05)

    assert find_differences(str(model), str(tree)) == {}
    counts = relink_tree(str(model), str(tree))
    assert (relink_known(str(model), str(tree), {}).linked, counts.linked, counts.removed) == (0, 0, 0)

    assert _folder_ctimes(tree) == before     # no chown, chmod, xattr or utime of equal values
    assert _describe(tree) == _describe(model)


def test_found_differences_and_relinking_them_10000_deep(deep, few_fds):  # noqa: F811
    model, tree = _model_and_old_state(deep, DEPTH)

    differences = find_differences(str(model), str(tree))
    data = b"".join(token + b"\0" for token in tokens_of(differences)) + b"end\0"
    counts = relink_known(str(model), str(tree), read_differences(data))

    depth, found, folder = bottom(tree)
    model_depth, wanted, model_folder = bottom(model)
    assert depth == model_depth == DEPTH
    assert sorted(found) == [b"changed.txt", b"keep.txt", b"link", b"new.txt", b"sub"]
    for name in (b"changed.txt", b"keep.txt", b"link", b"new.txt"):
        assert found[name].st_ino == wanted[name].st_ino, name
    assert (folder.st_mode, folder.st_mtime_ns) == (model_folder.st_mode, model_folder.st_mtime_ns)
    assert (counts.linked, counts.removed) == (5, 4)
    assert find_differences(str(model), str(tree)) == {}


# ---------------------------------------------------------------- the tokens

def test_differences_go_through_their_tokens_unchanged(tmp_path):
    differences = {DIFFERS: True, "a": {"b": {DIFFERS: True}, "c": {}}, "bad\udcffname": {DIFFERS: True}}
    path = tmp_path / "look"
    with open(path, "wb") as handle:
        write_differences(differences, handle)
    data = path.read_bytes()

    assert read_differences(data) == differences
    assert b"dbad\xffname\0" in data                       # the name's own bytes
    assert read_differences(data[:-1]) is None and read_differences(data[:-5]) is None   # cut short
    assert read_differences(b"u\0end\0") is None            # above the top
    assert read_differences(b"q\0end\0") is None            # not a token
    assert read_differences(b"end\0") == {}


def test_a_chain_of_10000_differing_folders_goes_through_its_tokens():
    differences = below = {}
    for _ in range(DEPTH):
        below["d"] = below = {DIFFERS: True}
    tokens = list(tokens_of(differences))
    assert len(tokens) == 3 * DEPTH                      # d, x and (on the way back) u per level
    again = read_differences(b"".join(token + b"\0" for token in tokens) + b"end\0")
    for _ in range(DEPTH):
        assert again.keys() == {"d"} or again.keys() == {"d", DIFFERS}
        again = again["d"]
        assert again[DIFFERS] is True


# ---------------------------------------------------------------- the look in a child

def _destination(tmp_path: Path):
    """A destination with backup.latest and hourly.0..3 (hourly.3 the older state)."""
    layout = Layout(str(tmp_path / "dest"))
    os.makedirs(layout.work)
    model, tree = _model_and_old_tree(tmp_path)
    os.rename(model, layout.latest)
    for number in range(3):
        subprocess.run(["cp", "-al", layout.latest, layout.snapshot(f"hourly.{number}")], check=True)
    os.rename(tree, layout.snapshot("hourly.3"))
    return layout


def _look(layout: Layout) -> RecycleLook:
    look = start_recycle_look(layout, "hourly", 3, LOG)
    assert look is not None and look.child is not None
    wait_for_head_start(look, LOG)
    return look


def test_the_look_in_a_child_finds_the_differences_and_leaves_no_file(tmp_path):
    layout = _destination(tmp_path)

    look = _look(layout)

    assert look.differences == find_differences(layout.latest, layout.snapshot("hourly.3"))
    assert look.differences["docs"] == {DIFFERS: True}
    assert os.listdir(layout.work) == []
    assert take_look(look, "hourly", layout.snapshot("hourly.3"), changed=False) == look_copy(layout)
    assert take_look(look, "hourly", layout.snapshot("hourly.3"), changed=False) is None   # used once


def look_copy(layout: Layout) -> dict:
    return find_differences(layout.latest, layout.snapshot("hourly.3"))


def test_a_look_that_no_longer_holds_is_not_taken(tmp_path):
    layout = _destination(tmp_path)
    expiring = layout.snapshot("hourly.3")

    assert take_look(_look(layout), "hourly", expiring, changed=True) is None      # the transfer changed latest
    assert take_look(_look(layout), "daily", expiring, changed=False) is None      # another interval
    assert take_look(_look(layout), "hourly", layout.snapshot("hourly.2"), changed=False) is None
    replaced = _look(layout)
    os.rename(expiring, layout.snapshot("hourly.9"))
    os.rename(layout.snapshot("hourly.2"), expiring)                               # another folder there now
    assert take_look(replaced, "hourly", expiring, changed=False) is None
    assert take_look(None, "hourly", expiring, changed=False) is None


def test_a_look_abandoned_while_its_child_runs_leaves_nothing(tmp_path):
    layout = _destination(tmp_path)
    look = start_recycle_look(layout, "hourly", 3, LOG)

    abandon_head_start(look)

    assert look.child is None and look.differences is None
    assert os.listdir(layout.work) == []


def test_a_look_whose_child_fails_is_not_used(tmp_path, caplog):
    layout = _destination(tmp_path)
    expiring = layout.snapshot("hourly.3")
    os.rename(expiring, layout.snapshot("hourly.9"))
    os.mkfifo(expiring)                 # not a folder: the child cannot walk it

    with caplog.at_level(logging.DEBUG, logger=LOG.name):
        look = _look(layout)

    assert look.differences is None
    assert take_look(look, "hourly", expiring, changed=False) is None
    assert "recycling walks everything" in caplog.text
    assert os.listdir(layout.work) == []


# ---------------------------------------------------------------- recycling with them

def test_recycling_with_the_found_differences_makes_an_exact_copy_of_latest(tmp_path):
    layout = _destination(tmp_path)
    known = find_differences(layout.latest, layout.snapshot("hourly.3"))
    kept_inode = ino(Path(layout.snapshot("hourly.3")) / "kept.txt")

    ready = recycle_oldest(layout, "hourly", 3, 1_800_000_000.0, LOG, known)

    assert _describe(Path(ready)) == _describe(Path(layout.latest))
    assert ino(Path(ready) / "kept.txt") == kept_inode
    assert not os.path.exists(layout.snapshot("hourly.3"))


def test_recycling_with_differences_that_do_not_fit_walks_everything(tmp_path, caplog):
    layout = _destination(tmp_path)
    wrong = {"same0": {"not-there": {DIFFERS: True}}}    # found on other trees

    with caplog.at_level(logging.DEBUG, logger=LOG.name):
        ready = recycle_oldest(layout, "hourly", 3, 1_800_000_000.0, LOG, wrong)

    assert _describe(Path(ready)) == _describe(Path(layout.latest))
    assert "walking everything" in caplog.text


def test_relink_known_with_full_is_relink_tree(tmp_path):
    model, tree = _model_and_old_tree(tmp_path)
    relink_known(str(model), str(tree), FULL)
    assert _describe(tree) == _describe(model)


# ---------------------------------------------------------------- a whole vhpi run

WIRED = "start_recycle_look" in Path(__file__).parents[2].joinpath(
    "vhpi", "actions", "copy_and_rotate.py").read_text()
LOOKED = "(visiting the folders found to differ while rsync looked)"


def _last_run(world) -> str:
    return debug_log(world).split("run started")[-1]


@pytest.mark.skipif(not WIRED, reason="vhpi.actions.copy_and_rotate does not start the look yet")
def test_recycling_after_an_unchanged_transfer_uses_the_look(world):
    world.write_config(snapshots={"hourly": 2})
    write_files(world.source, {f"d{n}/f{m}.txt": f"{n}{m}" for n in range(5) for m in range(5)})
    vhpi(world, code=0)
    write_files(world.source, {"d1/f1.txt": "changed", "new/x.txt": "new"})
    (world.source / "d2" / "f2.txt").unlink()
    vhpi(world, at="+2h", code=0)            # hourly.1 is the older state now

    vhpi(world, at="+4h", code=0)            # nothing changed: hourly.1 is recycled

    log = _last_run(world)
    assert "looking for what" in log and LOOKED in log, log[-3000:]
    assert numbers(world, "hourly") == [0, 1]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert _describe(world.dest / "hourly.0") == _describe(world.dest / "backup.latest")
    assert work_leftovers(world) == []


@pytest.mark.skipif(not WIRED, reason="vhpi.actions.copy_and_rotate does not start the look yet")
def test_recycling_after_a_transfer_that_changed_something_walks_everything(world):
    world.write_config(snapshots={"hourly": 2})
    write_files(world.source, {"a.txt": "a", "dir/b.txt": "b"})
    vhpi(world, code=0)
    vhpi(world, at="+2h", code=0)
    write_files(world.source, {"a.txt": "changed", "dir/c.txt": "new"})

    vhpi(world, at="+4h", code=0)

    log = _last_run(world)
    assert "looking for what" in log and "recycled hourly.1:" in log and LOOKED not in log, log[-3000:]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert _describe(world.dest / "hourly.0") == _describe(world.dest / "backup.latest")
    assert work_leftovers(world) == []
