"""The backup run: for each job, the due intervals get a fresh hard-linked snapshot.

Order per job: destination really mounted and locked -> finish work a crash left -> clock
sane -> due intervals; then, in vhpi.actions.copy_and_rotate: host answers -> source
sentinel -> rsync into backup.latest -> rotate. Any failure stops the job before anything
is rotated or deleted.

A job with hooks or a healthcheck URL (vhpi.actions.watch) gets them only when something
is due: its before hook and start ping come after the due decision and before the host
check (so the hook can wake the host or mount the share); its after hook and end ping
come after the job's info.log line. The hourly "nothing due" run stays fast and silent.
"""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from typing import Dict, List, Mapping, Optional, Tuple

from vhpi.act.checkpoints import checkpoint
from vhpi.act.destination import (destination_device, destination_problem, known_destinations,
                                  prepare_destination)
from vhpi.act.layout import Layout, work_has_leftovers
from vhpi.act.lock import try_lock_folder
from vhpi.act.run_records import record_run
from vhpi.act.state import StateError, read_snapshot_times, write_snapshot_times
from vhpi.actions.run_context import JobFailed, Run
from vhpi.config.model import Config, Job
from vhpi.decide.due import clamp_to_now, clock_is_behind, due_intervals, newest_recorded_time
from vhpi.decide.snapshot_names import snapshot_numbers
from vhpi.decide.units import format_moment

__all__ = ["JobFailed", "Run", "run_backup", "run_job"]

NOTHING_DUE = "nothing due"


def run_backup(config: Config, run: Run) -> int:
    """Run every job; return 0 when all are fine (nothing due and offline count as fine), else 1."""
    return 0 if all(ok for _, ok in run_jobs(config, run)) else 1


def run_jobs(config: Config, run: Run) -> List[Tuple[str, bool]]:
    """Run every job in order; return (job name, whether it went fine) for each."""
    return [(job.name, run_job(job, config.intervals, run, config.path)) for job in config.jobs]


def run_job(job: Job, intervals: Mapping[str, int], run: Run, config_path: str = "") -> bool:
    """Run one job, write its line to info.log, and return whether it went fine.

    `config_path` (the config file) is where the job's hooks run and what they are told."""
    watch = _LazyWatch(job, config_path, run) if job.watched() else None
    ok, summary = _run_and_log(job, intervals, run, watch)
    if watch is not None:
        watch.end(ok, f"job {job.name}: {summary}")
    return ok


class _LazyWatch:
    """A job's hooks and pings (vhpi.actions.watch), imported and opened only once something
    is due: the nothing-due run of a job with hooks imports none of it."""

    def __init__(self, job: Job, config_path: str, run: Run) -> None:
        self.job, self.config_path, self.run = job, config_path, run
        self.watch = None

    def begin(self, due: List[str]) -> Optional[str]:
        """Run the before hook and the start ping; return the summary of a job the before
        hook skipped, else None (raises JobFailed when the before hook failed)."""
        from vhpi.actions.watch import Watch
        from vhpi.decide.hook_env import Scope
        job, label = self.job, "due " + ", ".join(due)
        self.watch = Watch(Scope(self.config_path, job.name, job.source, job.destination),
                           job.hooks, job.healthcheck_url, self.run.log)
        try:
            skipped = self.watch.begin()
        except JobFailed as failure:
            raise JobFailed(f"{label}; {failure}; nothing was copied or rotated") from None
        return f"{label}; {skipped}" if skipped else None

    def end(self, ok: bool, line: str) -> None:
        """Given the job's result and info.log line, run its after hook and end ping (if begun)."""
        if self.watch is not None:
            from vhpi.decide.hook_env import job_result
            self.watch.end(job_result(ok, line), line)


def _run_and_log(job: Job, intervals: Mapping[str, int], run: Run,
                 watch: Optional[_LazyWatch]) -> Tuple[bool, str]:
    """Run one job and write its line to info.log; return (whether it went fine, the line)."""
    try:
        summary = _back_up(job, intervals, run, watch)
        run.log.info("job %s: %s", job.name, summary)
        if summary != NOTHING_DUE:
            record_run(run.home, job.name, run.now, True, summary)
        return True, summary
    except JobFailed as failure:
        summary = f"FAILED: {failure}"
    except OSError as error:
        run.log.debug("job %s: unexpected error", job.name, exc_info=True)
        vanished = destination_problem(Layout(job.destination), used_before=True)
        summary = f"FAILED: {vanished or _describe_os_error(error)}; nothing more was rotated"
    run.log.error("job %s: %s", job.name, summary)
    record_run(run.home, job.name, run.now, False, summary)
    return False, summary


def _describe_os_error(error: OSError) -> str:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the destination disk is full ({error.strerror})"
    if error.errno == errno.EROFS:
        return "the destination is mounted read-only"
    where = f": {error.filename}" if error.filename else ""
    return f"{error.strerror or error}{where}"


def _back_up(job: Job, intervals: Mapping[str, int], run: Run,
             watch: Optional[_LazyWatch] = None) -> str:
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
                               replace(run, keep_fds=run.keep_fds + (lock_fd,)), watch)
    finally:
        os.close(lock_fd)


def _back_up_locked(job: Job, intervals: Mapping[str, int], layout: Layout, used_before: bool,
                    run: Run, watch: Optional[_LazyWatch] = None) -> str:
    """Back up a job whose destination is checked and locked by this process; `watch` (for
    a job with hooks or a healthcheck URL) begins once something is due."""
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
        return NOTHING_DUE
    skipped = watch.begin(due) if watch is not None else None
    if skipped:
        return skipped
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


