"""`vhpi restore` refuses what would hand out rights, run for real: device nodes, setuid,
setgid and capability files in real snapshots made by real vhpi runs (refused unless
--unsafe, and then restored exactly as they were), and a restore back into a source that
is not mounted (an empty mount point, no .backup_valid: refused; --to DIR still works).
Every refusal is checked to write nothing, anywhere."""

import os
import shutil
import socket
import stat
import subprocess

import pytest

from tests.integration.helpers import (assert_same_listing, listing, read, vhpi, write_config,
                                       write_files)

IS_ROOT = os.geteuid() == 0
needs_mknod = pytest.mark.skipif(not IS_ROOT, reason="mknod of a device node needs root")
OLD_MTIME = 1_500_000_000
NULL_DEVICE = os.makedev(1, 3)    # /dev/null: harmless if anything ever opened it
LOOP_DEVICE = os.makedev(7, 200)  # a loop device number nothing uses


def restore(world, *args, code):
    return vhpi(world, "restore", "home", *args, code=code)


def _backed_up(world, files=None):
    """Write `files` (and plain FILES) into the source, back it up, return the world."""
    write_config(world, name="home")
    write_files(world.source, {"plain/a.txt": "alpha\n", **(files or {})}, mtime=OLD_MTIME)
    vhpi(world, code=0)
    return world


def _make_setid_files(folder):
    """Make setuid, setgid and setuid+setgid programs in `folder` (made by the test)."""
    for name, mode in (("suid", 0o4755), ("sgid", 0o2755), ("both", 0o6711)):
        path = folder / name
        path.write_text("#!/bin/sh\nid\n")
        os.chmod(path, mode)


@pytest.fixture
def risky_job(world):
    """A backed-up job whose folder 'risky' holds a character device, a block device, a
    setuid, a setgid and a setuid+setgid file, deep below as well, next to plain files."""
    write_config(world, name="home")
    write_files(world.source, {"risky/plain.txt": "plain\n", "risky/deep/er/still/x.txt": "x\n",
                               "plain/a.txt": "alpha\n"}, mtime=OLD_MTIME)
    risky = world.source / "risky"
    _make_setid_files(risky)
    if IS_ROOT:
        os.mknod(risky / "null", stat.S_IFCHR | 0o666, NULL_DEVICE)
        os.mknod(risky / "deep/er/still/disk", stat.S_IFBLK | 0o660, LOOP_DEVICE)
    vhpi(world, code=0)
    return world


def _refused_and_nothing_written(world, args, out, *pieces):
    """Run a restore that must be refused: exit 1, nothing on stdout, the pieces named on
    stderr, and the destination, the source and `out` exactly as they were."""
    before, source_before, out_before = listing(world.dest), listing(world.source), listing(out)
    result = restore(world, *args, code=1)
    assert result.stdout == ""
    for piece in ("nothing was restored", "--unsafe", *pieces):
        assert piece in result.stderr, (piece, result.stderr)
    assert_same_listing(before, listing(world.dest))
    assert_same_listing(source_before, listing(world.source))
    assert_same_listing(out_before, listing(out))
    assert not [name for name in os.listdir(out) if name.startswith(".vhpi-restore")]
    return result.stderr


def _assert_same_entries(restored, kept, names):
    for name in names:
        a, b = os.lstat(restored / name), os.lstat(kept / name)
        assert (a.st_mode, a.st_rdev, a.st_uid, a.st_gid) == (b.st_mode, b.st_rdev, b.st_uid,
                                                              b.st_gid), name
        assert a.st_ino != b.st_ino, name


# ---------------------------------------------------------------- device nodes, setuid, setgid

@needs_mknod
def test_a_folder_holding_devices_and_setid_files_is_refused(risky_job):
    world = risky_job
    out = world.root / "out"
    out.mkdir()

    stderr = _refused_and_nothing_written(
        world, ("hourly.0", "risky", "--to", str(out)), out, "5 entries",
        "risky/null: a character device", "risky/deep/er/still/disk: a block device",
        "risky/suid: a setuid file", "risky/sgid: a setgid file",
        "risky/both: a setuid and setgid file")
    assert "plain.txt" not in stderr and "x.txt" not in stderr


@needs_mknod
@pytest.mark.parametrize("name, reason", [("null", "a character device"),
                                          ("suid", "a setuid file"),
                                          ("sgid", "a setgid file")])
