"""The run as cron starts it: logs opened, lock taken, jobs run, failures printed.

With app_cfg.hooks or app_cfg.healthcheck_url (vhpi.actions.watch), every run that takes
the lock (so every cron start, a "nothing due" one included) goes: before hook (exit 75:
the run is skipped quietly, exit 0; other non-zero: exit 1 and no job runs) -> start ping
-> the jobs -> after_success or after_failure -> success or fail ping. A run that finds
the lock taken does none of it: the run holding the lock reports. Without those settings
none of this is imported.
"""

from __future__ import annotations

import logging
import os
import resource
import sys

from vhpi.act.checkpoints import checkpoint
from vhpi.act.lock import lock_holder, try_lock
from vhpi.actions.backup import Run, run_backup, run_jobs
from vhpi.actions.run_context import JobFailed
from vhpi.config.model import Config
from vhpi.decide.units import format_moment
from vhpi.logs import close_logs, open_logs

LOCK_NAME = "vhpi.lock"
#: A run that holds the lock longer than this is reported as stuck (exit 1, so cron mails).
STUCK_AFTER_SECONDS = 24 * 3600


def _report_lock_holder(log, lock_path: str, now: float) -> int:
    """Log who holds the lock; return 0, or 1 when that run looks stuck."""
    pid, started = lock_holder(lock_path)
    if started is not None and now - started > STUCK_AFTER_SECONDS:
        log.error("another vhpi run (pid %s) has held the lock since %s, over %d hours: is it "
                  "stuck? Check it with: ps -p %s", pid, format_moment(started),
                  STUCK_AFTER_SECONDS // 3600, pid)
        return 1
    since = format_moment(started) if started is not None else "an unknown time"
    log.info("another vhpi run is still going (pid %s, started %s); leaving it alone", pid, since)
    return 0


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
    failed = [name for name, ok in run_jobs(config, run) if not ok]
    watch.end(FAILED if failed else OK, run_summary(failed, len(config.jobs)))
    return 1 if failed else 0


def run_locked_backup(config: Config, home: str, now: float, trust_clock: bool) -> int:
    """Run the backup under the lock; return the exit code (0 when another run holds the lock)."""
    os.makedirs(home, mode=0o700, exist_ok=True)
    log, held = open_logs(home, interactive=sys.stdout.isatty())
    lock_path = os.path.join(home, LOCK_NAME)
    lock_fd = try_lock(lock_path)
    try:
        if lock_fd is None:
            code = _report_lock_holder(log, lock_path, now)
        else:
            checkpoint("locked")
            log.debug("run started with config %s", config.path)
            run = Run(home, now, log, trust_clock, (lock_fd,))
            code = _run_watched(config, run) if config.watched() else run_backup(config, run)
        if code and held.lines:
            print("\n".join(held.lines), file=sys.stderr)
        _log_peak_memory(log)
        return code
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
        close_logs(log)
