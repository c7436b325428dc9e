"""A network share that can hang: a real folder served through a FUSE daemon of its own
(fuse_share_daemon.py, a separate process) that a test can freeze with SIGSTOP. While it
is frozen every access to the mount blocks in the kernel, as on an NFS hard mount whose
server died; thaw() lets everything go on, stop() always gets rid of it.

    with FuseShare(backing, mountpoint) as share:   # or the `fuse_share` fixture
        share.freeze()        # `stat mountpoint` now blocks; SIGKILL still ends it
        share.thaw()
    # unmounted, daemon gone

What SIGKILL can end while the daemon is frozen (kernel fs/fuse/dev.c, request_wait_answer):
  - a request the daemon has not read yet (the usual case after freeze(), which waits
    until no request is half answered) waits killably: SIGKILL takes the request back
    and the process dies at once;
  - a request the daemon had already read when it was stopped waits uninterruptibly
    (state D) after a fatal signal: that process dies only when the daemon answers
    (thaw) or the connection is aborted (stop);
  - closing files in a dying process sends no request (the daemon turned FUSE_FLUSH off,
    see fuse_share_daemon.py), so killed readers and writers do not hang in exit.

Needs root (allow_other, and the tests run programs as other users), /dev/fuse, the
fusermount program (Debian package fuse) and the fusepy package."""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import pytest

from tests.fault.fuse_common import (MountEntry, ProcessOnMount, abort_connection,
                                     connection_waiting, detach, end_process, fuse_available,
                                     is_attached, is_gone, is_stopped, live_mount_ids, mount_on,
                                     processes_on,
                                     resolved, wait_for)

DAEMON = Path(__file__).with_name("fuse_share_daemon.py")
PROBE = ".fuse-share-probe"


