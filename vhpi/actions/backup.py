"""The backup run: for each job, the due intervals get a fresh hard-linked snapshot.

Order per job: destination really mounted and locked -> finish work a crash left -> clock
sane -> due intervals; then, in vhpi.actions.copy_and_rotate: host answers -> source
sentinel -> rsync into backup.latest -> rotate. Any failure stops the job before anything
is rotated or deleted. Each job ends as a JobResult (vhpi.decide.outcome): an unexpected
error in one job (a bug, a file system that misbehaves) is that job's FAILED result, with
the traceback in debug.log, and the next job runs as usual.

A job with hooks or a healthcheck URL (vhpi.actions.watch) gets them only when something
is due: its before hook and start ping come after the due decision and before the host
check (so the hook can wake the host or mount the share); its after hook and end ping
come after the job's info.log line. The hourly "nothing due" run stays fast and silent.
A job interrupted by a stop signal runs no after hook and sends no end ping: vhpi is
being stopped and leaves at once (vhpi.act.stop_signals).
"""

from __future__ import annotations

import errno
import logging
import os
from typing import Dict, List, Mapping, Optional

from vhpi.act import job_lock
from vhpi.act.checkpoints import checkpoint
from vhpi.act.destination import (destination_device, destination_problem, known_destinations,
                                  on_root_file_system, prepare_destination)
from vhpi.act.layout import Layout, work_has_leftovers
from vhpi.act.lock import try_lock_folder
from vhpi.act.run_records import first_run, record_run
from vhpi.act.state import StateError, read_made_times, read_snapshot_times, write_snapshot_times
from vhpi.act.stop_signals import Stopped
from vhpi.actions.run_context import JobFailed, Run
from vhpi.config.model import Config, Job
from vhpi.decide.destination_hints import lost_records_message
from vhpi.decide.due import (clamp_to_now, clock_is_behind, due_intervals, newest_recorded_time,
                             stale_age, stale_limit, stale_words)
from vhpi.decide.outcome import JobResult, Outcome, run_is_fine
from vhpi.decide.paths import is_inside
from vhpi.decide.snapshot_names import snapshot_numbers
from vhpi.decide.stuck import Busy, busy_verdict
from vhpi.decide.units import format_moment, human_duration

__all__ = ["JobFailed", "Run", "run_backup", "run_job"]

NOTHING_DUE = "nothing due"
#: The info.log level of each outcome's line.
LOG_LEVELS = {Outcome.FAILED: logging.ERROR, Outcome.STALE: logging.ERROR,
              Outcome.INTERRUPTED: logging.ERROR}


def run_backup(config: Config, run: Run) -> int:
    """Run every job; return 0 when all are fine (nothing due and offline count as fine), else 1."""
    return 0 if run_is_fine(run_jobs(config, run)) else 1


def run_jobs(config: Config, run: Run) -> List[JobResult]:
    """Run every job in order; return their JobResults, in the config's order."""
    return [run_job(job, config.intervals, run, config.path) for job in config.jobs]


def run_job(job: Job, intervals: Mapping[str, int], run: Run, config_path: str = "") -> JobResult:
    """Run one job, write its line to info.log, and return its JobResult.

    `config_path` (the config file) is where the job's hooks run and what they are told."""
    watch = _LazyWatch(job, config_path, run) if job.watched() else None
    result = _run_and_log(job, intervals, run, watch)
    if watch is not None:
        watch.end(result, f"job {job.name}: {result.summary}")
    return result


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

    def end(self, result: JobResult, line: str) -> None:
        """Given the job's result and info.log line, run its after hook and end ping (if begun)."""
        if self.watch is not None:
            self.watch.end(result.outcome.value, line)


