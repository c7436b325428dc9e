"""A snapshot never changes once made: a metadata-only change on the source (mode, owner,
mtime, extended attribute) gives the new snapshot a new inode, and the old snapshot keeps
the old metadata. rsync alone would chmod/chown/touch the shared inode in place, which
would rewrite history in every older snapshot."""

import os
import stat
import subprocess

import pytest

from tests.integration.helpers import ino, manifest, vhpi, write_config, write_files

OLD_MTIME = 1_600_000_000  # 2020-09-13
NEW_MTIME_TEXT = "2021-06-01 12:00:00 UTC"
NEW_MTIME = 1_622_548_800
IS_ROOT = os.geteuid() == 0


def _xattr(path, name="user.tag"):
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


@pytest.mark.parametrize("options, keeps_xattrs", [
    (None, True),                   # the default: -aHAXS --delete --numeric-ids
    ("-a --delete -c", False),      # checksum mode: rsync would only touch the mtime in place
    ("-aX --delete -c", True),
], ids=["default", "checksum", "checksum-xattrs"])
def test_metadata_changes_never_reach_older_snapshots(world, options, keeps_xattrs):
    if options:
        write_config(world, rsync_options=options)
    files = {"mode.txt": "mode", "owner.txt": "owner", "mtime.txt": "mtime", "xattr.txt": "xattr",
             "untouched.txt": "untouched", "folder/inside.txt": "inside"}
    write_files(world.source, files, mtime=OLD_MTIME)
    for name in files:
        os.chmod(world.source / name, 0o644)
    os.chmod(world.source / "folder", 0o755)
    try:
        os.setxattr(world.source / "xattr.txt", "user.tag", b"one")
    except OSError as error:
        pytest.skip(f"no user xattrs on this file system: {error}")
    vhpi(world, code=0)
    old = {name: os.lstat(world.dest / "hourly.0" / name) for name in files}
    assert _xattr(world.dest / "hourly.0" / "xattr.txt") == (b"one" if keeps_xattrs else None)

    os.chmod(world.source / "mode.txt", 0o600)
    os.chmod(world.source / "folder", 0o700)
    if IS_ROOT:
        os.chown(world.source / "owner.txt", 12345, 12345)
    subprocess.run(["touch", "-d", NEW_MTIME_TEXT, str(world.source / "mtime.txt")], check=True)
    assert os.stat(world.source / "mtime.txt").st_mtime == NEW_MTIME
    subprocess.run(["setfattr", "-n", "user.tag", "-v", "two", str(world.source / "xattr.txt")],
                   check=True)
    vhpi(world, at="+2h", code=0)

    assert world.snapshots() == ["daily.0", "hourly.0", "hourly.1"]
    for older in ("hourly.1", "daily.0"):
        snap = world.dest / older
        now = {name: os.lstat(snap / name) for name in files}
        for name in files:
            assert now[name].st_ino == old[name].st_ino, (older, name)
            assert now[name].st_mode == old[name].st_mode, (older, name)
            assert (now[name].st_uid, now[name].st_gid) == (old[name].st_uid, old[name].st_gid)
            assert now[name].st_mtime_ns == old[name].st_mtime_ns, (older, name)
        assert stat.S_IMODE(now["mode.txt"].st_mode) == 0o644
        assert now["mtime.txt"].st_mtime == OLD_MTIME
        assert _xattr(snap / "xattr.txt") == (b"one" if keeps_xattrs else None)
        assert stat.S_IMODE(os.lstat(snap / "folder").st_mode) == 0o755
    new = world.dest / "hourly.0"
    assert stat.S_IMODE(os.lstat(new / "mode.txt").st_mode) == 0o600
    assert stat.S_IMODE(os.lstat(new / "folder").st_mode) == 0o700
    assert os.lstat(new / "mtime.txt").st_mtime == NEW_MTIME
    if keeps_xattrs:
        assert _xattr(new / "xattr.txt") == b"two"
    if IS_ROOT:
        assert (os.lstat(new / "owner.txt").st_uid, os.lstat(new / "owner.txt").st_gid) == (12345, 12345)
        assert os.lstat(world.dest / "hourly.1" / "owner.txt").st_uid == 0
    changed = ["mode.txt", "mtime.txt"] + (["owner.txt"] if IS_ROOT else []) + (
        ["xattr.txt"] if keeps_xattrs else [])
    for name in changed:
        assert ino(new / name) != old[name].st_ino, f"{name}: the new snapshot shares the old inode"
    for name in ("untouched.txt", "folder/inside.txt"):
        assert ino(new / name) == old[name].st_ino, f"{name}: an unchanged file was copied again"
    assert manifest(new) == manifest(world.source)
