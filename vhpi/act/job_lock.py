"""Who is working on a destination (or holds the run lock): beside the lock itself (a
destination folder's own flock, vhpi.act.lock, which also stops a run of another user or
HOME), a holder file in ~/.very_hungry_pi/running/ says which process holds it, since when
and for which job, and when it last showed life (vhpi.act.heartbeat). A run that finds a
lock taken reads it to say who holds it and whether that run looks stuck. A job's file is
written only once something is due: the hourly "nothing due" run holds a destination's
lock for milliseconds and writes nothing.

One line: `<pid> <start, epoch s> <start, s since boot> <last sign, s since boot> <job>`.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import Optional

from vhpi.act import heartbeat

RUNNING = "running"
#: The holder file name of the run lock.
RUN = "run"


@dataclass(frozen=True)
class Holder:
    """The run that holds a lock: its pid, when it started (the clock's time, for people),
    the job it named, and how many seconds ago it started and last showed life (measured
    since boot, so that clock jumps do not count)."""

    pid: int
    started: float
    job: str
    running_for: float
    silent_for: float


def holder_file(home: str, name: str) -> str:
    """Return the holder file for `name` (a destination folder, or RUN for the run lock)."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name.strip("/"))[-80:]
    return os.path.join(home, RUNNING, f"{safe}-{zlib.crc32(os.fsencode(name)):08x}.lock")


def forget_holder(home: str, name: str) -> None:
    """Remove a holder file a killed run left (call right after taking the lock)."""
    try:
        os.unlink(holder_file(home, name))
    except OSError:
        pass


def _write(path: str, pid: int, started: float, started_up: float, job: str) -> None:
    record = f"{pid} {started:.0f} {started_up:.1f} {heartbeat.seconds_since_boot():.1f} {job}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        os.write(fd, record.encode("utf-8", "replace"))
    finally:
        os.close(fd)


def claim(home: str, name: str, job: str, started: float) -> None:
    """Write this run's holder file for `name` and keep it alive (best effort: a HOME that
    cannot be written only loses the details other runs would show)."""
    path = holder_file(home, name)
    pid, started_up = os.getpid(), heartbeat.seconds_since_boot()
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        _write(path, pid, started, started_up, job)
    except OSError:
        return
    heartbeat.keep_alive(path, lambda: _write(path, pid, started, started_up, job))


def release(home: str, name: str) -> None:
    """Stop the heartbeat of `name`'s holder file and remove it."""
    path = holder_file(home, name)
    heartbeat.let_go(path)
    try:
        os.unlink(path)
    except OSError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_holder(home: str, name: str) -> Optional[Holder]:
    """Return who holds `name`'s lock, from its holder file; None when that is not known
    (no file, a damaged one, or one whose process has ended)."""
    try:
        with open(holder_file(home, name), encoding="utf-8") as handle:
            pid, started, started_up, beat_up, job = handle.read().rstrip("\n").split(" ", 4)
        now_up = heartbeat.seconds_since_boot()
        holder = Holder(int(pid), float(started), job, now_up - float(started_up),
                        now_up - float(beat_up))
    except (OSError, ValueError):
        return None
    return holder if _alive(holder.pid) else None