def _run_and_log(job: Job, intervals: Mapping[str, int], run: Run,
                 watch: Optional[_LazyWatch]) -> JobResult:
    """Run one job and write its line to info.log; return its JobResult."""
    try:
        result = _back_up(job, intervals, run, watch)
    except JobFailed as failure:
        result = JobResult(Outcome.FAILED, f"FAILED: {failure}")
    except OSError as error:
        run.log.debug("job %s: unexpected error", job.name, exc_info=True)
        vanished = destination_problem(Layout(job.destination), used_before=True)
        result = JobResult(Outcome.FAILED, f"FAILED: {vanished or _describe_os_error(error, job)}; "
                                           f"nothing more was rotated")
    except Stopped as stop:
        stop.job = stop.job or job.name
        record_run(run.home, job.name, run.now, Outcome.INTERRUPTED,
                   f"INTERRUPTED: vhpi was stopped by {stop.describe()}; the next run finishes the job")
        raise
    except Exception as error:  # a bug or a misbehaving file system: this job only
        run.log.debug("job %s: unexpected error", job.name, exc_info=True)
        result = JobResult(Outcome.FAILED, f"FAILED: unexpected error ({type(error).__name__}: "
                                           f"{error}); nothing more was rotated. The details are "
                                           f"in debug.log; please report them")
    run.log.log(LOG_LEVELS.get(result.outcome, logging.INFO), "job %s: %s", job.name, result.summary)
    if result.outcome.recorded or run.trust_clock:  # --trust-clock: a failed record is over
        record_run(run.home, job.name, run.now, result.outcome, result.summary)
    return result


def _describe_os_error(error: OSError, job: Job) -> str:
    """Return the words for an error of the job's own steps, naming the disk it hit (the
    destination, or another one: a temporary file of a hook on a full SD card, say)."""
    where = os.fsdecode(error.filename) if isinstance(error.filename, (str, bytes)) else None
    elsewhere = where is not None and not is_inside(os.path.abspath(where), job.destination)
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        disk = f"the disk holding {os.path.dirname(where)}" if elsewhere else "the destination disk"
        state = "is mounted read-only" if error.errno == errno.EROFS else "is full"
        return f"{disk} {state} ({error.strerror})"
    where = f": {error.filename}" if error.filename else ""
    return f"{error.strerror or error}{where}"


def _back_up(job: Job, intervals: Mapping[str, int], run: Run,
             watch: Optional[_LazyWatch] = None) -> JobResult:
    layout = Layout(job.destination)
    used_before = job.destination in known_destinations(run.home)
    problem = destination_problem(layout, used_before)
    if problem:
        raise JobFailed(problem)
    lock_fd = try_lock_folder(layout.root)
    if lock_fd is None:  # a dedup batch holds it for about a second: wait for that
        from vhpi.act.dedup_lock import wait_while_dedup_holds
        lock_fd = wait_while_dedup_holds(run.home, job.destination)
    if lock_fd is None:
        return _busy(job, intervals, run)
    job_lock.forget_holder(run.home, job.destination)
    try:
        return _back_up_locked(job, intervals, layout, used_before, run, watch)
    finally:
        job_lock.release(run.home, job.destination)
        os.close(lock_fd)


def _busy(job: Job, intervals: Mapping[str, int], run: Run) -> JobResult:
    """The job's destination is locked by another run: a quiet skip, or loud when that run
    looks stuck or has been at it longer than the job's longest interval."""
    holder = job_lock.read_holder(run.home, job.destination)
    if holder is None:
        return JobResult(Outcome.BUSY, "another vhpi run (another user or HOME?) is working on "
                                       "this destination; skipped")
    longest = max((intervals[name] for name in job.active_keep_counts()), default=None)
    verdict = busy_verdict(holder.running_for, holder.silent_for, job.source_timeout, longest)
    who = f"another vhpi run (pid {holder.pid}, started {format_moment(holder.started)})"
    if verdict is Busy.SILENT:
        return JobResult(Outcome.FAILED, (
            f"FAILED: {who} holds this destination but has shown no sign of life for "
            f"{human_duration(holder.silent_for)}, although a live run shows one every "
            f"minute and gives up on a source after {job.source_timeout:g} s: it is probably "
            f"stuck in the kernel (a hung backup disk or share?). See what it waits for with: "
            f"ps -o pid,stat,wchan:30,args -p {holder.pid}; other jobs still run"))
    if verdict is Busy.OVERDUE:
        return JobResult(Outcome.FAILED, (
            f"FAILED: {who} has been working on this job for "
            f"{human_duration(holder.running_for)}, longer than its longest interval "
            f"({human_duration(longest)}): every snapshot of the job is late. It is alive (last "
            f"sign {human_duration(holder.silent_for)} ago); a first backup of a large "
            f"source can take that long, else look at what it does: ps -o pid,stat,wchan:30,args "
            f"-p {holder.pid}"))
    return JobResult(Outcome.BUSY, f"{who} is working on this destination; skipped")


