"""Metadata immutability at scale: many files change only their metadata at once (chmod,
chown, touch -d to another time with the same size, extended attributes, POSIX ACLs), run
after run. Every older snapshot keeps every attribute of every entry, with the same inode;
the new snapshot has the source's new attributes. Beyond
tests/integration/test_vhpi_metadata_immutability.py (one file per kind, one run): many
files and folders per batch, mixed batches, ACLs, symlink owners, and five runs."""

import os
import shutil
import stat
import subprocess

import pytest

from tests.integration.helpers import ino, listing, manifest, vhpi, write_config, write_files

IS_ROOT = os.geteuid() == 0
FOLDERS, PER_FOLDER = 6, 25  # 150 files


def _xattrs(path: bytes) -> tuple:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    return tuple(sorted((name, os.getxattr(path, name, follow_symlinks=False)) for name in names))


def attributes(root) -> dict:
    """{relative path: (kind, inode, mode, uid, gid, size, mtime_ns, xattrs incl. ACLs)}."""
    root_b = os.fsencode(str(root))
    found = {}
    for relative, entry in listing(root).items():
        full = os.path.join(root_b, relative) if relative else root_b
        found[relative] = entry[:6] + entry[7:8] + (_xattrs(full),)
    return found


def _without_inodes(found: dict) -> dict:
    """For comparing a snapshot with the source: no inodes, and no symlink times (this
    rsync does not set them; they are not part of what vhpi promises to copy)."""
    return {path: entry[:1] + entry[2:6] + ((None,) if stat.S_ISLNK(entry[0]) else entry[6:7])
            + entry[7:] for path, entry in found.items() if path != b""}


def _files(world):
    return sorted(f"d{d}/f{f:02}.txt" for d in range(FOLDERS) for f in range(PER_FOLDER))


class Snapshots:
    """Every snapshot made so far, by folder inode, with the attributes it had when made."""

    def __init__(self, world):
        self.world = world
        self.recorded = {}

    def record_new(self):
        for name in self.world.snapshots():
            folder = ino(self.world.dest / name)
            if folder not in self.recorded:
                self.recorded[folder] = (name, attributes(self.world.dest / name))

    def assert_unchanged(self, campaign):
        now = {ino(self.world.dest / name): name for name in self.world.snapshots()}
        for folder, (made_as, found) in self.recorded.items():
            assert folder in now, f"snapshot {made_as} is gone"
            after = attributes(self.world.dest / now[folder])
            if after != found:
                changed = [(k, found.get(k), after.get(k)) for k in sorted(set(found) | set(after))
                           if found.get(k) != after.get(k)]
                raise AssertionError(f"{made_as} (now {now[folder]}) changed: {changed[:5]}")
        campaign.add("snapshots checked", len(self.recorded))


def _setfacl(*args):
    subprocess.run(["setfacl", *args], check=True, capture_output=True)


def _batches(world):
    """The metadata changes, one batch per run: (name, function changing the source)."""
    files = _files(world)
    src = world.source

    def chmod():
        for name in files[0:150:3]:
            os.chmod(src / name, 0o600)
        os.chmod(src / "d1", 0o750)
        os.chmod(src / "d2", 0o700)

    def chown():
        for name in files[1:150:3]:
            os.chown(src / name, 2001, 3001)
        os.chown(src / "d3", 2002, 3002)
        os.lchown(src / "link", 2003, 3003)

    def touch():
        for name in files[2:150:3]:
            subprocess.run(["touch", "-d", "2021-06-01 12:00:00 UTC", str(src / name)], check=True)
        subprocess.run(["touch", "-d", "2019-01-01 00:00:00 UTC", str(src / "d4")], check=True)

    def xattrs():
        for name in files[0:150:5]:
            os.setxattr(src / name, "user.tag", b"second")
        for name in files[1:150:5]:
            os.removexattr(src / name, "user.tag")
        for name in files[2:150:5]:
            os.setxattr(src / name, "user.new", b"added")
        os.setxattr(src / "d5", "user.tag", b"folder, second")

    def acls():
        for name in files[3:150:4]:
            _setfacl("-m", "u:1234:rw,g:4321:r", str(src / name))
        _setfacl("-m", "u:1234:rwx", str(src / "d0"))
        _setfacl("-d", "-m", "u:1234:rx", str(src / "d0"))
        _setfacl("-b", str(src / "d1/f00.txt"))

    def mixed():
        for name in files[4:150:7]:
            os.chmod(src / name, 0o640)
            os.chown(src / name, 2004, 3004)
            os.setxattr(src / name, "user.tag", b"third")
            subprocess.run(["touch", "-d", "2020-02-02 02:02:02 UTC", str(src / name)], check=True)

    batches = [("chmod", chmod), ("touch -d", touch), ("xattr", xattrs), ("mixed", mixed)]
    if IS_ROOT:
        batches.insert(1, ("chown", chown))
    if shutil.which("setfacl"):
        batches.append(("acl", acls))
    return batches


