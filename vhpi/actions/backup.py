"""The backup run: for each job, the due intervals get a fresh hard-linked snapshot.

Order per job: destination really mounted and locked -> finish work a crash left -> clock
sane -> due intervals; then, in vhpi.actions.copy_and_rotate: host answers -> source
sentinel -> rsync into backup.latest -> rotate. Any failure stops the job before anything
is rotated or deleted.
"""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from typing import Dict, Mapping

from vhpi.act.checkpoints import checkpoint
from vhpi.act.destination import (destination_device, destination_problem, known_destinations,
                                  prepare_destination)
from vhpi.act.layout import Layout, work_has_leftovers
from vhpi.act.lock import try_lock_folder
from vhpi.act.state import StateError, read_snapshot_times, write_snapshot_times
from vhpi.actions.run_context import JobFailed, Run
from vhpi.config.model import Config, Job
from vhpi.decide.due import clamp_to_now, clock_is_behind, due_intervals, newest_recorded_time
from vhpi.decide.snapshot_names import snapshot_numbers
from vhpi.decide.units import format_moment

__all__ = ["JobFailed", "Run", "run_backup", "run_job"]


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
    times = _snapshot_times(layout, job, used_before, run)
    if work_has_leftovers(layout):
        from vhpi.actions.copy_and_rotate import finish_interrupted
        times = finish_interrupted(layout, job, times, run)
    checkpoint("recovered")
    if clock_is_behind(times, run.now):
        raise JobFailed(_clock_message(times, run.now))
    due = due_intervals(job.active_keep_counts(), intervals, times, run.now)
    if not due:
        return "nothing due"
    # imported only now: the hourly "nothing due" run needs none of it
    from vhpi.actions.copy_and_rotate import copy_and_rotate
    return copy_and_rotate(job, layout, device, due, times, run)


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


