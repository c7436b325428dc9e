"""Helpers for the fault-injection tests: pausing a real vhpi run at a named checkpoint,
mounting and unmounting file systems (always cleaned up), filling a disk to the last byte
and inode, and checking that the snapshots a run started with are still exactly there.

Fixtures defined here (`mounts`) are imported by the test modules that use them."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import pytest

from tests.procs import processes

from tests.integration.helpers import (ino, kill_group, listing, manifest, start_vhpi, vhpi,
                                       wait_or_kill_group, without_link_counts, work_leftovers,
                                       write_config, write_files)

# ---------------------------------------------------------------- pausing a run


class PausedRun:
    """A vhpi process started with VHPI_PAUSE_AT; `pid` is the stopped python process."""

    def __init__(self, world, process: subprocess.Popen, out: Path):
        self.world = world
        self.process = process
        self.out = out
        self.pid: Optional[int] = None
        self.code: Optional[int] = None

    def output(self) -> str:
        return self.out.read_text(errors="replace") if self.out.exists() else ""

    def wait_stopped(self, timeout: float = 60) -> int:
        """Wait until the vhpi process is stopped at its checkpoint (state 'T')."""
        deadline = time.monotonic() + timeout
        while True:
            for found in processes():
                if found.pgid == self.process.pid and found.state == "T" and b"vhpi.main" in found.argv:
                    self.pid = found.pid
                    return found.pid
            if self.process.poll() is not None:
                raise AssertionError(f"vhpi ended (exit {self.process.returncode}) before reaching "
                                     f"its pause point:\n{self.output()}\n--- info.log:\n"
                                     f"{self.world.info_log}")
            assert time.monotonic() < deadline, "vhpi never stopped at its pause point"
            time.sleep(0.005)

    def resume(self, timeout: float = 120) -> int:
        """SIGCONT the stopped vhpi and wait for the run to end; return its exit code."""
        assert self.pid is not None, "wait_stopped first"
        os.kill(self.pid, signal.SIGCONT)
        self.code = self.process.wait(timeout=timeout)
        return self.code

    def kill(self) -> None:
        if self.process.poll() is None:
            kill_group(self.process)
        _wait_group_gone(self.process.pid)


def _wait_group_gone(pgid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while any(found.pgid == pgid for found in processes()) and time.monotonic() < deadline:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            break
        time.sleep(0.01)


@contextmanager
def paused_vhpi(world, point: str, *args: str, at: Optional[str] = None,
                env: Optional[Dict[str, str]] = None) -> Iterator[PausedRun]:
    """Start vhpi so that it stops itself at checkpoint `point` (`name` or `name:n`), wait
    until it is stopped, and yield it; the whole process group is killed on the way out
    if the test did not resume it to the end."""
    out = world.root / f"paused-{point.replace(':', '-')}-{time.monotonic_ns()}.out"
    process = start_vhpi(world, *args, at=at, env={**(env or {}), "VHPI_PAUSE_AT": point},
                         log_to=out)
    run = PausedRun(world, process, out)
    try:
        run.wait_stopped()
        yield run
    finally:
        run.kill()


# ---------------------------------------------------------------- mounts


class Mounts:
    """Mounts made by a test, unmounted (lazily if busy) in reverse order at the end."""

    def __init__(self) -> None:
        self.points: List[Path] = []

    def _mount(self, argv: List[str], target: Path) -> None:
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount here ({' '.join(argv)}): {result.stderr.strip()}")
        self.points.append(Path(target))

    def tmpfs(self, target: Path, size: str = "16m", nr_inodes: Optional[int] = None) -> Path:
        options = f"size={size}" + (f",nr_inodes={nr_inodes}" if nr_inodes else "")
        self._mount(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], target)
        return Path(target)

    def bind(self, source: Path, target: Path) -> Path:
        self._mount(["mount", "--bind", str(source), str(target)], target)
        return Path(target)

    def loop(self, image: Path, target: Path) -> Path:
        self._mount(["mount", "-o", "loop", str(image), str(target)], target)
        return Path(target)

    @staticmethod
    def lazy_unmount(target: Path) -> None:
        """`umount -l`: the path shows the folder below at once (what an unplugged disk or a
        dropped share looks like to a running program)."""
        subprocess.run(["umount", "-l", str(target)], check=True)
        assert not os.path.ismount(target)

    def cleanup(self) -> None:
        for target in reversed(self.points):
            for _ in range(5):
                if not is_mount_point(target):
                    break
                if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
                    subprocess.run(["umount", "-l", str(target)], capture_output=True)
        self.points.clear()


def is_mount_point(path: Path) -> bool:
    """True when something is mounted on `path`, a bind mount within one file system
    included (os.path.ismount compares devices, so it cannot see those)."""
    wanted = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        points = [line.split()[4] for line in handle]
    decoded = [point.encode().decode("unicode_escape") for point in points]  # \040 = space
    return wanted in decoded


@pytest.fixture
def mounts():
    if os.geteuid() != 0:
        pytest.skip("needs root: mounts file systems")
    made = Mounts()
    try:
        yield made
    finally:
        made.cleanup()


def bare_mountpoint(folder: Path) -> None:
    """Empty `folder` (the world made it with a mark in it) so that it is what a mountpoint
    looks like when nothing is mounted on it."""
    for name in os.listdir(folder):
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def dest_on_tmpfs(world, mounts: Mounts, size: str = "8m", nr_inodes: Optional[int] = None) -> None:
    """Put the world's destination on a fresh tmpfs of its own, marked."""
    bare_mountpoint(world.dest)
    mounts.tmpfs(world.dest, size=size, nr_inodes=nr_inodes)
    (world.dest / ".backup_destination").write_text("")


