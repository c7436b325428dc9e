"""Hooks and healthcheck pings around one job (when an interval is due) or around the
whole run (every cron start). The same steps for both:

1. begin: the `before` hook. Exit 0: go on. Exit 75: skip quietly; nothing else happens
   (no other hook, no ping, so a monitoring service sees neither success nor failure, as
   with borgmatic's soft failures). Any other exit, a timeout, or a shell that cannot
   start: failure; its last output lines go to info.log. Then the `start` ping.
2. the work (the caller's).
3. end (also after a failed before hook): `after_success` (result ok or skipped, e.g. an
   offline host) or `after_failure` (failed); a failing after hook only warns. Then the
   success or fail ping, with the last log lines as its body.

Every hook gets the VHPI_* variables of vhpi.decide.hook_env. While a watch is open it
keeps the last lines logged (all levels for a job, info and up for the run) for VHPI_LOG
and the ping body.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from typing import Deque, Optional

from vhpi.actions.run_context import JobFailed
from vhpi.config.model import Hooks
from vhpi.decide.hook_env import (LOG_LINES, SKIP_CODE, Scope, after_hook_name, before_says_skip,
                                  hook_env, hook_failure)
from vhpi.decide.ping import START, end_event, ping_body, ping_url

#: How many of a failed hook's last output lines go to info.log.
INFO_TAIL_LINES = 5


class RecentLines(logging.Handler):
    """Keeps the last `count` lines logged at `level` or above (a record of several lines
    counts as several)."""

    def __init__(self, level: int, count: int = LOG_LINES) -> None:
        super().__init__(level)
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        self.lines: Deque[str] = deque(maxlen=count)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.extend(self.format(record).rsplit("\n", self.lines.maxlen)[-self.lines.maxlen:])


class Watch:
    """The hooks and the healthcheck URL of one job or of the run, used as described above."""

    def __init__(self, scope: Scope, hooks: Hooks, url: Optional[str], log: logging.Logger,
                 level: int = logging.DEBUG) -> None:
        self.scope, self.hooks, self.url, self.log = scope, hooks, url, log
        self.recent = RecentLines(level)
        self.cwd = os.path.dirname(scope.config) or "/"
        self.begun = self.skipped = False

    def begin(self) -> Optional[str]:
        """Run the before hook and send the start ping. Return None to go on, or the words
        for a skip; raise JobFailed with the words for a failed before hook."""
        self.log.addHandler(self.recent)
        self.begun = True
        if self.hooks.before:
            outcome = self._run("before", "")
            if before_says_skip(outcome.code) and not outcome.timed_out:
                self.skipped = True
                self.log.removeHandler(self.recent)
                return f"skipped by the before hook (exit {SKIP_CODE})"
            if outcome.code != 0:
                self._report(outcome, "before")
                raise JobFailed(hook_failure("before", outcome.code, outcome.timed_out, outcome.timeout))
        self._ping(START, None)
        return None

    def listen(self) -> None:
        """Start keeping the lines logged, for a result found outside a job's run (a verify
        or a scrub that found damage): no before hook and no start ping; end() follows."""
        self.log.addHandler(self.recent)
        self.begun = True

    def end(self, result: str, summary: str) -> None:
        """Given the result word (ok, skipped, failed) and the summary line, run the after
        hook and send the end ping; nothing when begin was not called or skipped."""
        if not self.begun or self.skipped:
            return
        try:
            self._after_hook(result, summary)
            self._ping(end_event(result), ping_body(self.recent.lines))
        finally:
            self.log.removeHandler(self.recent)

    def _after_hook(self, result: str, summary: str) -> None:
        """Run after_success or after_failure, if set; a failure is only a warning."""
        name = after_hook_name(result)
        if not getattr(self.hooks, name):
            return
        outcome = self._run(name, result, summary)
        if outcome.code != 0:
            self._report(outcome, name)
            failure = hook_failure(name, outcome.code, outcome.timed_out, outcome.timeout)
            self.log.warning("%s: %s; only a warning, the result stays %s", self.scope.label(),
                             failure, result)

    def _run(self, name: str, result: str, summary: str = ""):
        """Run hook `name` with its environment; return its vhpi.act.hooks.HookOutcome."""
        from vhpi.act.hooks import run_hook
        env = hook_env(os.environ, self.scope, name, result, summary, self.recent.lines)
        return run_hook(getattr(self.hooks, name), env, self.cwd, self.log,
                        f"{self.scope.label()}: {name} hook")

    def _report(self, outcome, name: str) -> None:
        """Write the last output lines of a hook that failed to info.log."""
        for line in outcome.tail[-INFO_TAIL_LINES:]:
            self.log.warning("%s: %s hook said: %s", self.scope.label(), name, line)

    def _ping(self, event: str, body: Optional[bytes]) -> None:
        """Send the ping for `event` (start, success, fail) when there is a URL."""
        if self.url:
            from vhpi.act.healthcheck import send_ping
            send_ping(ping_url(self.url, event), body, self.log,
                      f"{self.scope.label()}: healthcheck {event}")
