"""`vhpi restore JOB SNAPSHOT PATH [--to DIR] [--overwrite] [--unsafe]`: copy a file or
folder back from a snapshot with rsync, keeping its metadata. This module is the order of
the steps: the decisions (and the three ways it writes) are vhpi.decide.restore_plan, the
looks at the disk vhpi.act.restore_files and vhpi.act.source.

A snapshot is never written: rsync only reads it, and every restored file is a new inode.

Backup runs may go on meanwhile. vhpi opens the snapshot folder once and rsync reads it
through /proc/<vhpi's pid>/fd/<fd>, which stays that folder while a rotation renames it
(hourly.0 -> hourly.1). A rotation that drops the snapshot (moves it into the work folder
to delete or recycle it) empties it under rsync: once rsync ends, vhpi checks that the
folder it holds is still one of the job's snapshots, and fails the restore when it is not.
backup.latest changes during a run, so a restore from it holds the destination's lock (the
one each backup run takes), and cron's runs skip that destination until it is done.

Before anything is written: back in the source (no --to), the source must hold its
.backup_valid (looked at in a child vhpi gives up on after source_timeout, as a backup
does); and without --unsafe, what would be restored is walked and the restore refused when
it holds a device node or a setuid, setgid or capability file.

SNAPSHOT may be a version such as v2 (`vhpi versions JOB PATH`, vhpi.act.version_lookup):
PATH is restored from the newest snapshot that holds that version, once vhpi holds that
snapshot open and has checked that it is still the folder the version was found in (a
rotation in between: the versions are looked up again).
"""

from __future__ import annotations

import posixpath
import sys
from typing import List, Optional, Tuple

from vhpi.act.inventory import list_snapshots
from vhpi.act.processes import run_streaming
from vhpi.act.restore_files import (HeldSnapshot, absolute_folder, held_snapshot, kind_at, look,
                                    put_in_place, real_folder, real_path, records_of,
                                    same_folder, staging_folder, still_a_snapshot)
from vhpi.act.source import source_problem
from vhpi.act.version_lookup import ATTEMPTS, find_versions
from vhpi.config.model import Config, Job
from vhpi.decide.restore_plan import (EXIT_OK, EXIT_REFUSED, EXIT_USAGE, MERGE, SNAPSHOT_DELETED,
                                      RestoreCounts, RestoreRefused, choose_write,
                                      parse_restore_stats, readable_message, refuse_target_folder,
                                      resolve_in_snapshot, restore_argv, restore_target,
                                      rsync_problem, source_refusal, split_restore_path,
                                      summary_line, unsafe_entries, unsafe_refusal)
from vhpi.decide.rsync_result import is_error_line
from vhpi.decide.selection import NotFound, Snapshot, find_job, find_snapshot
from vhpi.decide.units import format_moment
from vhpi.decide.versions import Look, absent_message, no_such_version, pick_version, version_number

#: rsync messages quoted when it fails.
SHOWN_ERRORS = 5


def run_restore(config: Config, arguments, home: str) -> int:
    """Given the config and the parsed arguments (job, snapshot, path, to, overwrite,
    unsafe), restore; print one summary line, or the reason to stderr. Return 0, 1 (refused
    or failed) or 2 (usage: unknown job or snapshot, a PATH with '..')."""
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
    except NotFound as error:
        raise RestoreRefused(str(error), EXIT_USAGE)
    number = version_number(arguments.snapshot)
    if number is None:
        snapshot = _named_snapshot(config, job, arguments.snapshot)
        return _restore_from(config, job, arguments, snapshot)
    parts = split_restore_path(arguments.path)
    for _ in range(ATTEMPTS):
        found_in = _version_look(config, job, parts, number)
        try:
            return _restore_from(config, job, arguments, found_in.snapshot, found_in.folder,
                                 f"version v{number} ({found_in.snapshot.name})")
        except _Rotated:
            continue
    raise RestoreRefused(f"backup runs kept renaming the snapshots of job {job.name}; try "
                         f"again")


class _Rotated(Exception):
    """The snapshot a version was found in was renamed before it could be held."""


def _named_snapshot(config: Config, job: Job, name: str) -> Snapshot:
    """Return the job's snapshot called `name`; raises RestoreRefused (usage) when there is
    none."""
    try:
        return find_snapshot(list_snapshots(job, config.intervals), name)
    except NotFound as error:
        raise RestoreRefused(str(error), EXIT_USAGE)


