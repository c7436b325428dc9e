"""Self-tests of the power-cut stand-in (power_cut_disk.py): the daemon keeps writes in
memory until a flush, and a cut loses exactly what was not flushed; the loop driver
passes fsync, sync and ext4's journal commits down to it as flushes; so on ext4 a file
fsynced (with its folder) before the cut survives, a file never synced is gone, `sync`
keeps everything, nothing written after the cut reaches the image, and e2fsck is clean
once the journal was replayed."""

from __future__ import annotations

import hashlib
import mmap
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import needs_root
from tests.fault.fuse_common import mount_on
from tests.fault.power_cut_disk import PowerCutDisk, power_cut_available, power_cut_disk
from tests.integration.helpers import manifest

pytestmark = needs_root("mounts FUSE, loop devices and ext4")
_ = power_cut_disk  # the fixture


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fsync_path(path: Path) -> None:
    """fsync a file or a folder by name."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, text: str) -> None:
    """Write `text` to `path`, fsync it and its folder: what a careful program does."""
    with open(path, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    fsync_path(path.parent)


def loop_sysfs(disk: PowerCutDisk, name: str) -> str:
    return Path(f"/sys/block/{os.path.basename(disk.loop)}/queue/{name}").read_text().strip()


# ---------------------------------------------------------------- the daemon on its own


def test_the_daemon_keeps_writes_in_memory_until_a_flush_and_a_cut_drops_them(tmp_path):
    why = power_cut_available()
    if why:
        pytest.skip(why)
    disk = PowerCutDisk(tmp_path / "raw", size_mib=1)
    disk.workdir.mkdir()
    disk.image.write_bytes(bytes(range(256)) * 4096)  # no mkfs: an image of our own
    original = disk.image.read_bytes()
    try:
        served = disk.serve()
        assert served.stat().st_size == 1 << 20
        with open(served, "r+b", buffering=0) as handle:
            handle.write(b"A" * 5000)  # 1 full block and part of the next
            assert disk.image.read_bytes() == original  # only in the daemon's memory
            handle.seek(0)
            assert handle.read(5001) == b"A" * 5000 + original[5000:5001]  # read back from it
            assert disk.stats()["dirty_blocks"] == 2
        assert disk.image.read_bytes()[:5001] == b"A" * 5000 + original[5000:5001]  # close
        assert disk.stats()["flushes"] >= 1 and disk.stats()["dirty_blocks"] == 0

        with open(served, "r+b", buffering=0) as handle:
            handle.seek(8192 + 100)
            handle.write(b"B" * 100)
            os.fsync(handle.fileno())
            expected = disk.image.read_bytes()
            assert expected[8192 + 100:8192 + 200] == b"B" * 100
            assert disk.stats()["fsyncs"] == 1
            handle.seek(20000)
            handle.write(b"C" * 9000)  # never flushed
            cut = disk.cut()
            assert (cut["cut"], cut["blocks dropped"], cut["dirty_blocks"]) == (True, 4, 0)
            handle.seek(0)
            handle.write(b"D" * 4096)  # accepted, thrown away
            os.fsync(handle.fileno())
            handle.seek(20000)
            assert handle.read(10) == expected[20000:20010]  # the disk's content again
        after = disk.stats()
        assert after["writes after cut"] == 1 and after["fsyncs after cut"] == 1
        assert after["flushes after cut"] >= 1
        assert disk.image.read_bytes() == expected
    finally:
        disk.cleanup()
    assert mount_on(disk.fuse_dir) is None and disk.process is None


# ---------------------------------------------------------------- through loop and ext4


def test_the_loop_device_passes_fsync_and_sync_down_as_flushes(power_cut_disk):
    """Written data reaches the image only by a flush, and fsync and sync make one. (Any
    process's sync(2) flushes every disk, so these counters only ever grow faster.)"""
    disk = power_cut_disk()
    assert loop_sysfs(disk, "write_cache") == "write back"  # loop declares a volatile cache
    fsynced, synced, plain = (os.urandom(16).hex().encode() * 256 for _ in range(3))
    (disk.mountpoint / "plain.bin").write_bytes(plain)
    assert plain not in disk.image.read_bytes()  # still in the page cache above

    before = disk.stats()["fsyncs"]
    with open(disk.mountpoint / "fsynced.bin", "wb") as handle:
        handle.write(fsynced)
        handle.flush()
        os.fsync(handle.fileno())
    assert disk.stats()["fsyncs"] > before
    assert fsynced in disk.image.read_bytes()

    (disk.mountpoint / "synced.bin").write_bytes(synced)
    before = disk.stats()["fsyncs"]
    subprocess.run(["sync"], check=True)
    # (sync may leave a few blocks dirty in the daemon: after committing the journal it
    # writes metadata to its home location without a flush; the journal holds it anyway)
    assert disk.stats()["fsyncs"] > before
    image = disk.image.read_bytes()
    assert synced in image and plain in image


def test_a_journal_commit_alone_reaches_the_disk_as_a_flush(power_cut_disk):
    disk = power_cut_disk(mount_options="commit=1")  # jbd2 commits a second after a change
    subprocess.run(["sync"], check=True)
    before = disk.stats()["fsyncs"]
    (disk.mountpoint / "committed-by-jbd2").write_text("")
    time.sleep(2.5)
    assert disk.stats()["fsyncs"] > before
    disk.cut()
    disk.detach()
    root = disk.remount()
    assert (root / "committed-by-jbd2").exists()  # the creation was committed durably


def test_a_synced_file_survives_the_cut_and_an_unsynced_one_is_lost(power_cut_disk):
    disk = power_cut_disk()
    root = disk.mountpoint
    (root / "dir").mkdir()
    fsync_path(root)
    write_durably(root / "dir" / "kept.txt", "fsynced with its folder\n")
    (root / "dir" / "lost.txt").write_text("never synced\n")
    (root / "lost-folder").mkdir()
    (root / "dir" / "kept.txt").rename(root / "dir" / "renamed.txt")  # not synced either

    at_cut = disk.cut()
    frozen = digest(disk.image)
    (root / "after-the-cut.txt").write_text("nobody will see this\n")
    subprocess.run(["sync"], check=True)
    disk.detach()
    assert digest(disk.image) == frozen  # nothing after the cut reached the image

    root = disk.remount()
    assert (root / "dir" / "kept.txt").read_text() == "fsynced with its folder\n"
    lost = root / "dir" / "lost.txt"
    assert not lost.exists() or lost.stat().st_size == 0
    assert not (root / "dir" / "renamed.txt").exists()
    assert not (root / "lost-folder").exists()
    assert not (root / "after-the-cut.txt").exists()
    assert at_cut["cut"] is True
    code, output = disk.fsck()
    assert code == 0, output


def test_sync_before_the_cut_keeps_everything(power_cut_disk):
    disk = power_cut_disk()
    root = disk.mountpoint
    for number in range(30):
        folder = root / f"d{number % 4}"
        folder.mkdir(exist_ok=True)
        (folder / f"f{number}.bin").write_bytes(os.urandom(1000 * number))
    os.link(root / "d1" / "f1.bin", root / "hard-link.bin")
    os.symlink("d2/f2.bin", root / "symlink")
    (root / "d0" / "f0.bin").rename(root / "moved.bin")
    expected = manifest(root)
    subprocess.run(["sync"], check=True)
    disk.cut()
    disk.detach()

    root = disk.remount()
    assert manifest(root) == expected
    assert os.stat(root / "hard-link.bin").st_ino == os.stat(root / "d1" / "f1.bin").st_ino
    code, output = disk.fsck()
    assert code == 0, output


def test_data_that_reached_the_disk_without_a_flush_is_lost(power_cut_disk):
    """The disk's own cache: an O_DIRECT overwrite goes past the page cache to the disk,
    but without a flush the disk only holds it in its volatile cache."""
    disk = power_cut_disk()
    path = disk.mountpoint / "block.bin"
    write_durably(path, "o" * 4096)
    buffer = mmap.mmap(-1, 4096)  # page aligned, as O_DIRECT wants
    buffer.write(b"n" * 4096)
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    try:
        assert os.pwrite(fd, buffer, 0) == 4096
    finally:
        os.close(fd)
    assert disk.stats()["dirty_blocks"] >= 1  # reached the daemon, not flushed
    assert disk.cut()["blocks dropped"] >= 1
    disk.detach()
    assert disk.remount().joinpath("block.bin").read_text() == "o" * 4096

    disk.unmount()
    disk.start()  # the same image, served and cut-able again
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    try:
        os.pwrite(fd, buffer, 0)
        os.fdatasync(fd)  # this time flushed
    finally:
        os.close(fd)
    disk.cut()
    disk.detach()
    assert disk.remount().joinpath("block.bin").read_text() == "n" * 4096
    code, output = disk.fsck()
    assert code == 0, output


def test_cleanup_leaves_no_mount_loop_device_or_daemon(power_cut_disk, tmp_path):
    disk = power_cut_disk()
    busy = subprocess.Popen(["sleep", "30"], cwd=disk.mountpoint)  # keeps the ext4 busy
    try:
        disk.cut()
        served, loop, daemon = disk.served_file, disk.loop, disk.process.pid
        disk.cleanup()
        assert mount_on(disk.mountpoint) is None and mount_on(disk.fuse_dir) is None
        assert not os.path.exists(f"/proc/{daemon}")
        assert disk.loop is None and disk.process is None
    finally:
        busy.kill()
        busy.wait()
    # the lazily unmounted ext4 lets go of the loop device once its last user is gone
    deadline = time.monotonic() + 10
    while subprocess.run(["losetup", "-j", str(served)], capture_output=True,
                         text=True).stdout.strip():
        assert time.monotonic() < deadline, f"{loop} still attached"
        time.sleep(0.1)
    disk.cleanup()  # again: still fine