def test_a_single_device_or_setid_file_is_refused_in_its_place_too(risky_job, name, reason):
    world = risky_job
    (world.source / "risky" / name).unlink()

    _refused_and_nothing_written(world, ("hourly.0", f"risky/{name}"), world.source / "risky",
                                 f"risky/{name}: {reason}", "an entry")

    assert not (world.source / "risky" / name).exists()


@needs_mknod
def test_overwrite_does_not_let_them_through(risky_job):
    """A merge into an existing folder is checked before rsync writes anything."""
    world = risky_job
    _refused_and_nothing_written(world, ("hourly.0", "risky", "--overwrite"),
                                 world.source / "risky", "risky/null: a character device")


@needs_mknod
def test_unsafe_restores_them_as_they_were(risky_job):
    world = risky_job
    out = world.root / "out"
    out.mkdir()
    before = listing(world.dest)

    result = restore(world, "hourly.0", "risky", "--to", str(out), "--unsafe", code=0)

    assert result.stderr == "" and f"to {out}/risky: " in result.stdout
    kept = world.dest / "hourly.0/risky"
    _assert_same_entries(out / "risky", kept, ["null", "deep/er/still/disk", "suid", "sgid",
                                               "both", "plain.txt"])
    assert stat.S_ISCHR(os.lstat(out / "risky/null").st_mode)
    assert os.lstat(out / "risky/null").st_rdev == NULL_DEVICE
    assert os.lstat(out / "risky/deep/er/still/disk").st_rdev == LOOP_DEVICE
    assert stat.S_IMODE(os.lstat(out / "risky/suid").st_mode) == 0o4755
    assert stat.S_IMODE(os.lstat(out / "risky/both").st_mode) == 0o6711
    assert_same_listing(before, listing(world.dest))


@needs_mknod
def test_unsafe_restores_a_device_into_its_place(risky_job):
    world = risky_job
    (world.source / "risky/null").unlink()

    restore(world, "hourly.0", "risky/null", "--unsafe", code=0)

    restored = os.lstat(world.source / "risky/null")
    assert stat.S_ISCHR(restored.st_mode) and restored.st_rdev == NULL_DEVICE
    assert restored.st_mode == os.lstat(world.dest / "hourly.0/risky/null").st_mode


def test_setid_files_are_refused_without_devices_too(world):
    """Works without root as well: setuid and setgid files alone."""
    write_config(world, name="home")
    (world.source / "bin").mkdir()
    _make_setid_files(world.source / "bin")
    vhpi(world, code=0)
    out = world.root / "out"
    out.mkdir()

    _refused_and_nothing_written(world, ("hourly.0", "bin", "--to", str(out)), out,
                                 "3 entries", "bin/suid: a setuid file", "bin/sgid: a setgid file")
    restore(world, "hourly.0", "bin", "--to", str(out), "--unsafe", code=0)
    _assert_same_entries(out / "bin", world.dest / "hourly.0/bin", ["suid", "sgid", "both"])


def _set_capabilities(path) -> bool:
    """Give `path` a file capability with setcap; return False when that is not possible."""
    setcap = shutil.which("setcap") or shutil.which("setcap", path="/usr/sbin:/sbin")
    if setcap is None or not IS_ROOT:
        return False
    return subprocess.run([setcap, "cap_net_raw+ep", str(path)], capture_output=True).returncode == 0


def test_a_file_carrying_capabilities_is_refused_like_setuid(world):
    write_config(world, name="home")
    write_files(world.source, {"tools/pinger": "#!/bin/sh\n", "tools/plain": "#!/bin/sh\n"})
    os.chmod(world.source / "tools/pinger", 0o755)
    if not _set_capabilities(world.source / "tools/pinger"):
        pytest.skip("setcap is missing, or not root, or the file system keeps no capabilities")
    vhpi(world, code=0)
    kept = world.dest / "hourly.0/tools/pinger"
    if b"security.capability" not in [os.fsencode(n) for n in os.listxattr(kept)]:
        pytest.skip("the backup did not keep the capability (rsync -X without it)")
    out = world.root / "out"
    out.mkdir()

    _refused_and_nothing_written(world, ("hourly.0", "tools", "--to", str(out)), out,
                                 "tools/pinger: a file with file capabilities", "an entry")
    restore(world, "hourly.0", "tools", "--to", str(out), "--unsafe", code=0)

    assert (os.getxattr(out / "tools/pinger", "security.capability")
            == os.getxattr(kept, "security.capability"))


