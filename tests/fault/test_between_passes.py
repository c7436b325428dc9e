"""The share changes between and during rsync's passes (a live share, or a compromised
laptop that races vhpi on purpose): no pass may set content or attributes on an inode a
snapshot shares, and a snapshot only ever holds what lies under the source folder.

Every kind of listed entry (a new file, a changed one, one whose mode alone changed, the
unchanged target of a new hard link, a retargeted symlink, a new folder) gets every kind
of change (content, mode, owner, times, an xattr; replaced by a symlink out of the share,
by a folder, by a hard link to another file), at each point where vhpi can be held: after
the dry run listed them, after vhpi removed the names it lets rsync write, while a copy
pass waits to start (its parent folders pinned already, see vhpi.act.pinned), and after
the last copy pass. A parent folder swapped for a symlink out of the share is tried at
each point too. Then: every older snapshot is exactly as it was (inode, mode, owner, size,
time, xattrs, content), nothing from outside the share is anywhere on the backup disk, and
the next run catches up with the share."""

import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.fault.fault_helpers import RsyncGate, paused_vhpi
from tests.fault.test_metadata import attributes
from tests.integration.helpers import (manifest, start_vhpi, vhpi, wait_or_kill_group, walk,
                                       write_config, write_files)

IS_ROOT = os.geteuid() == 0
SECRET = b"OUTSIDE THE SHARE: must never be in a backup\n"
OLD, NEW = 1_700_000_000, 1_700_003_600

#: The listed entries, by kind: the path the change is made to.
ENTRIES = {
    "new": "docs/new.txt",
    "changed": "docs/changed.txt",
    "attribute-only": "docs/attr.txt",
    "hard-link target": "docs/target.txt",
    "symlink": "docs/sym",
    "folder": "docs/newdir",
}
#: Where vhpi is held while the share changes: a checkpoint, or "gate" (a copy pass about
#: to start, its parents already pinned).
PAUSES = ("rsync-done:1", "unlinked", "gate", "copied")
CHANGES = ("content", "mode", "owner", "times", "xattr", "symlink", "folder", "hard link")


def _outside(world) -> Path:
    """A folder outside the share, with files named like the share's (as /etc would be)."""
    outside = world.root / "outside"
    write_files(outside, {name: SECRET for name in ("new.txt", "changed.txt", "attr.txt",
                                                    "target.txt", "passwd", "newdir/inner.txt")})
    os.chmod(outside, 0o700)
    return outside


def _history(world) -> None:
    """Two snapshots of a share, then the changes that make each kind of entry listed."""
    write_config(world, snapshots={"hourly": 4}, intervals={"hourly": 3600})
    write_files(world.source, {"docs/changed.txt": "old content", "docs/attr.txt": "attr",
                               "docs/target.txt": "an unchanged file, soon hard-linked",
                               "docs/unchanged.txt": "never changes", "other/keep.txt": "keep"},
                mtime=OLD)
    os.symlink("old-target", world.source / "docs" / "sym")
    vhpi(world, at="-3h", code=0)
    vhpi(world, at="-2h", code=0)
    write_files(world.source, {"docs/new.txt": "new file", "docs/changed.txt": "new content!",
                               "docs/newdir/inner.txt": "in a new folder"}, mtime=NEW)
    os.chmod(world.source / "docs" / "attr.txt", 0o600)
    os.link(world.source / "docs" / "target.txt", world.source / "other" / "link.txt")
    os.unlink(world.source / "docs" / "sym")
    os.symlink("new-target", world.source / "docs" / "sym")
    for folder in ("docs", "other", "docs/newdir"):
        os.utime(world.source / folder, (OLD, OLD))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _change(world, path: Path, change: str, outside: Path) -> None:
    """Make `change` to the share's entry `path` (what makes no sense for a symlink, such
    as a mode, is left out for it)."""
    is_link = path.is_symlink()
    if change == "content":
        if path.is_dir() and not is_link:
            write_files(path, {"added.txt": "added while copied"}, mtime=NEW + 60)
        elif not is_link:
            write_files(path.parent, {path.name: "rewritten while copied, longer"}, mtime=NEW + 60)
    elif change == "mode" and not is_link:
        os.chmod(path, 0o777 if path.is_dir() else 0o666)
    elif change == "owner":
        os.chown(path, 4242, 4242, follow_symlinks=False)
    elif change == "times":
        os.utime(path, (1_000_000_000, 1_000_000_000), follow_symlinks=False)
    elif change == "xattr" and not is_link:
        os.setxattr(path, "user.evil", b"set while copied")
    elif change == "symlink":
        _remove(path)
        os.symlink(outside / path.name, path)
    elif change == "folder":
        _remove(path)
        write_files(path, {"passwd": "a folder now"}, mtime=NEW + 60)
    elif change == "hard link":
        _remove(path)
        os.link(world.source / "docs" / "unchanged.txt", path)


def _snapshots(world) -> dict:
    """{snapshot folder inode: (name, attributes, manifest)} of every snapshot now."""
    return {os.lstat(world.dest / name).st_ino: (name, attributes(world.dest / name),
                                                 manifest(world.dest / name))
            for name in world.snapshots()}