# ---------------------------------------------------------------- filling a disk

FILLER = ".filler"


def _write_until_full(path: Path) -> None:
    with open(path, "ab", buffering=0) as handle:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 512, 1):
            block = b"\xa5" * chunk
            while True:
                try:
                    handle.write(block)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break


def _create_until_full(folder: Path, limit: int = 1_000_000) -> int:
    for count in range(limit):
        try:
            os.close(os.open(folder / f"i{count}", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
            return count
    raise AssertionError(f"{folder}: still not full after {limit} files")


def fill_disk(mountpoint: Path, what: str = "both") -> Path:
    """Fill the file system of `mountpoint` completely: `bytes` (a big file grown until
    ENOSPC, then small files until ENOSPC), `inodes` (empty files until ENOSPC), or both.
    Returns the folder that holds the filler (delete it to free the space)."""
    folder = mountpoint / FILLER
    if not folder.exists():
        folder.mkdir()
    if what in ("bytes", "both"):
        _write_until_full(folder / "big")
        for count in range(64):  # the last partial pages, if any
            try:
                with open(folder / f"small{count}", "wb", buffering=0) as handle:
                    handle.write(b"x" * 4096)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                break
        assert os.statvfs(mountpoint).f_bavail == 0, "bytes left after filling"
    if what in ("inodes", "both"):
        _create_until_full(folder)
        assert os.statvfs(mountpoint).f_favail == 0, "inodes left after filling"
    return folder


def free_disk(mountpoint: Path) -> None:
    shutil.rmtree(mountpoint / FILLER)


# ---------------------------------------------------------------- what must never change


def snapshot_record(world) -> Dict[str, Tuple[int, dict]]:
    """{snapshot name: (folder inode, listing without link counts)} for every snapshot: what
    a snapshot keeps for ever, wherever a rotation moves it."""
    return {name: (ino(world.dest / name), without_link_counts(listing(world.dest / name)))
            for name in world.snapshots()}


def _interval(name: str) -> str:
    return name.rpartition(".")[0]


def assert_history_kept(world, before: Dict[str, Tuple[int, dict]],
                        may_drop: Iterable[str] = (), campaign=None) -> List[str]:
    """Assert every snapshot in `before` still exists (found by its folder inode, renamed
    only within its own interval) with the same content, inodes, modes, owners and times;
    only those named in `may_drop` may be gone, at most one per interval. Returns the names
    (as in `before`) that were dropped."""
    now = {ino(world.dest / name): name for name in world.snapshots()}
    dropped = []
    for name, (folder, entries) in before.items():
        if folder not in now:
            assert name in may_drop, f"snapshot {name} is gone: {sorted(now.values())}"
            dropped.append(name)
            continue
        assert _interval(now[folder]) == _interval(name), (name, now[folder])
        after = without_link_counts(listing(world.dest / now[folder]))
        if after != entries:
            changed = sorted(k for k in set(after) | set(entries) if after.get(k) != entries.get(k))
            raise AssertionError(f"snapshot {name} (now {now[folder]}) changed: {changed[:10]}")
    intervals = [_interval(name) for name in dropped]
    assert len(intervals) == len(set(intervals)), f"more than one dropped per interval: {dropped}"
    if campaign is not None:
        campaign.add("snapshots checked", len(before))
    return dropped


def assert_no_work_left(world) -> None:
    assert work_leftovers(world) == [], work_leftovers(world)


def log_mark(world) -> int:
    return len(world.info_log.splitlines())


# ---------------------------------------------------------------- a destination with history

def build_history(world, offsets=("-6h", "-4h", "-2h"), snapshots=None, intervals=None,
                  **job_keys) -> list:
    """Make one vhpi run per offset, each of a new source state (which.txt says which, and
    a file only that state has), then move the source on to one more state. Returns the
    manifests of all states, the current (not yet backed up) one last. `job_keys` go into
    the job's config."""
    write_config(world, snapshots=snapshots or {"hourly": 3, "daily": 2},
                 intervals=intervals or {"hourly": 3600, "daily": 86400}, **job_keys)
    states = []
    for run, offset in enumerate([*offsets, None]):
        write_files(world.source, {"which.txt": f"state {run}", f"only-in-{run}.txt": "x" * run,
                                   "same.txt": "never changes"}, mtime=1_700_000_000 + run * 60)
        if run:
            os.unlink(world.source / f"only-in-{run - 1}.txt")
        states.append(manifest(world.source))
        if offset is not None:
            vhpi(world, at=offset or None, code=0)
    return states


# ---------------------------------------------------------------- holding rsync back

class RsyncGate:
    """A fake `rsync` first in PATH that, when its arguments contain `match`, waits until
    the test opens the gate before it runs the real one: so the test can change the world
    after vhpi started rsync but before rsync looked at anything."""

    def __init__(self, world, match: str):
        folder = world.root / "gatebin"
        folder.mkdir(exist_ok=True)
        self.gate = world.root / "rsync-gate"
        self.waiting = world.root / "rsync-gate.waiting"
        script = folder / "rsync"
        script.write_text(
            "#!/bin/sh\n"
            'case " $* " in\n'
            '  *"$VHPI_TEST_GATE_MATCH"*)\n'
            '    : > "$VHPI_TEST_GATE.waiting"\n'
            '    while [ ! -e "$VHPI_TEST_GATE" ]; do sleep 0.01; done ;;\n'
            "esac\n"
            'exec /usr/bin/rsync "$@"\n')
        script.chmod(0o755)
        self.env = {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}",
                    "VHPI_TEST_GATE": str(self.gate), "VHPI_TEST_GATE_MATCH": match}

    def wait_until_held(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.waiting.exists():
            assert time.monotonic() < deadline, "rsync never reached the gate"
            time.sleep(0.005)

    def open(self) -> None:
        self.gate.write_text("")


def crashed_vhpi(world, point: str, *args: str, at: Optional[str] = None, timeout: float = 60) -> int:
    """Run vhpi in a session of its own with VHPI_CRASH_AT=`point` (it SIGKILLs its whole
    process group there, as a power cut would); return its exit status."""
    process = start_vhpi(world, *args, at=at, env={"VHPI_CRASH_AT": point})
    try:
        return wait_or_kill_group(process, timeout)
    finally:
        _wait_group_gone(process.pid)
