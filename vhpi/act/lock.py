"""One vhpi run at a time, with a kernel lock (fcntl.flock) that can never go stale:
the kernel drops it when the holder and every child that inherited it have ended."""

from __future__ import annotations

import fcntl
import os
from typing import Optional


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