def _prepare(world):
    write_files(world.source, {name: f"content of {name}\n" for name in _files(world)},
                mtime=1_600_000_000)
    try:
        for name in _files(world):
            os.setxattr(world.source / name, "user.tag", b"first")
    except OSError as error:
        pytest.skip(f"no user xattrs on this file system: {error}")
    os.setxattr(world.source / "d5", "user.tag", b"folder, first")
    os.symlink("d0/f00.txt", world.source / "link")
    if shutil.which("setfacl"):
        _setfacl("-m", "u:1234:r", str(world.source / "d1/f00.txt"))
    # folders last changed a while ago, as on a real share (rsync 3.5 leaves the time of a
    # folder changed within the same instant as it copies it)
    for folder in range(FOLDERS):
        os.utime(world.source / f"d{folder}", (1_600_000_000, 1_600_000_000))


def test_many_metadata_changes_over_many_runs_never_reach_older_snapshots(world, campaign):
    write_config(world, snapshots={"hourly": 8, "daily": 2})
    _prepare(world)
    vhpi(world, code=0)
    snapshots = Snapshots(world)
    snapshots.record_new()
    assert _without_inodes(attributes(world.dest / "hourly.0")) == _without_inodes(attributes(world.source))

    for run, (kind, change) in enumerate(_batches(world), start=1):
        previous = attributes(world.dest / "hourly.0")
        source_before = attributes(world.source)
        change()
        source_after = attributes(world.source)
        changed = {path for path in source_after if path and source_after[path][2:] != source_before[path][2:]}
        assert len(changed) >= 10, (kind, len(changed))

        vhpi(world, at=f"+{2 * run}h", code=0)
        campaign.add("metadata cases")

        snapshots.assert_unchanged(campaign)
        new = attributes(world.dest / "hourly.0")
        assert _without_inodes(new) == _without_inodes(attributes(world.source)), kind
        for path in changed:
            if stat.S_ISREG(new[path][0]) or stat.S_ISLNK(new[path][0]):
                assert new[path][1] != previous[path][1], f"{kind}: {path!r} shares the old inode"
        for path in set(new) - changed:
            if stat.S_ISREG(new[path][0]):
                assert new[path][1] == previous[path][1], f"{kind}: unchanged {path!r} copied again"
        snapshots.record_new()
    assert manifest(world.dest / "hourly.0") == manifest(world.source)


@pytest.mark.parametrize("options", ["-aX --delete --checksum", "-a --delete"],
                         ids=["checksum-with-xattrs", "no-acls-no-xattrs"])
def test_metadata_batches_with_other_rsync_options(world, options, campaign):
    """rsync options that compare by checksum, or that ignore ACLs and xattrs, must not
    open a way for rsync to change a shared inode in place."""
    write_config(world, snapshots={"hourly": 8, "daily": 2}, rsync_options=options)
    _prepare(world)
    vhpi(world, code=0)
    snapshots = Snapshots(world)
    snapshots.record_new()
    batches = dict(_batches(world))
    for run, kind in enumerate(("mixed", "xattr", "touch -d"), start=1):
        batches[kind]()
        vhpi(world, at=f"+{2 * run}h", code=0)
        campaign.add("metadata cases")
        snapshots.assert_unchanged(campaign)
        snapshots.record_new()
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
