"""The backup run: for each job, the due intervals get a fresh hard-linked snapshot.

Order per job: destination really mounted -> finish work a crash left -> clock sane ->
due intervals -> host answers -> source sentinel -> rsync into backup.latest -> rotate.
Any failure stops the job before anything is rotated or deleted.
"""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass, replace
from typing import Dict, Mapping, Tuple

from vhpi.act.checkpoints import checkpoint
from vhpi.act.destination import (destination_device, destination_gone, destination_problem,
                                  known_destinations, prepare_destination, remember_destination)
from vhpi.act.host_check import host_answers
from vhpi.act.lock import try_lock_folder
from vhpi.act.layout import Layout
from vhpi.act.snapshots import (SnapshotError, discard_unfinished, empty_trash, link_tree,
                                make_room, put_in_place, ready_trees)
from vhpi.act.source import source_problem
from vhpi.act.state import StateError, read_snapshot_times, write_snapshot_times
from vhpi.act.transfer import TransferReport, update_latest
from vhpi.act.tree_edit import remove_tree
from vhpi.config.model import Config, Job
from vhpi.decide.due import clamp_to_now, clock_is_behind, due_intervals, newest_recorded_time
from vhpi.decide.snapshot_names import LATEST_NAME, snapshot_numbers
from vhpi.decide.units import format_moment, human_bytes


@dataclass(frozen=True)
class Run:
    """What every job of one run shares: vhpi's home folder, the run's start time (one
    clock reading for all jobs), the log, the user's --trust-clock, and the lock fd."""

    home: str
    now: float
    log: logging.Logger
    trust_clock: bool = False
    keep_fds: Tuple[int, ...] = ()


class JobFailed(Exception):
    """The job stopped before rotating anything; the message is for info.log."""


def run_backup(config: Config, run: Run) -> int:
    """Run every job; return 0 when all are fine (nothing due and offline count as fine), else 1."""
    results = [run_job(job, config.intervals, run) for job in config.jobs]
    return 0 if all(results) else 1


def run_job(job: Job, intervals: Mapping[str, int], run: Run) -> bool:
    """Run one job, write its line to info.log, and return whether it went fine."""
    try:
        run.log.info("job %s: %s", job.name, _back_up(job, intervals, run))
        return True
    except JobFailed as failure:
        run.log.error("job %s: FAILED: %s", job.name, failure)
    except OSError as error:
        run.log.debug("job %s: unexpected error", job.name, exc_info=True)
        vanished = destination_problem(Layout(job.destination), used_before=True)
        run.log.error("job %s: FAILED: %s; nothing more was rotated", job.name,
                      vanished or _describe_os_error(error))
    return False


def _describe_os_error(error: OSError) -> str:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the destination disk is full ({error.strerror})"
    if error.errno == errno.EROFS:
        return "the destination is mounted read-only"
    where = f": {error.filename}" if error.filename else ""
    return f"{error.strerror or error}{where}"


def _back_up(job: Job, intervals: Mapping[str, int], run: Run) -> str:
    layout = Layout(job.destination)
    used_before = job.destination in known_destinations(run.home)
    problem = destination_problem(layout, used_before)
    if problem:
        raise JobFailed(problem)
    lock_fd = try_lock_folder(layout.root)
    if lock_fd is None:
        return ("another vhpi run (another user or HOME?) is working on this destination; "
                "skipped")
    try:
        return _back_up_locked(job, intervals, layout, used_before,
                               replace(run, keep_fds=run.keep_fds + (lock_fd,)))
    finally:
        os.close(lock_fd)


def _back_up_locked(job: Job, intervals: Mapping[str, int], layout: Layout, used_before: bool,
                    run: Run) -> str:
    """Back up a job whose destination is checked and locked by this process."""
    device = destination_device(layout)
    times = _finish_interrupted(layout, job, _snapshot_times(layout, job, used_before, run), run)
    checkpoint("recovered")
    if clock_is_behind(times, run.now):
        raise JobFailed(_clock_message(times, run.now))
    due = due_intervals(job.active_keep_counts(), intervals, times, run.now)
    if not due:
        return "nothing due"
    label = "due " + ", ".join(due)
    for warning in job.warnings:
        run.log.warning("job %s: %s", job.name, warning)
    if not host_answers(job.source_ip, run.log):
        return f"{label}; host {job.source_ip} is offline, skipped"
    problem = source_problem(job.source) or destination_gone(layout, device)
    if problem:
        raise JobFailed(f"{label}; {problem}")
    prepare_destination(layout)
    report = update_latest(job, layout, run.log, run.keep_fds, shared=_may_share_inodes(layout))
    if not report.ok:
        raise JobFailed(f"{label}; {report.problem}; nothing was rotated")
    problem = source_problem(job.source) or destination_gone(layout, device)
    if problem:
        raise JobFailed(f"{label}; {problem}; nothing was rotated")
    if report.warning:
        run.log.warning("job %s: %s", job.name, report.warning)
    for interval in due:
        problem = destination_gone(layout, device)
        if problem:
            raise JobFailed(problem)
        times = _new_snapshot(layout, job, interval, times, run)
    remember_destination(run.home, job.destination)
    empty_trash(layout, run.log)
    checkpoint("job-done")
    return f"{label}; done: {_transfer_summary(report)}"


