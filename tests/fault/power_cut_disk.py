"""A disk that loses its unflushed writes in a power cut: an ext4 file system on a loop
device whose backing file is served by a FUSE daemon of its own (power_cut_daemon.py)
that keeps writes in memory until a flush reaches it. cut() drops them, as pulling the
plug drops a disk's volatile cache; what the image holds afterwards is what a real disk
would have after the cut, and remount() shows it as the next boot would (ext4 replays
its journal when mounted).

    disk = PowerCutDisk(tmp_path / "disk", size_mib=32).start()   # or the fixture
    ... write to disk.mountpoint ...
    disk.cut()                   # power gone: nothing written from now on reaches the image
    disk.detach()                # unmount, free the loop device, stop the daemon
    disk.remount()               # the durable image, mounted directly: journal replay
    code, output = disk.fsck()   # e2fsck -fn

What reaches the daemon as a flush (checked by tests/fault/test_power_cut_disk.py): the
loop driver declares a volatile write cache when its backing file has fsync, and turns
every REQ_OP_FLUSH (fsync, sync, ext4 journal commits: REQ_PREFLUSH|REQ_FUA, emulated as
flushes since loop has no FUA) into vfs_fsync on the file, which FUSE sends as FUSE_FSYNC.

Needs root, /dev/fuse, losetup and mount (util-linux / mount), mkfs.ext4 and e2fsck
(e2fsprogs), and fusepy."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from tests.fault.fuse_common import (MountEntry, detach, end_process, fuse_available, mount_on,
                                     wait_for)

DAEMON = Path(__file__).with_name("power_cut_daemon.py")
#: No lazy initialisation: the kernel would otherwise zero inode tables and the journal in
#: the background after the first mount, writes no test asked for.
MKFS_OPTIONS = ("-q", "-F", "-b", "4096", "-E", "lazy_itable_init=0,lazy_journal_init=0,nodiscard")


def _run(argv: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)


def _checked(argv: Sequence[str], timeout: float = 60) -> str:
    done = _run(argv, timeout)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({done.returncode}): "
                             f"{done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def _unmount(path: Path) -> None:
    """Unmount whatever is on `path` (all layers): plainly, else lazily."""
    for _ in range(8):
        entry = mount_on(path)
        if entry is None:
            return
        if _run(["umount", str(path)], timeout=60).returncode != 0:
            detach(entry)


class PowerCutDisk:
    """An ext4 disk of `size_mib` MiB in `workdir` (image durable.img, FUSE folder fuse/,
    mountpoint mnt/ unless `mountpoint` is given), whose unflushed writes a cut loses."""

    def __init__(self, workdir: Path, size_mib: int = 32, mountpoint: Optional[Path] = None,
                 mkfs_options: Sequence[str] = MKFS_OPTIONS, mount_options: str = ""):
        self.workdir = Path(workdir)
        self.size_mib = size_mib
        self.image = self.workdir / "durable.img"
        self.fuse_dir = self.workdir / "fuse"
        self.mountpoint = Path(mountpoint) if mountpoint else self.workdir / "mnt"
        self.mkfs_options = list(mkfs_options)
        self.mount_options = mount_options
        self.loop: Optional[str] = None
        self.process: Optional[subprocess.Popen] = None
        self.last_stats: Dict = {}
        self.fuse_mount: Optional[MountEntry] = None
        self.remounted: Optional[Path] = None
        self._control_dir: Optional[Path] = None

    @property
    def served_file(self) -> Path:
        """The FUSE-served file that the loop device is attached to."""
        return self.fuse_dir / "disk.img"

    @property
    def log(self) -> str:
        path = self._control_dir / "daemon.log" if self._control_dir else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    # ------------------------------------------------------------ bringing it up

    def make_image(self) -> None:
        """Create durable.img (sparse) and mkfs.ext4 it, unless it exists."""
        if self.image.exists():
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.image, "wb") as handle:
            handle.truncate(self.size_mib << 20)
        _checked(["mkfs.ext4", *self.mkfs_options, str(self.image)])

    def serve(self, timeout: float = 15) -> Path:
        """Make the image if needed and start the daemon; return the served file."""
        assert self.process is None, "the daemon already runs"
        self.make_image()
        self.fuse_dir.mkdir(exist_ok=True)
        self._control_dir = Path(tempfile.mkdtemp(prefix="power-cut-"))  # short socket path
        argv = [sys.executable, str(DAEMON), str(self.image), str(self.fuse_dir), "--control",
                str(self._control_dir / "control"), "--parent", str(os.getpid())]
        with open(self._control_dir / "daemon.log", "wb") as log:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

        def up() -> Optional[MountEntry]:
            if self.process.poll() is not None:
                raise AssertionError(f"power-cut daemon exited:\n{self.log}")
            entry = mount_on(self.fuse_dir)
            ready = entry and entry.fstype == "fuse.power_cut" and \
                (self._control_dir / "control").exists()
            return entry if ready else None

        self.fuse_mount = wait_for(up, timeout, "the power-cut daemon to mount")
        return self.served_file

    def start(self) -> "PowerCutDisk":
        """serve(), attach a loop device to the served file, mount ext4 on the mountpoint."""
        self.serve()
        self.loop = _checked(["losetup", "--find", "--show", str(self.served_file)]).strip()
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        options = ["-o", self.mount_options] if self.mount_options else []
        _checked(["mount", "-t", "ext4", *options, self.loop, str(self.mountpoint)])
        return self

    # ------------------------------------------------------------ the cut

    def _ask(self, command: str) -> Dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(30)
            client.connect(str(self._control_dir / "control"))
            client.sendall(command.encode() + b"\n")
            reply = client.makefile("rb").readline()
        return json.loads(reply)

    def stats(self) -> Dict:
        """The daemon's counters: writes, fsyncs, flushes, releases, blocks persisted and
        dropped, dirty_blocks, cut; `... after cut` counts what it threw away."""
        return self._ask("stats")

    def cut(self) -> Dict:
        """Pull the plug: the daemon drops its dirty blocks and from now on throws every
        write and flush away. Returns its counters as they were just after the cut."""
        return self._ask("cut")

    # ------------------------------------------------------------ taking it down

    def detach(self) -> None:
        """Unmount the ext4 (lazily if busy), detach the loop device and stop the daemon.
        After a cut nothing of this reaches the image; without one it is a clean
        shutdown (the unmount's writes and the last flush are kept). The daemon's last
        counters are kept in `last_stats` (what a cut threw away included)."""
        _unmount(self.mountpoint)
        if self.loop:
            _run(["losetup", "-d", self.loop])
            self.loop = None
        try:
            self.last_stats = self.stats() if self.process is not None else {}
        except OSError:
            self.last_stats = {}
        self._stop_daemon()

    def _stop_daemon(self) -> None:
        if self.process is not None:
            end_process(self.process)  # SIGTERM: libfuse unmounts on its way out
            self.process = None
        if self.fuse_mount is not None:
            detach(self.fuse_mount)
            self.fuse_mount = None
        if self._control_dir is not None:
            shutil.rmtree(self._control_dir, ignore_errors=True)
            self._control_dir = None

    def remount(self, mountpoint: Optional[Path] = None) -> Path:
        """Mount the durable image directly (`mount -o loop`, read-write; ext4 replays its
        journal here) on `mountpoint` (default: the disk's own); return where it is."""
        assert self.process is None, "detach() first: the image is still served"
        target = Path(mountpoint) if mountpoint else self.mountpoint
        target.mkdir(parents=True, exist_ok=True)
        _checked(["mount", "-t", "ext4", "-o", "loop", str(self.image), str(target)])
        self.remounted = target
        return target

    def unmount(self) -> None:
        """Unmount a remount (its loop device goes with it)."""
        if self.remounted is not None:
            _unmount(self.remounted)
            self.remounted = None

    def fsck(self) -> Tuple[int, str]:
        """Unmount everything made from the image, run `e2fsck -fn` on it; return (exit
        code, output). Run it after a remount: -n does not replay a pending journal."""
        self.unmount()
        if self.process is not None:
            self.detach()
        done = _run(["e2fsck", "-fn", str(self.image)], timeout=120)
        return done.returncode, done.stdout + done.stderr

    def cleanup(self) -> None:
        """Undo everything, whatever state it is in; never raises."""
        for step in (self.unmount, self.detach):
            try:
                step()
            except Exception:  # noqa: BLE001 - cleanup must go on
                pass
        try:
            self._stop_daemon()
        except Exception:  # noqa: BLE001
            pass

    def __enter__(self) -> "PowerCutDisk":
        return self.start() if self.process is None else self

    def __exit__(self, *exc) -> None:
        self.cleanup()


def power_cut_available() -> Optional[str]:
    """Why a PowerCutDisk cannot run here, or None."""
    why = fuse_available()
    if why:
        return why
    for tool in ("losetup", "mkfs.ext4", "e2fsck", "mount", "umount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not os.path.exists("/dev/loop-control"):
        return "no loop devices (/dev/loop-control)"
    return None


@pytest.fixture
def power_cut_disk(tmp_path: Path) -> Iterator:
    """A factory `power_cut_disk(size_mib=32, **options) -> PowerCutDisk` (started, ext4
    mounted at its `mountpoint`); everything it made is unmounted, detached and stopped
    at the end of the test, passed or failed. Skips when it cannot run here."""
    why = power_cut_available()
    if why:
        pytest.skip(why)
    made: List[PowerCutDisk] = []

    def make(size_mib: int = 32, **options) -> PowerCutDisk:
        disk = PowerCutDisk(tmp_path / f"disk{len(made)}", size_mib, **options)
        made.append(disk)
        return disk.start()

    try:
        yield make
    finally:
        for disk in reversed(made):
            disk.cleanup()
