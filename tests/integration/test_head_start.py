"""The new snapshot linked early, while rsync looks for changes (vhpi.act.head_start): it
must end up exactly like backup.latest after the transfer (every name the same inode,
every folder the same metadata), whatever changed, and a failed early copy must fall back
to the usual cp -al without a trace."""

import os
import shutil
import stat

from tests.integration.helpers import (debug_log, ino, listing, manifest, numbers, vhpi,
                                       work_leftovers, write_files)

EARLY = "(in the background, while rsync looks for changes)"


def _same_as_latest(world, snapshot: str) -> None:
    """Every entry of `snapshot` has backup.latest's inode (files) or metadata (folders)."""
    latest, tree = listing(world.dest / "backup.latest"), listing(world.dest / snapshot)
    assert set(tree) == set(latest)
    for path, entry in tree.items():
        if stat.S_ISDIR(entry[0]):
            assert entry[2:6] + entry[7:8] == latest[path][2:6] + latest[path][7:8], path
        else:
            assert entry[1] == latest[path][1], path


def _last_run(world) -> str:
    return debug_log(world).split("run started")[-1]


def test_the_early_tree_is_brought_up_to_date_with_every_kind_of_change(world):
    write_files(world.source, {"same.txt": "same", "edit.txt": "v1", "gone.txt": "x",
                               "dir/inner.txt": "inner", "mode.txt": "m"})
    vhpi(world, code=0)
    (world.source / "gone.txt").unlink()
    write_files(world.source, {"edit.txt": "v2 longer", "new/deep/file.txt": "new"})
    os.chmod(world.source / "mode.txt", 0o600)
    os.chmod(world.source / "dir", 0o700)
    os.symlink("same.txt", world.source / "link")

    vhpi(world, at="+2h", code=0)

    log = _last_run(world)
    assert EARLY in log and "early tree brought up to date" in log, log[-3000:]
    assert numbers(world, "hourly") == [0, 1]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    _same_as_latest(world, "hourly.0")
    assert ino(world.dest / "hourly.0/same.txt") == ino(world.dest / "hourly.1/same.txt")
    assert ino(world.dest / "hourly.0/edit.txt") != ino(world.dest / "hourly.1/edit.txt")
    assert (world.dest / "hourly.1/gone.txt").exists()
    assert work_leftovers(world) == []


def test_nothing_changed_takes_the_early_tree_as_it_is(world):
    write_files(world.source, {"a.txt": "a", "dir/b.txt": "b"})
    vhpi(world, code=0)

    vhpi(world, at="+2h", code=0)

    log = _last_run(world)
    assert EARLY in log and "early tree brought up to date" not in log, log[-3000:]
    _same_as_latest(world, "hourly.0")
    assert ino(world.dest / "hourly.0/a.txt") == ino(world.dest / "hourly.1/a.txt")


def test_a_failed_early_copy_falls_back_to_linking_after_the_transfer(world):
    """A `cp` first in PATH fails the early copy (after making part of the tree), once."""
    write_files(world.source, {"a.txt": "a", "dir/b.txt": "b"})
    vhpi(world, code=0)
    write_files(world.source, {"a.txt": "changed"})
    folder = world.root / "failing-cp"
    folder.mkdir()
    flag = world.root / "fail-once"
    flag.touch()
    (folder / "cp").write_text(
        "#!/bin/sh\n"
        f'if [ -e "{flag}" ]; then rm "{flag}"; mkdir -p "$4/half"; echo "cp: simulated failure" >&2; exit 1; fi\n'
        'exec /bin/cp "$@"\n')
    (folder / "cp").chmod(0o755)

    vhpi(world, at="+2h", env={"PATH": f"{folder}:{os.environ['PATH']}"}, code=0)

    log = _last_run(world)
    assert "the early cp -al failed (exit code 1: cp: simulated failure)" in log, log[-3000:]
    assert not flag.exists()
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert not (world.dest / "hourly.0/half").exists()
    _same_as_latest(world, "hourly.0")
    assert work_leftovers(world) == []


def test_a_failed_transfer_stops_the_early_copy_and_leaves_nothing(world):
    """An `rsync` first in PATH fails the dry run: the run fails before rotating, and the
    early tree (finished or cut short) is gone."""
    write_files(world.source, {"a.txt": "a", "dir/b.txt": "b"})
    vhpi(world, code=0)
    before = {name: ino(world.dest / name) for name in os.listdir(world.dest)}
    folder = world.root / "failing-rsync"
    folder.mkdir()
    (folder / "rsync").write_text(
        "#!/bin/sh\n"
        'for arg; do [ "$arg" = --dry-run ] && { echo "rsync: simulated failure" >&2; exit 12; }; done\n'
        f'exec {shutil.which("rsync")} "$@"\n')
    (folder / "rsync").chmod(0o755)

    vhpi(world, at="+2h", env={"PATH": f"{folder}:{os.environ['PATH']}"}, code=1)

    assert EARLY in _last_run(world)
    assert {name: ino(world.dest / name) for name in os.listdir(world.dest)} == before
    assert work_leftovers(world) == []