def _may_share_inodes(layout: Layout) -> bool:
    """True unless the destination holds nothing but backup.latest and vhpi's own folders:
    any other folder may be a snapshot (of this or a since removed interval)."""
    return any(not name.startswith(".") and name != LATEST_NAME for name in os.listdir(layout.root))


def _transfer_summary(report: TransferReport) -> str:
    files = report.stats.get("Number of regular files transferred", 0)
    size = report.stats.get("Total transferred file size", 0)
    sent = report.stats.get("Total bytes sent", 0)
    return (f"{files} files ({human_bytes(size)}) copied, {human_bytes(sent)} sent, "
            f"{report.deleted} deleted, rsync {report.seconds:.1f} s")


def _clock_message(times: Dict[str, float], now: float) -> str:
    return (f"the clock says {format_moment(now)}, earlier than the newest snapshot here "
            f"({format_moment(newest_recorded_time(times))}): the clock is probably wrong (a Pi without a "
            f"real-time clock after a power cut?). Nothing was rotated. If the clock is right, "
            f"run once: vhpi --trust-clock")


def _snapshot_times(layout: Layout, job: Job, used_before: bool, run: Run) -> Dict[str, float]:
    """Return the recorded snapshot times, refusing when they are damaged or lost."""
    try:
        times = read_snapshot_times(layout)
    except StateError as error:
        raise JobFailed(f"{error}. The snapshots are untouched. Move the file aside and run "
                        f"once with --trust-clock to start new records from now.")
    if times is None:
        names = os.listdir(layout.root)
        taken = [name for name in job.keep_counts if snapshot_numbers(names, name)]
        if (used_before or taken) and not run.trust_clock:
            raise JobFailed(f"vhpi's records ({layout.state}) are missing, but snapshots were made "
                            f"here before. Nothing was written. If the disk is the right one, run "
                            f"once with --trust-clock to start new records from now.")
        times = {name: run.now for name in taken}
        if taken:
            prepare_destination(layout)
            write_snapshot_times(layout, times)
    if run.trust_clock and times != clamp_to_now(times, run.now):
        times = clamp_to_now(times, run.now)
        write_snapshot_times(layout, times)
        run.log.warning("job %s: --trust-clock: snapshot times later than now were set to now", job.name)
    return times


def _finish_interrupted(layout: Layout, job: Job, times: Dict[str, float], run: Run) -> Dict[str, float]:
    """Clear work that a crash cut short and put in place snapshots that were complete."""
    for name in discard_unfinished(layout):
        run.log.info("job %s: removed %s, left by an interrupted run", job.name, name)
    for interval, taken_at, ready in ready_trees(layout):
        keep = job.keep_counts.get(interval, 0)
        if keep <= 0:
            run.log.warning("job %s: removed a finished %s snapshot: the interval is no longer "
                            "configured", job.name, interval)
            remove_tree(ready)
            continue
        times = _place(layout, job, interval, keep, ready, taken_at, times, run)
        run.log.info("job %s: finished the %s snapshot of %s that an interrupted run left",
                     job.name, interval, format_moment(taken_at))
    empty_trash(layout, run.log)
    return times


def _new_snapshot(layout: Layout, job: Job, interval: str, times: Dict[str, float], run: Run) -> Dict[str, float]:
    try:
        ready = link_tree(layout, interval, run.now, run.log, run.keep_fds)
    except SnapshotError as error:
        raise JobFailed(str(error))
    return _place(layout, job, interval, job.keep_counts[interval], ready, run.now, times, run)


def _place(layout: Layout, job: Job, interval: str, keep: int, ready: str, taken_at: float,
           times: Dict[str, float], run: Run) -> Dict[str, float]:
    """Rotate `interval`, record `taken_at` for it, and put the ready tree in as `<interval>.0`."""
    plan = make_room(layout, interval, keep)
    if plan.excess:
        run.log.warning("job %s: %s keeps %d snapshots beyond its keep count of %d (it was "
                        "lowered?); vhpi drops at most one per run. Delete the extra ones by "
                        "hand if that is what you want.", job.name, interval, plan.excess, keep)
    vanished = destination_problem(layout, used_before=True)
    if vanished:
        raise JobFailed(vanished)
    times = {**times, interval: taken_at}
    write_snapshot_times(layout, times)
    checkpoint("state-written")
    put_in_place(layout, ready, interval)
    return times