def _back_up_locked(job: Job, intervals: Mapping[str, int], layout: Layout, used_before: bool,
                    run: Run, watch: Optional[_LazyWatch] = None) -> JobResult:
    """Back up a job whose destination is checked and locked by this process; `watch` (for
    a job with hooks or a healthcheck URL) begins once something is due. A job whose
    newest snapshot is older than its stale_after (and that makes none now) is STALE."""
    device = destination_device(layout)
    times = _snapshot_times(layout, job, used_before, run)
    from vhpi.act.dedup_repair import needs_repair, repair_after_dedup
    if needs_repair(layout.root):  # a dedup killed in a link batch: folder times back first
        run.log.info("job %s: put right what an interrupted vhpi dedup left (%d folder times)",
                     job.name, repair_after_dedup(layout.root))
    if work_has_leftovers(layout):
        from vhpi.actions.copy_and_rotate import finish_interrupted
        times = finish_interrupted(layout, job, times, run)
    checkpoint("recovered")
    if clock_is_behind(times, run.now):
        raise JobFailed(_clock_message(times, run.now))
    active = {name: intervals[name] for name in job.active_keep_counts()}
    limit = stale_limit(job.stale_after, active)
    first = None if times else first_run(run.home, job.name)
    age = stale_age(times, run.now, limit, first)
    try:
        result = _due_work(job, intervals, layout, device, times, run, watch)
    except JobFailed as failure:
        if age is None:
            raise
        raise JobFailed(f"{failure}; {stale_words(age, limit, bool(times))}") from None
    if age is None or result.outcome is Outcome.OK:
        return result
    return JobResult(Outcome.STALE, f"STALE: {stale_words(age, limit, bool(times))}; {result.summary}")


def _due_work(job: Job, intervals: Mapping[str, int], layout: Layout, device: int,
              times: Dict[str, float], run: Run, watch: Optional[_LazyWatch]) -> JobResult:
    """Make the due snapshots (none due: NOTHING_DUE)."""
    due = due_intervals(job.active_keep_counts(), intervals, times, run.now)
    if not due:
        return JobResult(Outcome.NOTHING_DUE, NOTHING_DUE)
    job_lock.claim(run.home, job.destination, job.name, run.now)
    skipped = watch.begin(due) if watch is not None else None
    if skipped:
        return JobResult(Outcome.SKIPPED, skipped)
    # imported only now: the hourly "nothing due" run needs none of it
    from vhpi.actions.copy_and_rotate import copy_and_rotate
    return copy_and_rotate(job, layout, device, due, times, run)


def _clock_message(times: Dict[str, float], now: float) -> str:
    return (f"the clock says {format_moment(now)}, earlier than the newest snapshot here "
            f"({format_moment(newest_recorded_time(times))}): the clock is probably wrong (a Pi without a "
            f"real-time clock after a power cut?). Nothing was rotated. If the clock is right "
            f"(compare `date` with a clock you trust), run once: vhpi --trust-clock")


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
            raise JobFailed(lost_records_message(layout.root, layout.state, bool(taken),
                                                 on_root_file_system(layout.root)))
        times = {name: run.now for name in taken}
        if taken:
            prepare_destination(layout)
            write_snapshot_times(layout, times)
    if run.trust_clock and _later_than_now(layout, times, run.now):
        times = clamp_to_now(times, run.now)
        write_snapshot_times(layout, times, not_after=run.now)
        run.log.warning("job %s: --trust-clock: snapshot times later than now were set to now", job.name)
    return times


def _later_than_now(layout: Layout, times: Dict[str, float], now: float) -> bool:
    """True when a record of the destination (an interval's last snapshot, or when a
    snapshot folder was made) lies after `now`."""
    return any(when > now for when in (*times.values(), *read_made_times(layout).values()))