def _assert_unchanged(before: dict, world, when: str) -> None:
    now = _snapshots(world)
    for folder, (name, found, content) in before.items():
        assert folder in now, f"{when}: {name} is gone"
        _, after, after_content = now[folder]
        changed = [(k, found.get(k), after.get(k)) for k in sorted(set(found) | set(after))
                   if found.get(k) != after.get(k)]
        assert not changed, f"{when}: snapshot {name} changed: {changed[:4]}"
        assert content == after_content, f"{when}: the content of snapshot {name} changed"


def _assert_nothing_from_outside(world, when: str) -> None:
    for folder, _, names in walk(world.dest):
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as handle:
                    assert SECRET not in handle.read(), f"{when}: {path} holds a file from outside the share"


def _held_run(world, pause: str, make_changes) -> int:
    """Run vhpi (an hour later), hold it at `pause`, make the changes, let it finish;
    return its exit code."""
    if pause == "gate":
        gate = RsyncGate(world, "--files-from")
        process = start_vhpi(world, env=gate.env)
        try:
            gate.wait_until_held()
            make_changes()
            gate.open()
            return wait_or_kill_group(process, 120)
        finally:
            gate.open()
    with paused_vhpi(world, pause) as run:
        make_changes()
        return run.resume()


def _check_and_catch_up(world, before: dict, code: int, when: str, campaign) -> None:
    assert code == 0, (when, world.info_log[-2000:])
    _assert_unchanged(before, world, when)
    _assert_nothing_from_outside(world, when)
    vhpi(world, at="+2h", code=0)
    _assert_unchanged(before, world, f"{when}, then the next run")
    _assert_nothing_from_outside(world, f"{when}, then the next run")
    assert manifest(world.dest / "backup.latest") == manifest(world.source), f"{when}: not caught up"
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    campaign.add("between-pass changes")
    campaign.add("snapshots checked", len(before))


@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize("pause", PAUSES)
def test_a_change_to_every_kind_of_listed_entry(world, pause, change, campaign):
    if change == "owner" and not IS_ROOT:
        pytest.skip("needs root: chown to another user")
    _history(world)
    outside = _outside(world)
    before = _snapshots(world)

    def make_changes():
        for path in ENTRIES.values():
            _change(world, world.source / path, change, outside)

    code = _held_run(world, pause, make_changes)
    _check_and_catch_up(world, before, code, f"{change} at {pause}", campaign)


@pytest.mark.parametrize("pause", PAUSES)
def test_a_parent_folder_swapped_for_a_symlink_out_of_the_share(world, pause, campaign):
    """The case that made the Pi's own root-only files land in hourly.0: rsync's copy pass
    resolved the listed docs/... paths through the swapped folder."""
    _history(world)
    outside = _outside(world)
    before = _snapshots(world)

    def swap():
        os.rename(world.source / "docs", world.root / "docs-moved-away")
        os.symlink(outside, world.source / "docs")

    code = _held_run(world, pause, swap)
    assert code == 0, world.info_log[-2000:]
    assert stat.S_ISDIR(os.lstat(world.dest / "hourly.0").st_mode)
    _check_and_catch_up(world, before, code, f"parent swap at {pause}", campaign)
    assert os.path.islink(world.dest / "hourly.0" / "docs"), "the swap is what the next run sees"


def test_a_copy_that_is_not_the_entry_its_pass_pinned_is_taken_out(world, campaign):
    """rsync 3.4 and newer turn a pinned folder back into a path and walk it by name (with
    symlinks followed), so a share that swaps a folder on that path at that instant could
    still lead rsync elsewhere. vhpi checks every copy against what the pass's child saw
    through the pinned folder: here a stand-in rsync writes another file's content (as a
    redirected read would) after the real copy, and vhpi takes that copy out again."""
    _history(world)
    folder = world.root / "fakebin"
    folder.mkdir()
    script = folder / "rsync"
    script.write_text(
        "#!/bin/sh\n"
        "for last; do :; done\n"
        '/usr/bin/rsync "$@"; code=$?\n'
        'case " $* " in *" --files-from="*)\n'
        '  [ -f "${last}docs/changed.txt" ] && printf "%s" "$VHPI_TEST_SECRET" > "${last}docs/changed.txt" ;;\n'
        "esac\n"
        "exit $code\n")
    script.chmod(0o755)
    before = _snapshots(world)
    vhpi(world, env={"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}",
                     "VHPI_TEST_SECRET": SECRET.decode()}, code=0)
    campaign.add("between-pass changes")
    assert "docs/changed.txt changed while it was copied (or the share led rsync elsewhere)" \
        in world.info_log, world.info_log
    assert "vanished from the source (or changed kind)" in world.info_log
    assert not (world.dest / "hourly.0" / "docs" / "changed.txt").exists()
    _assert_unchanged(before, world, "after a copy from elsewhere")
    _assert_nothing_from_outside(world, "after a copy from elsewhere")
    vhpi(world, at="+2h", code=0)
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
