"""Pure decisions about hooks: which one runs after a job or run, what a before hook's exit
code means, the words for results, and the environment a hook command gets.

Every hook sees these variables (on top of vhpi's own environment):
    VHPI_HOOK         before, after_success or after_failure
    VHPI_JOB          the job's name; empty for the hooks of the whole run
    VHPI_RESULT       after hooks: ok, failed or offline for a job (vhpi.decide.outcome),
                      ok or failed for the run; empty for before
    VHPI_SUMMARY      after hooks: the job's info.log line (for the run: one line on all jobs)
    VHPI_LOG          after hooks: the last lines this job (or run) wrote to the log
    VHPI_SOURCE       the job's source folder; empty for the run
    VHPI_DESTINATION  the job's destination folder; empty for the run
    VHPI_CONFIG       the config file
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Mapping, Sequence

#: A before hook that exits with this code (EX_TEMPFAIL, as in borgmatic) asks to skip the
#: job or run quietly: not an error, no other hook, no ping.
SKIP_CODE = 75
#: How many of the last log lines VHPI_LOG (and a healthcheck ping's body) holds.
LOG_LINES = 20
#: Linux refuses a single environment string over 128 KiB; values are cut well below.
MAX_VALUE_CHARS = 16000
OK, FAILED, SKIPPED, DAMAGED = "ok", "failed", "skipped", "damaged"
#: The result words that run after_failure and send the fail ping.
FAILING = (FAILED, DAMAGED)


@dataclass(frozen=True)
class Scope:
    """Whom hooks and pings are for: one job (its name, source, destination) or, with those
    left empty, the whole run; `config` is the config file's path."""

    config: str
    job: str = ""
    source: str = ""
    destination: str = ""

    def label(self) -> str:
        """Return how log lines name this scope: 'job <name>' or 'run'."""
        return f"job {self.job}" if self.job else "run"


def before_says_skip(code: int) -> bool:
    """Given a before hook's exit code, return True when it asks to skip (exit 75)."""
    return code == SKIP_CODE


def after_hook_name(result: str) -> str:
    """Given a result word, return the after hook that runs: after_failure for failed,
    after_success for the others (ok; offline: a host away is fine). Damaged (a verify or
    scrub found damage) counts as failed."""
    return "after_failure" if result in FAILING else "after_success"


def run_summary(failed_jobs: Sequence[str], job_count: int) -> str:
    """Given the names of the jobs that failed and how many ran, return the run's one line."""
    if not failed_jobs:
        return f"all {job_count} job(s) fine"
    return f"{len(failed_jobs)} of {job_count} job(s) FAILED: {', '.join(failed_jobs)}"


def hook_failure(hook: str, code: int, timed_out: bool, timeout: float) -> str:
    """Return the words for a hook that did not exit 0: 'the before hook failed (exit 3)'."""
    if timed_out:
        return f"the {hook} hook was stopped after {timeout:g} s (timeout)"
    return f"the {hook} hook failed (exit {code})"


def _clip(text: str, keep_end: bool) -> str:
    text = text.replace("\0", "")
    if len(text) <= MAX_VALUE_CHARS:
        return text
    return "…" + text[-MAX_VALUE_CHARS:] if keep_end else text[:MAX_VALUE_CHARS] + "…"


def hook_env(base: Mapping[str, str], scope: Scope, hook: str, result: str = "",
             summary: str = "", log_lines: Iterable[str] = ()) -> Dict[str, str]:
    """Given the environment to start from, return it with the VHPI_* variables above set
    for `hook` in `scope` (values without NUL bytes, cut to MAX_VALUE_CHARS)."""
    lines = list(log_lines)[-LOG_LINES:]
    return {**base, "VHPI_HOOK": hook, "VHPI_JOB": _clip(scope.job, False),
            "VHPI_RESULT": result, "VHPI_SUMMARY": _clip(summary, False),
            "VHPI_LOG": _clip("\n".join(lines), True), "VHPI_SOURCE": _clip(scope.source, False),
            "VHPI_DESTINATION": _clip(scope.destination, False),
            "VHPI_CONFIG": _clip(scope.config, False)}
