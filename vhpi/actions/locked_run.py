"""The run as cron starts it: logs opened, run lock taken, jobs run, failures printed.

Each job locks its own destination (vhpi.actions.backup), which is what keeps two runs
from working on the same backup. The run lock (~/.very_hungry_pi/vhpi.lock) only decides
which of two overlapping runs owns the run's hooks and pings: a run that finds it taken
(another run is still busy, say with a long first backup) still runs every job the other
one is not working on, without the run's hooks and pings, and says loudly when the other
run looks stuck (vhpi.decide.stuck).

With app_cfg.hooks or app_cfg.healthcheck_url (vhpi.actions.watch), the run that holds the
run lock goes: before hook (exit 75: the run is skipped quietly, exit 0; other non-zero:
exit 1 and no job runs) -> start ping -> the jobs -> the scrub steps -> after_success or
after_failure -> success or fail ping. Without those settings none of this is imported.

After the jobs, the run that holds the run lock takes the scrub's steps (jobs with
scrub_every: vhpi.actions.scrub); damage they find makes the run fail.

A stop signal (SIGTERM, SIGINT, SIGHUP) ends the run at once: one info.log line says by
what and during which job, the job's record says interrupted, and vhpi exits by the same
signal (vhpi.act.stop_signals).
"""

from __future__ import annotations

import logging
import os
import resource
import sys
from typing import List, Optional, Tuple

from vhpi.act import job_lock
from vhpi.act.checkpoints import checkpoint
from vhpi.act.lock import try_lock
from vhpi.act.privacy import keep_home_private
from vhpi.act.run_records import clamp_run_records
from vhpi.act.home_trouble import home_message, note, noted
from vhpi.act.stop_signals import (Stopped, exit_by_signal, hold_signals, remembered_signal,
                                   stop_on_signals)
from vhpi.actions.backup import Run, run_jobs
from vhpi.actions.run_context import JobFailed
from vhpi.config.model import Config
from vhpi.decide.outcome import run_is_fine
from vhpi.decide.stuck import silence_limit
from vhpi.decide.units import format_moment, human_duration
from vhpi.logs import close_logs, open_logs

LOCK_NAME = "vhpi.lock"


def _other_run(log, home: str, config: Config) -> bool:
    """Say that another run holds the run lock; return True when it looks stuck (no sign of
    life for longer than any live run is silent: vhpi.decide.stuck)."""
    holder = job_lock.read_holder(home, job_lock.RUN)
    if holder is None:
        log.info("another vhpi run is still going; this run does the jobs it is not working "
                 "on, and leaves the run's hooks and pings to it")
        return False
    who = f"another vhpi run (pid {holder.pid}, started {format_moment(holder.started)})"
    limit = silence_limit(max((job.source_timeout for job in config.jobs), default=0))
    if holder.silent_for > limit:
        log.error("%s has held the run lock without a sign of life for %s: it is probably "
                  "stuck in the kernel (a hung disk or share?). See what it waits for with: "
                  "ps -o pid,stat,wchan:30,args -p %s. This run goes on with the jobs it is "
                  "not working on", who, human_duration(holder.silent_for), holder.pid)
        return True
    log.info("%s is still going; this run does the jobs it is not working on, and leaves "
             "the run's hooks and pings to it", who)
    return False


def _log_peak_memory(log) -> None:
    """Write the peak resident memory of vhpi itself and of its largest child to debug.log."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    log.debug("peak memory: vhpi %d KiB, largest child (rsync, cp) %d KiB", own, children)


def _run_watched(config: Config, run: Run) -> int:
    """Run the jobs between the run's hooks and pings; return the exit code."""
    from vhpi.actions.watch import Watch
    from vhpi.decide.hook_env import FAILED, OK, Scope, run_summary
    watch = Watch(Scope(config.path), config.hooks, config.healthcheck_url, run.log, logging.INFO)
    try:
        skipped = watch.begin()
    except JobFailed as failure:
        run.log.error("run: %s; no job was run", failure)
        watch.end(FAILED, f"{failure}; no job was run")
        return 1
    if skipped:
        run.log.info("run: %s; no job was run", skipped)
        return 0
    results = run_jobs(config, run)
    failed = [job.name for job, result in zip(config.jobs, results) if not result.outcome.fine]
    damaged = _scrub(config, run)
    summary = run_summary(failed, len(config.jobs))
    if damaged:
        summary += f"; the scrub found damaged files in the backups of {', '.join(damaged)}"
    watch.end(FAILED if failed or damaged else OK, summary)
    return 1 if failed or damaged else 0