class FuseShare:
    """The folder `backing` served at `mountpoint` by a FUSE daemon that can be frozen.

    `slow_names` (a test hook): lookups of entries with these names are answered only
    after `slow_seconds`, so a test can hold a request inside the daemon on purpose."""

    def __init__(self, backing: Path, mountpoint: Path, slow_names: Sequence[str] = (),
                 slow_seconds: float = 3600.0):
        self.backing = Path(backing)
        self.mountpoint = Path(os.fsdecode(resolved(Path(mountpoint))))
        self.slow_names = list(slow_names)
        self.slow_seconds = slow_seconds
        self.process: Optional[subprocess.Popen] = None
        self.mount: Optional[MountEntry] = None
        self.frozen = False
        self._state_dir: Optional[Path] = None

    # ------------------------------------------------------------ life cycle

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process else None

    @property
    def log(self) -> str:
        """What the daemon printed (libfuse errors, Python tracebacks)."""
        path = self._state_dir / "daemon.log" if self._state_dir else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def start(self, timeout: float = 15) -> "FuseShare":
        """Start the daemon and return once the mount answers; raise AssertionError with
        the daemon's output when it does not come up within `timeout` seconds."""
        assert self.process is None, "already started"
        self._state_dir = Path(tempfile.mkdtemp(prefix="fuse-share-"))
        argv = [sys.executable, str(DAEMON), str(self.backing), str(self.mountpoint),
                "--state", str(self._state_dir / "inflight"), "--parent", str(os.getpid())]
        for name in self.slow_names:
            argv += ["--slow-name", name]
        argv += ["--slow-seconds", str(self.slow_seconds)]
        with open(self._state_dir / "daemon.log", "wb") as log:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.mount = wait_for(self._our_mount, timeout, "the FUSE share to be mounted")
            # The first close of a file sends FUSE_FLUSH; the daemon answers ENOSYS and the
            # kernel sends no FLUSH again (see fuse_share_daemon.py).
            os.close(os.open(self.mountpoint / PROBE, os.O_RDONLY))
            os.stat(self.mountpoint)
        except BaseException:
            log_text = self.log
            self.stop()
            raise AssertionError(f"FUSE share did not start:\n{log_text}")
        return self

    def _our_mount(self) -> Optional[MountEntry]:
        if self.process.poll() is not None:
            raise AssertionError(f"daemon exited with {self.process.returncode}")
        entry = mount_on(self.mountpoint)
        return entry if entry and entry.fstype == "fuse.fuse_share" else None

    def in_flight(self) -> int:
        """How many requests the daemon has taken into its handlers and not yet answered
        (read from its shared counter, so this works while it is frozen)."""
        if self._state_dir is None:
            return 0
        try:
            with open(self._state_dir / "inflight", "rb") as handle:
                return struct.unpack("<q", handle.read(8))[0]
        except (OSError, struct.error):
            return 0

    def freeze(self, quiesce_timeout: float = 2.0) -> int:
        """SIGSTOP the daemon and wait until all its threads are stopped; from then on
        every access to the mount blocks. Within `quiesce_timeout` seconds, retry until
        it is stopped with no request half answered (so every blocked process stays
        killable); returns how many were half answered when it stayed stopped (0 = clean)."""
        assert self.process is not None and self.process.poll() is None, "daemon not running"
        deadline = time.monotonic() + quiesce_timeout
        while True:
            os.kill(self.process.pid, signal.SIGSTOP)
            wait_for(lambda: is_stopped(self.process.pid), 10, "the daemon to stop", step=0.001)
            busy = self.in_flight()
            if busy == 0 or time.monotonic() >= deadline:
                break
            os.kill(self.process.pid, signal.SIGCONT)
            time.sleep(0.002)
        self.frozen = True
        return busy

    def thaw(self) -> None:
        """SIGCONT the daemon: the blocked requests are answered and the mount works again."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
        self.frozen = False

    def blocked(self) -> List[ProcessOnMount]:
        """Processes (other than the daemon and this one) that have their cwd, root or an
        open file on the share, or that wait in a FUSE request (see
        fuse_common.processes_on for what /proc can and cannot tell)."""
        ids = live_mount_ids(self.mount) if self.mount else []
        return processes_on(ids, exclude=[self.pid] if self.pid else [])

    def stop(self, settle: float = 5.0) -> List[ProcessOnMount]:
        """Get rid of the share whatever state it is in, never raising: SIGCONT, abort the
        FUSE connection when requests are still stuck half a second later, lazy unmount,
        end the daemon (SIGTERM, then SIGKILL; its end aborts the connection too).
        Returns the processes still holding something on the detached mount after up to
        `settle` seconds (normally none)."""
        left: List[ProcessOnMount] = []
        try:
            self.thaw()
            if self.mount is not None and is_attached(self.mount):
                # While the mount is attached its connection number is surely ours (the
                # kernel reuses the number of a connection that is gone).
                if self._stuck(0.5):
                    abort_connection(self.mount.minor)
                detach(self.mount)
            if self.process is not None:
                end_process(self.process, term_timeout=1)
            if self.mount is not None:
                deadline = time.monotonic() + settle
                while True:
                    left = processes_on(live_mount_ids(self.mount), fuse_waiters=False)
                    if not left or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
        finally:
            if self._state_dir is not None:
                shutil.rmtree(self._state_dir, ignore_errors=True)
                self._state_dir = None
            self.frozen = False
        return left

    def _stuck(self, patience: float) -> bool:
        """True when requests to the share are still unanswered after `patience` seconds
        (fusectl's count, or failing that processes in a FUSE wait)."""
        deadline = time.monotonic() + patience
        while True:
            waiting = connection_waiting(self.mount.minor)
            if waiting is None:
                waiting = len([p for p in self.blocked() if p.fuse_wait])
            if not waiting:
                return False
            if time.monotonic() > deadline:
                return True
            time.sleep(0.02)

    @property
    def mounted(self) -> bool:
        """True while our mount is attached (checked in mountinfo, never by a stat)."""
        return self.mount is not None and is_attached(self.mount)

    @property
    def daemon_gone(self) -> bool:
        return self.process is None or self.process.poll() is not None or is_gone(self.process.pid)

    def __enter__(self) -> "FuseShare":
        return self.start() if self.process is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture
def fuse_share() -> Iterator:
    """A factory `fuse_share(backing, mountpoint, **options) -> FuseShare` (started);
    every share it made is stopped at the end of the test, passed or failed. Skips when
    FUSE cannot run here."""
    why = fuse_available()
    if why:
        pytest.skip(why)
    made: List[FuseShare] = []

    def make(backing: Path, mountpoint: Path, **options) -> FuseShare:
        share = FuseShare(backing, mountpoint, **options)
        made.append(share)
        return share.start()

    try:
        yield make
    finally:
        for share in reversed(made):
            share.stop()
