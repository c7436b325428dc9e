"""A run's sign of life for other runs: while vhpi's main thread runs, it rewrites the
holder files of the locks it holds every BEAT_SECONDS with the time since boot (a SIGALRM
timer; a handler only runs when the main thread runs Python, so a vhpi stuck in the kernel,
say on a hung backup disk, stops beating). Another run that finds a lock taken compares
that time with its own to tell a busy run from a stuck one (vhpi.decide.stuck). Time since
boot, not the clock: a Pi's clock jumps when NTP sets it after a boot without a real-time
clock, which must not make a live run look hours silent."""

from __future__ import annotations

import signal
from typing import Callable, Dict

BEAT_SECONDS = 30

_beats: Dict[str, Callable[[], None]] = {}
_started = False


def seconds_since_boot() -> float:
    """Return the seconds since this machine booted (/proc/uptime: the same clock for every
    process, which neither NTP nor a test's fake clock moves)."""
    try:
        with open("/proc/uptime", "rb") as handle:
            return float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        import time
        return time.monotonic()


def _beat(signum: int, frame) -> None:
    for write in list(_beats.values()):
        try:
            write()
        except OSError:
            pass


def keep_alive(path: str, write: Callable[[], None]) -> None:
    """Call `write` (which rewrites the holder file `path`) every BEAT_SECONDS from now on,
    while this process runs normally."""
    global _started
    _beats[path] = write
    if not _started:
        signal.signal(signal.SIGALRM, _beat)
        signal.setitimer(signal.ITIMER_REAL, BEAT_SECONDS, BEAT_SECONDS)
        _started = True


def let_go(path: str) -> None:
    """Stop rewriting `path`."""
    _beats.pop(path, None)
