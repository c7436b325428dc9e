"""How `vhpi dedup` shares destinations with backup runs: it lists and hashes without any
lock (it only reads), and takes the destination locks (the same folder locks every backup
run takes, vhpi.act.lock) only for one short link batch at a time, with a holder file that
names the job "dedup" (vhpi.act.job_lock), releasing them between batches.

A backup run that finds a destination locked by dedup may wait for the batch to end:
wait_while_dedup_holds() (for the run to call; a batch holds the lock about a second).
"""

from __future__ import annotations

import os
import time
from typing import List, Optional, Sequence

from vhpi.act import job_lock
from vhpi.act.lock import try_lock_folder

#: The job name in the holder file of a destination dedup holds.
HOLDER_JOB = "dedup"


def take_locks(destinations: Sequence[str], home: str, started: float) -> Optional[List[int]]:
    """Take the lock of every folder in `destinations` (in sorted order, without waiting) and
    write dedup's holder file for each; return the fds, or None (holding nothing) when a
    backup run holds one of them."""
    taken: List[int] = []
    for destination in sorted(destinations):
        fd = try_lock_folder(destination)
        if fd is None:
            for held in taken:
                os.close(held)
            return None
        taken.append(fd)
    for destination in sorted(destinations):
        job_lock.claim(home, destination, HOLDER_JOB, started)
    return taken


def release_locks(destinations: Sequence[str], home: str, fds: Sequence[int]) -> None:
    """Remove dedup's holder files and release the locks take_locks took."""
    for destination, fd in zip(sorted(destinations), fds):
        job_lock.release(home, destination)
        os.close(fd)


def wait_while_dedup_holds(home: str, destination: str, timeout: float = 30.0,
                           step: float = 0.05) -> Optional[int]:
    """For a backup run that found `destination` locked: while the holder is a dedup (its
    holder file, in the same state folder `home`, names the job "dedup"), wait for it to let
    go, at most `timeout` seconds; return the lock's fd once taken, or None (the holder is
    another run, or the dedup kept the lock longer). A lock with no holder file is waited
    for one second at most (the moment between a lock and its holder file)."""
    started = time.monotonic()
    while True:
        fd = try_lock_folder(destination)
        if fd is not None:
            return fd
        holder = job_lock.read_holder(home, destination)
        waited = time.monotonic() - started
        if holder is not None and holder.job != HOLDER_JOB:
            return None
        if waited >= (timeout if holder is not None else min(timeout, 1.0)):
            return None
        time.sleep(step)
