"""Trees nested 10,000 deep (paths of ~20,000 bytes, far past PATH_MAX): relinking,
deleting (also as a normal user, read-only folders included), diff, du and the tests' own
manifest and listing all work, without recursion and with a bounded number of fds. And a
tree 1,100 deep with 2-character names (a path rsync and cp still handle) is relinked
exactly like `cp -al` makes it, and deleted."""

from __future__ import annotations

import os
import resource
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from tests.conftest import needs_root
from tests.integration.helpers import NOBODY, listing, manifest, python_for_nobody
from vhpi.act.relink import relink_tree
from vhpi.act.tree_edit import remove_tree
from vhpi.act.tree_walk import compare_trees, folder_totals, measure_trees
from vhpi.decide.tree_compare import ADDED, CHANGED, METADATA, REMOVED

DEPTH = 10_000
DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
AS_NOBODY = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")
Visit = Callable[[int, int], None]


# ---------------------------------------------------------------- deep trees, by open folders

def make_chain(top, depth: int, name: bytes = b"d", visit: Optional[Visit] = None) -> None:
    """Make `depth` nested folders `name` below the folder `top`, each by mkdir relative to
    its parent's fd (so any depth works, one fd at a time); call visit(level, fd) for every
    folder from the top (level 0) to the bottom (level `depth`) once its child exists."""
    make_chain_below(os.open(os.fsencode(str(top)), DIR), depth, name, visit)


def make_chain_below(fd: int, depth: int, name: bytes, visit: Optional[Visit] = None) -> None:
    """make_chain below the open folder `fd` (closed here)."""
    try:
        for level in range(depth + 1):
            child = None
            if level < depth:
                os.mkdir(name, dir_fd=fd)
                child = os.open(name, DIR, dir_fd=fd)
            if visit:
                visit(level, fd)
            os.close(fd)
            fd = child
    finally:
        if fd is not None:
            os.close(fd)


def chain(top, name: bytes = b"d") -> Iterator[Tuple[int, int]]:
    """Yield (level, fd) for the folder `top` and every nested folder `name` below it."""
    fd = os.open(os.fsencode(str(top)), DIR)
    level = 0
    try:
        while True:
            yield level, fd
            try:
                child = os.open(name, DIR, dir_fd=fd)
            except FileNotFoundError:
                return
            os.close(fd)
            fd, level = child, level + 1
    finally:
        os.close(fd)


def bottom(top, name: bytes = b"d") -> Tuple[int, Dict[bytes, os.stat_result], os.stat_result]:
    """Return (depth, {name: lstat} of the bottom folder's entries, the bottom folder's stat)."""
    for level, fd in chain(top, name):
        entries = {os.fsencode(entry): os.lstat(entry, dir_fd=fd) for entry in os.listdir(fd)}
        if name not in entries:
            return level, entries, os.fstat(fd)
    raise AssertionError("no bottom")


def write_at(fd: int, name: str, content: bytes, mode: int = 0o644) -> None:
    handle = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, mode, dir_fd=fd)
    os.write(handle, content)
    os.close(handle)


def path_of(depth: int, name: bytes = b"d") -> bytes:
    return b"/".join([name] * depth)


@pytest.fixture
def deep(tmp_path):
    """tmp_path, emptied by GNU rm afterwards (which handles any depth) so that pytest's
    own clean-up never meets a deep tree, whatever a test leaves."""
    yield tmp_path
    subprocess.run(["chmod", "-R", "u+rwx", str(tmp_path)], capture_output=True)
    subprocess.run(["rm", "-rf", "--", *map(str, tmp_path.iterdir())], check=True)


