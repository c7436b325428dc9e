"""Hashing many files quickly: the caller opens each file (in its own order, e.g. by inode
number, which on ext4 is close to the order on the disk) and hands over the fd; a few
threads read and hash (hashlib and os.read let go of the GIL, so reading one file overlaps
hashing another), and the results come back in the order given, to the caller's thread
(the only one that touches SQLite).

Every file is read with sequential read-ahead; `drop_cache` asks the kernel to forget its
pages afterwards (a verify of the whole disk must not push everything else out of a Pi's
memory). A file whose size, mtime or ctime changed while it was read gives no digest.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Deque, Iterable, NamedTuple, Optional, Tuple

from vhpi.act.dedup_content import sha256_of

#: Threads that read and hash. Four, whatever the cores: reading four files at once keeps
#: the disk busy while others hash (measured on 2 cores, cold cache: verify's own time
#: 0.96 of cat's with 4, 0.86 with 2, 0.66 with 1; a Pi has 4 cores).
WORKERS = 4
#: Files handed over but not yet hashed, at most.
IN_FLIGHT = 2 * WORKERS


class Hashed(NamedTuple):
    """One file's result: the caller's `context`, its sha256 (None: changed while read, or
    unreadable), the bytes read and the read error (None when read)."""

    context: Any
    digest: Optional[bytes]
    read: int
    error: Optional[OSError]


def _same(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_ino, before.st_size, before.st_mtime_ns, before.st_ctime_ns) == \
        (after.st_ino, after.st_size, after.st_mtime_ns, after.st_ctime_ns)


def hash_open_file(fd: int, drop_cache: bool = False) -> Tuple[Optional[bytes], int]:
    """Return (sha256 or None when the file changed while read, bytes read) of the open
    file `fd`, read from its start; the fd stays open (raises OSError)."""
    before = os.fstat(fd)
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        advise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    digest, read = sha256_of(fd)
    if drop_cache and advise is not None:
        advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    return (digest if _same(before, os.fstat(fd)) else None), read


def _hash_and_close(fd: int, context: Any, drop_cache: bool) -> Hashed:
    try:
        digest, read = hash_open_file(fd, drop_cache)
        return Hashed(context, digest, read, None)
    except OSError as error:
        return Hashed(context, None, 0, error)
    finally:
        os.close(fd)


def hash_all(opened: Iterable[Tuple[int, Any]], on_hashed: Callable[[Hashed], None],
             drop_cache: bool = False, workers: int = WORKERS) -> None:
    """Hash every (fd, context) of `opened` (each fd is closed here, also when on_hashed
    raises) and call on_hashed(Hashed) for each, in the order given, in the caller's thread."""
    pending: Deque[Tuple[Future, int]] = deque()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            for fd, context in opened:
                pending.append((pool.submit(_hash_and_close, fd, context, drop_cache), fd))
                while len(pending) >= IN_FLIGHT or (pending and pending[0][0].done()):
                    on_hashed(pending.popleft()[0].result())
            while pending:
                on_hashed(pending.popleft()[0].result())
        finally:
            for future, fd in pending:
                if future.cancel():  # never started: its fd is still open
                    os.close(fd)
