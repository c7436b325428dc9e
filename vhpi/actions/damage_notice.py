"""Telling the user that a verify or a scrub found damage, the same way a failed backup run
does: an ERROR line in info.log ("job NAME: DAMAGED: ..."), the job's after_failure hook
with VHPI_RESULT=damaged, and the fail ping to its healthcheck URL. The caller's exit code
(1) is what makes cron mail."""

from __future__ import annotations

import logging

from vhpi.actions.watch import Watch
from vhpi.config.model import Job
from vhpi.decide.hook_env import Scope
from vhpi.decide.outcome import Outcome


def tell_damage(job: Job, config_path: str, log: logging.Logger, summary: str) -> None:
    """Given the job, its config file, the run's logger and the words for what was found,
    log the ERROR line and run the job's after_failure hook and fail ping (when it has them)."""
    watch = Watch(Scope(config_path, job.name, job.source, job.destination), job.hooks,
                  job.healthcheck_url, log) if job.watched() else None
    if watch is not None:
        watch.listen()
    line = f"{Outcome.DAMAGED.name}: {summary}"
    log.error("job %s: %s", job.name, line)
    if watch is not None:
        watch.end(Outcome.DAMAGED.value, f"job {job.name}: {line}")
