"""File systems of their own for the moved-files cases: an ext4 image on a loop device per
disk (the share, the backup disk), so that what a run reads from the share can be counted
(the device's sectors read, /sys/block/loopN/stat) and its disk growth taken from the
backup disk alone. Needs root, losetup, mkfs.ext4 and mount."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Optional

DROP_CACHES = "/proc/sys/vm/drop_caches"
SECTOR = 512     # /sys/block/*/stat counts 512-byte sectors whatever the device's own size


@dataclass
class LoopDisk:
    """An ext4 file system in `image`, attached as `device` (/dev/loopN), mounted on `mount`."""

    image: str
    device: str
    mount: str


def loop_problem() -> Optional[str]:
    """Return why loop devices cannot be used here (not root, a program missing, caches that
    cannot be dropped), or None."""
    if os.geteuid() != 0:
        return "needs root (loop devices, mount, dropping the page cache)"
    missing = [name for name in ("losetup", "mkfs.ext4", "mount", "umount") if shutil.which(name) is None]
    if missing:
        return f"missing programs: {', '.join(missing)} (apt-get install mount e2fsprogs)"
    if not os.access(DROP_CACHES, os.W_OK):
        return f"cannot write {DROP_CACHES} (a container without it?)"
    return None


def _run(argv: list) -> str:
    """Run a setup command; return its stdout (raises CalledProcessError with its message)."""
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, argv, done.stdout,
                                            done.stderr.decode("utf-8", "replace").strip())
    return done.stdout.decode("utf-8", "replace").strip()


def make_loop_disk(image: str, mount: str, size: int, inodes: int) -> LoopDisk:
    """Make a sparse `size`-byte image with an ext4 file system of `inodes` inodes (tables
    and journal written now, so no background initialisation runs during a measurement),
    attach it to a free loop device and mount it on `mount` (created). Raises
    CalledProcessError (nothing left attached) when a step fails."""
    with open(image, "wb") as handle:
        handle.truncate(size)
    _run(["mkfs.ext4", "-q", "-F", "-N", str(inodes), "-E",
          "nodiscard,lazy_itable_init=0,lazy_journal_init=0", image])
    device = _run(["losetup", "--find", "--show", image])
    try:
        os.makedirs(mount, exist_ok=True)
        _run(["mount", "-t", "ext4", device, mount])
    except (OSError, subprocess.CalledProcessError):
        _run(["losetup", "-d", device])
        raise
    return LoopDisk(image, device, mount)


def remove_loop_disk(disk: Optional[LoopDisk]) -> None:
    """Unmount and detach the disk and delete its image (best effort: says what failed)."""
    if disk is None:
        return
    for argv in (["umount", disk.mount], ["losetup", "-d", disk.device]):
        try:
            _run(argv)
        except subprocess.CalledProcessError as error:
            print(f"  bench: {' '.join(argv)} failed: {error.stderr}", flush=True)
    for remove in (lambda: os.rmdir(disk.mount), lambda: os.unlink(disk.image)):
        try:
            remove()
        except OSError:
            pass


def sectors_read(disk: LoopDisk) -> int:
    """Return the sectors read from the disk's device since it was attached (the third
    field of /sys/block/loopN/stat)."""
    with open(f"/sys/block/{os.path.basename(disk.device)}/stat", encoding="ascii") as handle:
        return int(handle.read().split()[2])


def drop_caches() -> None:
    """Write dirty pages back, then drop the page cache, dentries and inodes, so that what
    the next run reads from a disk really comes from the disk."""
    os.sync()
    with open(DROP_CACHES, "w", encoding="ascii") as handle:
        handle.write("3\n")


def used_bytes(path: str) -> int:
    """Return the bytes in use on the file system holding `path` (after a sync)."""
    os.sync()
    info = os.statvfs(path)
    return (info.f_blocks - info.f_bfree) * info.f_frsize
