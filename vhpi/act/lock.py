"""One vhpi run at a time, with a kernel lock (fcntl.flock) that can never go stale:
the kernel drops it when the holder and every child that inherited it have ended."""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from typing import Iterator, Optional


def try_lock(path: str) -> Optional[int]:
    """Take the exclusive lock on the file `path` (made when missing) without waiting.

    Returns the open fd (keep it open to hold the lock; no child inherits it), or None when
    another process holds it. Who holds it is in vhpi.act.job_lock's holder files."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.fchmod(fd, 0o600)  # also a lock file an older version made readable for all
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


@contextmanager
def held_briefly(path: str, timeout: float = 10.0) -> Iterator[None]:
    """Hold the lock on the file `path` (made when missing) for a short read-modify-write
    that overlapping runs must not interleave, waiting at most `timeout` seconds for it
    (then going on without it: a stuck holder must not stop the run). Raises OSError when
    the file cannot be opened (a HOME that cannot be written)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)