def _scrub(config: Config, run: Run) -> List[str]:
    """Take the scrub's steps after the jobs (nothing is imported when no job has a step to
    take); return the names of the jobs whose backups it found damaged."""
    from vhpi.act.scrub_state import step_wanted
    if not any(step_wanted(job.destination, job.scrub_every, run.now) for job in config.jobs
               if job.scrub_every):
        return []
    from vhpi.actions.scrub import run_scrub_steps
    return run_scrub_steps(config, run)


def _run(config: Config, run: Run, taken: bool) -> int:
    """Run the jobs, with the run's hooks and pings unless another run holds the run lock."""
    if taken:
        stuck = _other_run(run.log, run.home, config)
        return 1 if not run_is_fine(run_jobs(config, run)) or stuck else 0
    checkpoint("locked")
    if config.watched():
        return _run_watched(config, run)
    fine = run_is_fine(run_jobs(config, run))
    return 0 if fine and not _scrub(config, run) else 1


def _stopped(log, stop: Stopped) -> None:
    """Write the one line that says the run was stopped, by what and during which job."""
    during = f" during job {stop.job}" if stop.job else ""
    log.error("run stopped by %s%s: nothing partial is shown as a snapshot; the next run "
              "finishes the job", stop.describe(), during)


def _take_run_lock(home: str, now: float) -> Tuple[Optional[int], bool]:
    """Return (the run lock's fd or None, whether another run holds it). A HOME that cannot
    be written holds no lock and no other run's either: the run goes on (noted)."""
    lock_path = os.path.join(home, LOCK_NAME)
    try:
        lock_fd = try_lock(lock_path)
    except OSError as error:
        note(lock_path, error)
        return None, False
    if lock_fd is not None:
        job_lock.claim(home, job_lock.RUN, "", now)
    return lock_fd, lock_fd is None


def _report_home_trouble(log, home: str) -> int:
    """Say plainly, when this run could not write in its own folder; return 1 then, else 0."""
    failures = noted()
    if not failures:
        return 0
    log.error("%s", home_message(home, failures))
    return 1


def run_locked_backup(config: Config, home: str, now: float, trust_clock: bool) -> int:
    """Run the backup; return the exit code (vhpi ends by the signal when one stopped it)."""
    try:
        os.makedirs(home, mode=0o700, exist_ok=True)
    except OSError as error:
        note(home, error)
    keep_home_private(home)
    log, held = open_logs(home, interactive=sys.stdout.isatty())
    lock_fd = None
    try:
        stop_on_signals()
        lock_fd, taken = _take_run_lock(home, now)
        log.debug("run started with config %s", config.path)
        if trust_clock and clamp_run_records(home, now):
            log.warning("--trust-clock: last-run times later than now were set to now")
        code = _run(config, Run(home, now, log, trust_clock), taken)
    except Stopped as stop:
        hold_signals()
        _stopped(log, stop)
        code = 128 + stop.signum
    hold_signals()
    try:
        code = max(code, _report_home_trouble(log, home))
        if code and held.lines:
            print("\n".join(held.lines), file=sys.stderr)
        _log_peak_memory(log)
    finally:
        if lock_fd is not None:
            job_lock.release(home, job_lock.RUN)
            os.close(lock_fd)
        close_logs(log)
    signum = remembered_signal()
    return exit_by_signal(signum) if signum is not None else code