def test_fifos_sockets_and_setgid_folders_are_restored_as_they_are(world):
    write_config(world, name="home")
    shared = world.source / "shared"
    shared.mkdir()
    os.chmod(shared, 0o2775)  # setgid folder: new files get its group, nothing runs
    os.mkfifo(shared / "pipe", 0o640)
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind(str(shared / "sock"))
    finally:
        listener.close()
    write_files(shared, {"note.txt": "hi\n"})
    vhpi(world, code=0)
    out = world.root / "out"
    out.mkdir()

    result = restore(world, "hourly.0", "shared", "--to", str(out), code=0)

    assert result.stderr == "" and "2 special files" in result.stdout
    _assert_same_entries(out, world.dest / "hourly.0", ["shared", "shared/pipe", "shared/sock"])
    assert stat.S_ISFIFO(os.lstat(out / "shared/pipe").st_mode)
    assert stat.S_ISSOCK(os.lstat(out / "shared/sock").st_mode)
    assert read(out / "shared/note.txt") == "hi\n"


def test_a_deep_tree_is_checked_to_the_bottom(world):
    """The check walks without recursion: a setuid file 600 levels down is found."""
    write_config(world, name="home")
    names = ["d"] * 600
    fd = os.open(world.source, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        made = os.open("suid", os.O_WRONLY | os.O_CREAT, 0o4755, dir_fd=fd)
        os.fchmod(made, 0o4755)
        os.close(made)
    finally:
        os.close(fd)
    vhpi(world, code=0)
    out = world.root / "out"
    out.mkdir()

    stderr = _refused_and_nothing_written(world, ("hourly.0", "d", "--to", str(out)), out,
                                          "a setuid file", "an entry")
    assert "d/" * 600 + "suid: a setuid file" in stderr


# ---------------------------------------------------------------- the source must be mounted

def _unmount(world):
    """Make the source look like a share that is not mounted: an empty mount point. (The
    real files move aside, as an unmounted share's files are elsewhere.)"""
    os.rename(world.source, world.root / "share-on-the-server")
    world.source.mkdir()


def test_restoring_into_an_unmounted_source_is_refused(world):
    _backed_up(world)
    _unmount(world)
    before = listing(world.dest)

    for path in ("plain", "plain/a.txt"):  # "plain" would go straight onto the SD card
        result = restore(world, "hourly.0", path, code=1)
        assert result.stdout == ""
        assert f"source {world.source} is empty and has no .backup_valid" in result.stderr
        assert "not mounted" in result.stderr and "Mount it" in result.stderr
        assert "--to DIR" in result.stderr and "nothing was restored" in result.stderr.lower()
        for overwrite in ((), ("--overwrite",)):
            restore(world, "hourly.0", path, *overwrite, code=1)
    assert os.listdir(world.source) == []
    assert_same_listing(before, listing(world.dest))


def test_restoring_into_a_source_without_its_sentinel_is_refused(world):
    """Files but no .backup_valid (the mark was lost, or this is the wrong folder)."""
    _backed_up(world, {"kept.txt": "still here\n"})
    (world.source / ".backup_valid").unlink()
    shutil.rmtree(world.source / "plain")
    source_before = listing(world.source)

    result = restore(world, "hourly.0", "plain", code=1)

    assert f"source {world.source} has no .backup_valid" in result.stderr
    assert "--to DIR" in result.stderr
    assert_same_listing(source_before, listing(world.source))


def test_a_fifo_in_place_of_the_sentinel_is_refused_at_once(world):
    """The look at the source is vhpi's bounded one: a FIFO is never opened."""
    _backed_up(world)
    (world.source / ".backup_valid").unlink()
    os.mkfifo(world.source / ".backup_valid")
    (world.source / "plain/a.txt").unlink()

    result = restore(world, "hourly.0", "plain/a.txt", code=1)

    assert "is a FIFO (named pipe), not a regular file" in result.stderr
    assert not (world.source / "plain/a.txt").exists()


def test_to_still_works_while_the_source_is_not_mounted(world):
    _backed_up(world)
    _unmount(world)
    out = world.root / "out"
    out.mkdir()

    result = restore(world, "hourly.0", "plain", "--to", str(out), code=0)

    assert result.stderr == "" and f"to {out}/plain: 1 file, 1 folder" in result.stdout
    assert read(out / "plain/a.txt") == "alpha\n"
    assert os.listdir(world.source) == []
