"""vhpi.act.fd_walk: the bounded descent (fds of the top levels and the current folder
only, parents reopened through '..' and checked) and the depth-first walk built on it."""

from __future__ import annotations

import os

import pytest

from vhpi.act.fd_walk import FolderMoved, OpenPath, keep_for, walk_tree


def _chain(top, depth: int) -> None:
    """`depth` nested folders d0/d1/... below `top`, a file in each."""
    path = str(top)
    for level in range(depth):
        path = os.path.join(path, f"d{level}")
        os.mkdir(path)
        with open(os.path.join(path, "f"), "w") as handle:
            handle.write(str(level))


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_only_the_top_levels_and_the_current_folder_stay_open(tmp_path):
    _chain(tmp_path, 40)
    before = _open_fds()
    with OpenPath.open(str(tmp_path), keep=3) as walk:
        for level in range(40):
            walk.down(f"d{level}")
            assert _open_fds() - before <= 3 + 1
        assert walk.depth == 40 and walk.path == b"/".join(b"d%d" % n for n in range(40))
        assert os.stat("f", dir_fd=walk.fd).st_size == 2
        for level in reversed(range(40)):
            walk.up()
            assert walk.path == b"/".join(b"d%d" % n for n in range(level))
            assert sorted(os.listdir(walk.fd)) == (["d0"] if level == 0 else ["d%d" % level, "f"])
    assert _open_fds() == before


def test_a_parent_moved_during_the_walk_is_noticed(tmp_path):
    _chain(tmp_path, 10)
    with OpenPath.open(str(tmp_path), keep=2) as walk:
        for level in range(10):
            walk.down(f"d{level}")
        # d5 (and all below it) moves to the top: '..' of d5 is no longer d4
        os.rename(tmp_path / "d0/d1/d2/d3/d4/d5", tmp_path / "moved")
        for _ in range(4):
            walk.up()                       # d9 -> d5: those parents moved with them
        with pytest.raises(FolderMoved) as raised:
            walk.up()                       # d5 -> d4: '..' of d5 is the top now
        assert raised.value.filename == "d0/d1/d2/d3/d4"
        with pytest.raises(OSError):
            walk.fd                          # the walk has lost its place: no fd to misuse


def test_a_symlink_is_never_entered(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink("real", tmp_path / "link")
    with OpenPath.open(str(tmp_path)) as walk:
        with pytest.raises(OSError):
            walk.down("link")
        (tmp_path / "file").write_text("x")
        with pytest.raises(NotADirectoryError):
            walk.down("file")
        assert walk.depth == 0


def test_keep_is_shared_out_among_walks_side_by_side():
    assert keep_for(1) == 64 and keep_for(2) == 32 and keep_for(1000) == 0


def test_walk_tree_is_depth_first_in_name_order_and_can_be_pruned(tmp_path):
    for folder in ("b/y", "b/x/deep", "a", "c"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "b" / "file").write_text("f")
    seen = []
    with OpenPath.open(str(tmp_path)) as walk:
        for entries in walk_tree(walk):
            seen.append((walk.path, [entry.name for entry in entries]))
            if walk.path == b"b":
                entries[:] = [entry for entry in entries if entry.name != b"x"]
        assert walk.depth == 0
    assert seen == [(b"", [b"a", b"b", b"c"]), (b"a", []), (b"b", [b"file", b"x", b"y"]),
                    (b"b/y", []), (b"c", [])]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_walk_tree_tells_problem_about_unreadable_folders(tmp_path):
    (tmp_path / "closed").mkdir(mode=0o000)
    (tmp_path / "open").mkdir()
    problems, seen = [], []
    try:
        with OpenPath.open(str(tmp_path)) as walk:
            for _ in walk_tree(walk, lambda path, error: problems.append((path, type(error)))):
                seen.append(walk.path)
    finally:
        os.chmod(tmp_path / "closed", 0o700)
    assert seen == [b"", b"open"] and problems == [(b"closed", PermissionError)]