def _version_look(config: Config, job: Job, parts: Tuple[str, ...], number: int) -> Look:
    """Return the newest snapshot's look at PATH holding version `number` of it; raises
    RestoreRefused (usage) when PATH has no such version (see vhpi versions)."""
    found = find_versions(job, config.intervals, parts)
    versions = found.versions
    if not versions:
        raise RestoreRefused(absent_message("/".join(parts), job.name, len(found.looks)))
    version = pick_version(versions, number)
    if version is None:
        raise RestoreRefused(no_such_version(number, versions, "/".join(parts), job.name),
                             EXIT_USAGE)
    return version.newest


def _restore_from(config: Config, job: Job, arguments, snapshot: Snapshot,
                  folder: Optional[Tuple[int, int]] = None, label: Optional[str] = None) -> str:
    """Restore PATH from `snapshot` (when `folder` is given, it must still be that (device,
    inode), else _Rotated is raised); return the summary line, which names the snapshot as
    `label` when given. Raises RestoreRefused."""
    parts = split_restore_path(arguments.path)
    to_dir = _checked_to_dir(arguments.to)
    if to_dir is None:
        _check_source_mounted(job)
    with held_snapshot(job, snapshot) as held:
        if folder is not None and held.identity != folder:
            raise _Rotated()
        item, entry = resolve_in_snapshot(parts, lambda names: look(held.fd, names))
        target = restore_target(parts, job.source, to_dir)
        _check_target_folder(config, job, posixpath.dirname(target), to_dir is not None)
        mode = choose_write(target, entry.kind, kind_at(target), arguments.overwrite)
        if not arguments.unsafe:
            _check_safe(held, item)
        counts = _copy(config, job, held, item, target, mode)
    taken = format_moment(snapshot.taken_at) if snapshot.taken_at is not None else None
    return summary_line("/".join(parts), job.name, label or snapshot.name, taken, target, counts,
                        mode)


def _checked_to_dir(to: Optional[str]) -> Optional[str]:
    """Given --to as typed (or None), return it as an absolute path; raises RestoreRefused
    when it is not an existing folder."""
    if to is None:
        return None
    to_dir = absolute_folder(to)
    if to_dir is None:
        raise RestoreRefused(f"--to {to}: no such folder (it must exist); nothing was restored")
    return to_dir


def _check_source_mounted(job: Job) -> None:
    """Raise RestoreRefused when the job's source does not hold its .backup_valid (an
    unmounted share, looked at within source_timeout)."""
    problem = source_problem(job.source, job.source_timeout)
    if problem is not None:
        raise source_refusal(problem)


def _check_target_folder(config: Config, job: Job, folder: str, chosen: bool) -> None:
    """Given the folder the item goes into and whether --to chose it, raise RestoreRefused
    when the item must not go there (see restore_plan.refuse_target_folder)."""
    refuse_target_folder(folder, real_folder(folder),
                         [real_path(other.destination) for other in config.jobs],
                         (job.source, real_path(job.source)), chosen)


def _check_safe(held: HeldSnapshot, item: Tuple[str, ...]) -> None:
    """Raise RestoreRefused when the snapshot's `item` is or holds a device node or a
    setuid, setgid or capability file."""
    refusal = unsafe_refusal(*unsafe_entries(records_of(held.fd, item)))
    if refusal is not None:
        raise refusal


# ---------------------------------------------------------------- copying

def _copy(config: Config, job: Job, held: HeldSnapshot, item: Tuple[str, ...], target: str,
          mode: str) -> RestoreCounts:
    """Copy the snapshot's `item` to `target` as `mode` says; return the RestoreCounts.
    NEW and REPLACE go through a staging folder next to the target, removed in the end."""
    parent = posixpath.dirname(target)
    if mode == MERGE:
        return _run_rsync(config, job, held, item, parent, merged_into=target)
    with staging_folder(parent) as staging:
        counts = _run_rsync(config, job, held, item, staging)
        put_in_place(posixpath.join(staging, item[-1]), target, mode)
        return counts


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
    if not still_a_snapshot(config, job, held):
        raise RestoreRefused(SNAPSHOT_DELETED + _partial_note(merged_into))
    if held.reader == held.snapshot.path and not same_folder(held.reader, held.identity):
        raise RestoreRefused(f"a backup run renamed {held.snapshot.name} while restoring; "
                             f"run the restore again{_partial_note(merged_into)}")
    if code != 0:
        problem = rsync_problem(code, tail)
        shown = "".join(f"\n  {line}" for line in errors)
        raise RestoreRefused(f"{problem}{_partial_note(merged_into)}{shown}")
    return parse_restore_stats(tail)


def _partial_note(merged_into: Optional[str]) -> str:
    """Return what a failed copy left behind, for its message."""
    if merged_into is None:
        return "; nothing was restored"
    return f"; {merged_into} may now hold part of the restore"
