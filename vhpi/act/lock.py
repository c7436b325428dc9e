"""One vhpi run at a time, with a kernel lock (fcntl.flock) that can never go stale:
the kernel drops it when the holder and every child that inherited it have ended."""

from __future__ import annotations

import fcntl
import os
import time
from typing import Optional, Tuple


def try_lock(path: str) -> Optional[int]:
    """Take the exclusive lock on `path` without waiting.

    Returns the open fd (keep it open to hold the lock; children inherit it when passed),
    or None when another process holds it. Writes our pid and start time into the file.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} {time.time():.0f}\n".encode())
    return fd


def try_lock_folder(path: str) -> Optional[int]:
    """Take an exclusive lock on the folder `path` itself (nothing is created in it) without
    waiting; return the fd, or None when another process holds it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def lock_holder(path: str) -> Tuple[str, Optional[float]]:
    """Return (pid, start time) of the process that holds the lock at `path`, from what it
    wrote there; ("unknown", None) when that cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            pid, started = handle.read().split()
        return pid, float(started)
    except (OSError, ValueError):
        return "unknown", None