@pytest.fixture
def few_fds():
    """Run the test with a soft fd limit of the fds open now plus 200: a walk holding one
    fd per level would run out at once."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, len(os.listdir("/proc/self/fd")) + 200), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# ---------------------------------------------------------------- relink

def _model_and_old_state(deep: Path, depth: int, name: bytes = b"d") -> Tuple[Path, Path]:
    model, tree = deep / "latest", deep / "expiring"
    model.mkdir()
    tree.mkdir()

    def fill_model(level: int, fd: int) -> None:
        if level == depth // 2:
            write_at(fd, "mid.txt", b"mid")
        if level == depth:
            for file, content in (("keep.txt", b"kept"), ("changed.txt", b"v2"), ("new.txt", b"new")):
                write_at(fd, file, content)
            os.mkdir("sub", dir_fd=fd)
            sub = os.open("sub", DIR, dir_fd=fd)
            write_at(sub, "inner.txt", b"inner")
            os.close(sub)
            os.symlink("keep.txt", "link", dir_fd=fd)
            os.setxattr(fd, "user.note", b"model")
            os.chmod(fd, 0o750)
            os.utime(fd, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))

    def fill_old(level: int, fd: int) -> None:
        if level == 300:
            make_old_subtree(fd)
        if level == depth:
            write_at(fd, "changed.txt", b"v1, another inode")
            write_at(fd, "old.txt", b"only in the old state")
            os.mkdir("old-dir", dir_fd=fd)
            os.setxattr(fd, "user.extra", b"old only")
            make_chain_at(fd, "old-dir", 200)

    make_chain(model, depth, name, fill_model)
    make_chain(tree, depth, name, fill_old)
    for (level, model_fd), (_, tree_fd) in zip(chain(model, name), chain(tree, name)):
        if level == depth:
            os.link("keep.txt", "keep.txt", src_dir_fd=model_fd, dst_dir_fd=tree_fd)
    return model, tree


def make_old_subtree(fd: int) -> None:
    os.mkdir("gone", dir_fd=fd)
    make_chain_at(fd, "gone", 150)


def make_chain_at(fd: int, name: str, depth: int) -> None:
    """A chain of `depth` folders 'x' below the folder `name` in the open folder `fd`,
    with a read-only folder halfway and a file at the bottom."""
    def visit(level: int, inner: int) -> None:
        if level == depth:
            write_at(inner, "f", b"f")
        if level == depth // 2:
            os.chmod(inner, 0o555)
    make_chain_below(os.open(name, DIR, dir_fd=fd), depth, b"x", visit)


def test_relink_makes_an_exact_hard_linked_copy_10000_deep(deep, few_fds):
    model, tree = _model_and_old_state(deep, DEPTH)

    counts = relink_tree(str(model), str(tree))

    depth, found, folder = bottom(tree)
    model_depth, wanted, model_folder = bottom(model)
    assert depth == model_depth == DEPTH
    assert sorted(found) == [b"changed.txt", b"keep.txt", b"link", b"new.txt", b"sub"]
    for name in (b"changed.txt", b"keep.txt", b"link", b"new.txt"):
        assert found[name].st_ino == wanted[name].st_ino, name
    assert (folder.st_mode, folder.st_mtime_ns) == (model_folder.st_mode, model_folder.st_mtime_ns)
    for level, fd in chain(tree):
        if level == DEPTH:
            assert os.listxattr(fd) == ["user.note"] and os.getxattr(fd, "user.note") == b"model"
            sub = os.open("sub", DIR, dir_fd=fd)
            assert os.listdir(sub) == ["inner.txt"]
            os.close(sub)
        elif level == 300:
            assert sorted(os.listdir(fd)) == ["d"]
        elif level == DEPTH // 2:
            assert sorted(os.listdir(fd)) == ["d", "mid.txt"]
    # linked: changed.txt, new.txt, link, sub/inner.txt, mid.txt; removed: changed.txt (the
    # old one), old.txt, old-dir (200 deep), gone (150 deep, at level 300)
    assert (counts.linked, counts.removed, counts.kept) == (5, 4, 1)
    again = relink_tree(str(model), str(tree))
    assert (again.linked, again.removed, again.kept) == (0, 0, 6)


def test_relink_and_remove_1100_deep_with_two_character_names(deep, few_fds):
    """1,100 levels are past Python's recursion limit, with a path (3,300 bytes) that cp
    and rsync still handle: the relinked tree equals a fresh `cp -al`."""
    model, tree = _model_and_old_state(deep, 1100, b"ab")
    fresh = deep / "fresh"
    subprocess.run(["cp", "-al", str(model), str(fresh)], check=True)

    relink_tree(str(model), str(tree))

    for (level, a), (_, b) in zip(chain(tree, b"ab"), chain(fresh, b"ab")):
        assert _describe_folder(a) == _describe_folder(b), level
    assert bottom(tree, b"ab")[0] == 1100
    remove_tree(str(tree))
    remove_tree(str(fresh))
    assert sorted(os.listdir(deep)) == ["latest"]


def _describe_folder(fd: int) -> tuple:
    info = os.fstat(fd)
    entries = {}
    for name in os.listdir(fd):
        st = os.lstat(name, dir_fd=fd)
        entries[name] = st.st_mode if name in ("ab", "sub", "x") else st.st_ino
    xattrs = {key: os.getxattr(fd, key) for key in os.listxattr(fd)}
    return info.st_mode, info.st_uid, info.st_gid, info.st_mtime_ns, xattrs, entries


# ---------------------------------------------------------------- remove

def _hostile_deep_tree(top: Path, outside: Path, owner: Optional[int] = None) -> None:
    """10,000 levels with read-only and unreadable folders, deep down too, files and
    symlinks (to a file and a folder outside) at the bottom."""
    modes = {0: 0o555, 1: 0o555, 70: 0o000, 71: 0o100, 5000: 0o500, DEPTH: 0o555}

    def visit(level: int, fd: int) -> None:
        if level == DEPTH:
            write_at(fd, "bottom.txt", b"at the bottom", 0o444)
            os.symlink(str(outside / "canary.txt"), "to-file", dir_fd=fd)
            os.symlink(str(outside), "to-folder", dir_fd=fd)
            if owner is not None:
                for name in ("bottom.txt", "to-file", "to-folder"):
                    os.chown(name, owner, owner, dir_fd=fd, follow_symlinks=False)
        if owner is not None:
            os.chown(fd, owner, owner)
        if level in modes:
            os.chmod(fd, modes[level])

    make_chain(top, DEPTH, visit=visit)


def test_remove_tree_deletes_10000_levels_and_never_follows_symlinks(deep, few_fds):
    outside = deep / "outside"
    outside.mkdir()
    (outside / "canary.txt").write_text("still here")
    (deep / "tree").mkdir()
    _hostile_deep_tree(deep / "tree", outside)

    remove_tree(str(deep / "tree"))

    assert sorted(os.listdir(deep)) == ["outside"]
    assert os.listdir(outside) == ["canary.txt"] and (outside / "canary.txt").read_text() == "still here"


@needs_root("deletes a tree as user nobody")
def test_a_normal_user_removes_a_10000_deep_tree_with_read_only_folders():
    python, env = python_for_nobody()
    if python is None or shutil.which("setpriv") is None:
        pytest.skip("no python that user nobody can run with vhpi's dependencies (or no setpriv)")
    base = Path(tempfile.mkdtemp(prefix="vhpi-deep-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        os.chown(base, NOBODY, NOBODY)
        outside = base / "outside"
        outside.mkdir()
        (outside / "canary.txt").write_text("still here")
        tree = base / "tree"
        tree.mkdir()
        _hostile_deep_tree(tree, outside, owner=NOBODY)
        script = ("import resource, sys\nfrom vhpi.act.tree_edit import remove_tree\n"
                  "resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
                  "remove_tree(sys.argv[1])\n")
        done = subprocess.run([*AS_NOBODY, python, "-c", script, str(tree)], env=dict(os.environ, **env),
                              cwd="/", capture_output=True, text=True, timeout=120)

        assert (done.returncode, done.stderr) == (0, "")
        assert sorted(os.listdir(base)) == ["outside"]
        assert (outside / "canary.txt").read_text() == "still here"
    finally:
        subprocess.run(["rm", "-rf", "--", str(base)], check=True)


# ---------------------------------------------------------------- diff and du

def _diff_pair(deep: Path) -> Tuple[Path, Path]:
    """Tree a (older) and tree b, 10,000 deep; what differs is at the bottom and halfway."""
    a, b = deep / "a", deep / "b"
    a.mkdir()
    b.mkdir()

    def old(level: int, fd: int) -> None:
        if level == DEPTH:
            for name, content in (("shared.txt", b"same"), ("changed.txt", b"v1"), ("gone.txt", b"gone!")):
                write_at(fd, name, content)
            os.mkdir("gone-dir", dir_fd=fd)
            inner = os.open("gone-dir", DIR, dir_fd=fd)
            write_at(inner, "x", b"xx")
            write_at(inner, "y", b"yyy")
            os.close(inner)
            os.chmod(fd, 0o755)

    def new(level: int, fd: int) -> None:
        if level == DEPTH // 2:
            write_at(fd, "mid.txt", b"m")
        if level == DEPTH:
            write_at(fd, "changed.txt", b"v2 longer")
            write_at(fd, "new.txt", b"new")
            os.chmod(fd, 0o700)

    make_chain(a, DEPTH, visit=old)
    make_chain(b, DEPTH, visit=new)
    for (level, fd_a), (_, fd_b) in zip(chain(a), chain(b)):
        if level == DEPTH:
            os.link("shared.txt", "shared.txt", src_dir_fd=fd_a, dst_dir_fd=fd_b)
    return a, b


def test_diff_du_and_totals_at_the_bottom_of_10000_levels(deep, few_fds, monkeypatch):
    a, b = _diff_pair(deep)
    low, mid = path_of(DEPTH), path_of(DEPTH // 2)
    looked_at = []
    real_lstat = os.lstat
    monkeypatch.setattr(os, "lstat", lambda path, **kw: looked_at.append(path) or real_lstat(path, **kw))

    changes = [(c.marker, c.path, c.kind, c.size, c.old_size, c.files, c.folders, c.what)
               for c in compare_trees(os.fsencode(str(a)), os.fsencode(str(b)), quick=False)]

    monkeypatch.undo()
    assert changes == [
        (METADATA, low, "folder", changes[0][3], changes[0][4], 0, 0, ("mode",)),
        (CHANGED, low + b"/changed.txt", "file", 9, 2, 0, 0, changes[1][7]),
        (REMOVED, low + b"/gone-dir", "folder", 5, None, 2, 1, ()),
        (REMOVED, low + b"/gone.txt", "file", 5, None, 0, 0, ()),
        (ADDED, low + b"/new.txt", "file", 3, None, 0, 0, ()),
        (ADDED, mid + b"/mid.txt", "file", 1, None, 0, 0, ()),
    ]
    assert "size" in changes[1][7]
    # a name that is the same inode on both sides costs no lstat
    assert b"shared.txt" not in looked_at
    assert sorted(set(looked_at)) == [b"changed.txt", b"gone.txt", b"mid.txt", b"new.txt", b"x", b"y"]

    assert folder_totals(os.fsencode(str(a)), low + b"/gone-dir") == (2, 5, 1)
    assert folder_totals(os.fsencode(str(a)), b"") == (5, 4 + 2 + 5 + 2 + 3, DEPTH + 2)
    ledger = _RecordingLedger()
    measure_trees([os.fsencode(str(a)), os.fsencode(str(b))], ledger)
    assert ledger.folders == {0: DEPTH + 2, 1: DEPTH + 1}
    _, in_a, _ = bottom(a)
    _, in_b, _ = bottom(b)
    expected = {(st.st_dev << 64 | st.st_ino): [0] for name, st in in_a.items() if name != b"gone-dir"}
    expected.update({(st.st_dev << 64 | st.st_ino): [1] for st in in_b.values()})
    expected[in_a[b"shared.txt"].st_dev << 64 | in_a[b"shared.txt"].st_ino] = [0, 1]
    at_bottom = {inode: trees for inode, trees in ledger.names.items() if inode in expected}
    assert at_bottom == expected
    assert len(ledger.names) == len(expected) + 3   # gone-dir/x, gone-dir/y and mid.txt


class _RecordingLedger:
    """What measure_trees tells a SpaceLedger: folders per tree, trees per inode."""

    def __init__(self):
        self.folders: Dict[int, int] = {}
        self.names: Dict[int, List[int]] = {}

    def add_folder(self, snapshot: int, size: int) -> None:
        self.folders[snapshot] = self.folders.get(snapshot, 0) + 1

    def add_names(self, inode: int, links: int, size: int, snapshots) -> None:
        assert inode not in self.names
        self.names[inode] = list(snapshots)


# ---------------------------------------------------------------- the tests' own helpers

def test_manifest_and_listing_of_10000_levels(deep, few_fds):
    (deep / "t").mkdir()

    def visit(level: int, fd: int) -> None:
        if level == DEPTH:
            write_at(fd, "bottom.txt", b"at the bottom", 0o600)
            os.symlink("bottom.txt", "link", dir_fd=fd)
            os.chmod(fd, 0o700)

    make_chain(deep / "t", DEPTH, visit=visit)
    low = path_of(DEPTH)

    found = manifest(deep / "t")
    assert len(found) == DEPTH + 3
    assert found[b""] == ("d", stat.S_IMODE(os.stat(deep / "t").st_mode)) and found[low] == ("d", 0o700)
    assert found[low + b"/bottom.txt"][:2] == ("f", 0o600)
    assert found[low + b"/link"] == ("l", b"bottom.txt")
    del found

    listed = listing(deep / "t")
    assert len(listed) == DEPTH + 3
    _, entries, folder = bottom(deep / "t")
    assert listed[low + b"/bottom.txt"][1] == entries[b"bottom.txt"].st_ino
    assert listed[low][1:3] == (folder.st_ino, folder.st_mode)
