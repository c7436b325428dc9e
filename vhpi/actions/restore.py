"""`vhpi restore JOB SNAPSHOT PATH [--to DIR] [--overwrite]`: copy a file or folder back
from a snapshot with rsync, keeping its metadata (see vhpi.decide.restore_plan for the
decisions and the three ways it writes).

A snapshot is never written: rsync only reads it, and every restored file is a new inode.

Backup runs may go on meanwhile. vhpi opens the snapshot folder once and rsync reads it
through /proc/<vhpi's pid>/fd/<fd>, which stays that folder while a rotation renames it
(hourly.0 -> hourly.1). A rotation that drops the snapshot (moves it into the work folder
to delete or recycle it) empties it under rsync: once rsync ends, vhpi checks that the
folder it holds is still one of the job's snapshots, and fails the restore when it is not.
backup.latest changes during a run, so a restore from it holds the destination's lock (the
one each backup run takes), and cron's runs skip that destination until it is done.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

from vhpi.act.inventory import NotFound, Snapshot, find_job, find_snapshot, list_snapshots
from vhpi.act.lock import try_lock_folder
from vhpi.act.processes import run_streaming
from vhpi.act.tree_edit import remove_tree
from vhpi.config.model import Config, Job
from vhpi.decide.paths import is_inside
from vhpi.decide.restore_plan import (EXIT_OK, EXIT_REFUSED, EXIT_USAGE, FILE, FOLDER, MERGE,
                                      MISSING, NEW, OTHER, SNAPSHOT_DELETED, SYMLINK, Entry,
                                      RestoreCounts, RestoreRefused, choose_write,
                                      parse_restore_stats, readable_message, refuse_destination,
                                      resolve_in_snapshot, restore_argv, restore_target,
                                      rsync_problem, snapshot_reader_path, split_restore_path,
                                      staging_name, summary_line)
from vhpi.decide.rsync_result import is_error_line
from vhpi.decide.snapshot_names import LATEST_NAME
from vhpi.decide.units import format_moment

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
#: rsync messages quoted when it fails.
SHOWN_ERRORS = 5


@dataclass(frozen=True)
class HeldSnapshot:
    """A snapshot folder this process holds open: `fd`, its identity (device, inode), and
    `reader`, the path rsync reads it through."""

    snapshot: Snapshot
    fd: int
    identity: Tuple[int, int]
    reader: str


def run_restore(config: Config, arguments, home: str) -> int:
    """Given the config and the parsed arguments (job, snapshot, path, to, overwrite),
    restore; print one summary line, or the reason to stderr. Return 0, 1 (refused or
    failed) or 2 (usage: unknown job or snapshot, a PATH with '..')."""
    try:
        print(_restore(config, arguments))
        return EXIT_OK
    except RestoreRefused as refusal:
        print(f"vhpi restore: {refusal}", file=sys.stderr)
        return refusal.code
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        print(f"vhpi restore: {error.strerror or error}{where}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print("vhpi restore: interrupted", file=sys.stderr)
        return EXIT_REFUSED


def _restore(config: Config, arguments) -> str:
    """Do the restore; return the summary line. Raises RestoreRefused."""
    try:
        job = find_job(config, arguments.job)
        snapshot = find_snapshot(list_snapshots(job, config.intervals), arguments.snapshot)
    except NotFound as error:
        raise RestoreRefused(str(error), EXIT_USAGE)
    parts = split_restore_path(arguments.path)
    to_dir = _checked_to_dir(arguments.to)
    with _held(job, snapshot) as held:
        item, entry = resolve_in_snapshot(parts, lambda names: _look(held.fd, names))
        target = restore_target(parts, job.source, to_dir)
        _check_target_folder(config, job, os.path.dirname(target), to_dir is not None)
        mode = choose_write(target, entry.kind, _kind_at(target), arguments.overwrite)
        counts = _copy(config, job, held, item, target, mode)
    taken = format_moment(snapshot.taken_at) if snapshot.taken_at is not None else None
    return summary_line("/".join(parts), job.name, snapshot.name, taken, target, counts, mode)


def _checked_to_dir(to: Optional[str]) -> Optional[str]:
    """Given --to as typed (or None), return it as an absolute path; raises RestoreRefused
    when it is not an existing folder."""
    if to is None:
        return None
    to_dir = os.path.abspath(to)
    if not os.path.isdir(to_dir):
        raise RestoreRefused(f"--to {to}: no such folder (it must exist); nothing was restored")
    return to_dir


# ---------------------------------------------------------------- the snapshot

@contextmanager
def _held(job: Job, snapshot: Snapshot) -> Iterator[HeldSnapshot]:
    """Open the snapshot folder (and, for backup.latest, take the destination's lock) for
    the duration of the restore; yield the HeldSnapshot."""
    lock_fd = _lock_for_latest(job) if snapshot.name == LATEST_NAME else None
    try:
        try:
            fd = os.open(snapshot.path, _DIR_FLAGS)
        except OSError as error:
            raise RestoreRefused(f"cannot open snapshot {snapshot.path}: {error.strerror}")
        try:
            info = os.fstat(fd)
            reader = snapshot_reader_path(os.getpid(), fd)
            if not os.path.isdir(reader):  # no /proc: rsync reads it by its name
                reader = snapshot.path
            yield HeldSnapshot(snapshot, fd, (info.st_dev, info.st_ino), reader)
        finally:
            os.close(fd)
    finally:
        if lock_fd is not None:
            os.close(lock_fd)


def _lock_for_latest(job: Job) -> int:
    """Take the destination's lock so that no backup run changes backup.latest while it is
    read; return its fd. Raises RestoreRefused when a run holds it."""
    try:
        lock_fd = try_lock_folder(job.destination)
    except OSError as error:
        raise RestoreRefused(f"cannot open {job.destination}: {error.strerror}")
    if lock_fd is None:
        raise RestoreRefused(f"a backup run is changing {LATEST_NAME} of job {job.name} right "
                             f"now; try again when it is done, or restore from one of its "
                             f"snapshots (vhpi list {job.name})")
    return lock_fd


def _look(fd: int, names: Tuple[str, ...]) -> Entry:
    """Given the snapshot's fd and names below it (whose parents are real folders), return
    what the last one is, without following it."""
    path = "/".join(names)
    try:
        info = os.lstat(path, dir_fd=fd)
    except FileNotFoundError:
        return Entry(MISSING)
    except OSError as error:
        if error.errno == errno.ENOTDIR:
            return Entry(MISSING)
        raise RestoreRefused(f"cannot read {path!r} in the snapshot: {error.strerror}")
    if stat.S_ISLNK(info.st_mode):
        return Entry(SYMLINK, os.readlink(path, dir_fd=fd))
    return Entry(_kind_of(info.st_mode))


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return FOLDER
    if stat.S_ISLNK(mode):
        return SYMLINK
    return FILE if stat.S_ISREG(mode) else OTHER


def _same_folder(path: str, identity: Tuple[int, int]) -> bool:
    """True when `path` is (still) the folder with this (device, inode)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == identity


def _still_a_snapshot(config: Config, job: Job, held: HeldSnapshot) -> bool:
    """True when the folder `held` is still one of the job's snapshots (under any name)."""
    return any(_same_folder(snapshot.path, held.identity)
               for snapshot in list_snapshots(job, config.intervals))


# ---------------------------------------------------------------- the target

def _check_target_folder(config: Config, job: Job, folder: str, chosen: bool) -> None:
    """Given the folder the item goes into and whether --to chose it, raise RestoreRefused
    when it does not exist, lies in a backup destination, or (back in the source) leads
    outside the source through a symlink."""
    if not os.path.isdir(folder):
        raise RestoreRefused(f"the folder {folder} does not exist; restore the folder that "
                             f"held it, or choose another place with --to DIR")
    real = os.path.realpath(folder)
    refuse_destination(real, [os.path.realpath(other.destination) for other in config.jobs])
    if not chosen and not is_inside(real, os.path.realpath(job.source)):
        raise RestoreRefused(f"{folder} leads outside the job's source {job.source} (through "
                             f"a symlink); choose the place with --to DIR")


def _kind_at(path: str) -> str:
    """Return what is at `path` now (not following a symlink), MISSING when nothing."""
    try:
        return _kind_of(os.lstat(path).st_mode)
    except FileNotFoundError:
        return MISSING


# ---------------------------------------------------------------- copying

def _copy(config: Config, job: Job, held: HeldSnapshot, item: Tuple[str, ...], target: str,
          mode: str) -> RestoreCounts:
    """Copy the snapshot's `item` to `target` as `mode` says; return the RestoreCounts.
    NEW and REPLACE go through a staging folder next to the target, removed in the end."""
    parent = os.path.dirname(target)
    if mode == MERGE:
        return _run_rsync(config, job, held, item, parent, merged_into=target)
    staging = os.path.join(parent, staging_name(os.getpid()))
    try:
        os.mkdir(staging, 0o700)
    except OSError as error:
        raise RestoreRefused(f"cannot write in {parent}: {error.strerror}; nothing was restored")
    try:
        counts = _run_rsync(config, job, held, item, staging)
        _put_in_place(os.path.join(staging, item[-1]), target, mode)
        return counts
    finally:
        remove_tree(staging)


def _run_rsync(config: Config, job: Job, held: HeldSnapshot, item: Tuple[str, ...],
               into: str, merged_into: Optional[str] = None) -> RestoreCounts:
    """Run rsync from the held snapshot's `item` into the folder `into`; return the
    RestoreCounts. Raises RestoreRefused when rsync fails or the snapshot was dropped."""
    errors: List[str] = []

    def on_line(raw: bytes) -> None:
        line = raw.decode("utf-8", "replace")
        if is_error_line(line) and len(errors) < SHOWN_ERRORS:
            errors.append(readable_message(line, held.reader, held.snapshot.path))

    source = "/".join((held.reader, *item))
    finished = run_streaming(restore_argv(source, into), on_line, tail_lines=60)
    code, tail = finished.code, finished.tail
    if not _still_a_snapshot(config, job, held):
        raise RestoreRefused(SNAPSHOT_DELETED + _partial_note(merged_into))
    if held.reader == held.snapshot.path and not _same_folder(held.reader, held.identity):
        raise RestoreRefused(f"a backup run renamed {held.snapshot.name} while restoring; "
                             f"run the restore again{_partial_note(merged_into)}")
    if code != 0:
        problem = rsync_problem(code, tail)
        shown = "".join(f"\n  {line}" for line in errors)
        raise RestoreRefused(f"{problem}{_partial_note(merged_into)}{shown}")
    return parse_restore_stats(tail)


def _partial_note(merged_into: Optional[str]) -> str:
    if merged_into is None:
        return "; nothing was restored"
    return f"; {merged_into} may now hold part of the restore"


def _put_in_place(copied: str, target: str, mode: str) -> None:
    """Rename the finished copy to `target` (replacing it only when `mode` says so)."""
    if mode == NEW and _kind_at(target) != MISSING:
        raise RestoreRefused(f"{target} appeared while restoring; nothing was changed. Add "
                             f"--overwrite to replace it, or choose another place with --to DIR")
    try:
        _rename_folder_or_file(copied, target)
    except OSError as error:
        raise RestoreRefused(f"cannot put the restored copy at {target}: {error.strerror}; "
                             f"nothing was changed")


def _rename_folder_or_file(copied: str, target: str) -> None:
    """Rename `copied` to `target`. Moving a folder to another parent rewrites its '..'
    entry, which a normal user may do only in a folder they can write: a read-only restored
    folder is made writable for the rename and given its mode back."""
    info = os.lstat(copied)
    writable = not stat.S_ISDIR(info.st_mode) or os.geteuid() == 0 or info.st_mode & stat.S_IWUSR
    if writable:
        os.rename(copied, target)
        return
    os.chmod(copied, stat.S_IMODE(info.st_mode) | stat.S_IWUSR)
    try:
        os.rename(copied, target)
    except OSError:
        os.chmod(copied, stat.S_IMODE(info.st_mode))
        raise
    os.chmod(target, stat.S_IMODE(info.st_mode))
