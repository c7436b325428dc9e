"""Running one hook command: a line of shell, as the user wrote it in the config.

The command runs as `/bin/sh -c COMMAND` in the config file's folder, with stdin from
/dev/null and the environment vhpi.decide.hook_env makes. Its stdout and stderr go, merged,
to an anonymous temporary file, not a pipe: a hook that starts a daemon (sshfs, a mount
helper) which keeps the output open must not make vhpi wait for that daemon. vhpi waits
for the shell only, and each output line goes to debug.log afterwards.

The hook runs through vhpi.act.processes: its own session, none of vhpi's open files (so
not its locks: a daemon it leaves behind must not hold one for ever), SIGKILL for the shell
when vhpi dies. After HOOK_TIMEOUT_SECONDS the whole group gets SIGTERM, and SIGKILL
KILL_GRACE_SECONDS later. A daemon the hook starts (sshfs, a mount helper) is its own
business and stays.
"""

from __future__ import annotations

import logging
import tempfile
from collections import deque
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from vhpi.act.processes import Ending, Finished, Limits, run_to_file

#: How long any hook may run (before hooks may mount shares or wake hosts; after hooks may
#: copy elsewhere). Tests lower it.
HOOK_TIMEOUT_SECONDS = 3600.0
#: How long a timed-out hook's process group gets between SIGTERM and SIGKILL.
KILL_GRACE_SECONDS = 5.0
#: Longer output lines are logged in pieces of this many bytes.
LINE_BYTES = 8192
#: Exit code reported when the shell cannot be started at all (as a shell would).
CANNOT_START = 127
SHELL = "/bin/sh"


@dataclass(frozen=True)
class HookOutcome:
    """How a hook ended: its exit code (negative: killed by that signal), its last output
    lines, whether vhpi stopped it at the timeout, and that timeout in seconds."""

    code: int
    tail: Tuple[str, ...]
    timed_out: bool = False
    timeout: float = HOOK_TIMEOUT_SECONDS


def _log_output(output, log: logging.Logger, label: str, tail_lines: int) -> Tuple[str, ...]:
    """Write each line of the hook's output to debug.log; return the last `tail_lines`."""
    output.seek(0)
    tail: deque = deque(maxlen=tail_lines)
    for raw in iter(lambda: output.readline(LINE_BYTES), b""):
        line = raw.rstrip(b"\n").decode("utf-8", "replace")
        log.debug("%s: %s", label, line)
        tail.append(line)
    return tuple(tail)


def run_hook(command: str, env: Mapping[str, str], cwd: str, log: logging.Logger, label: str,
             timeout: Optional[float] = None, tail_lines: int = 20) -> HookOutcome:
    """Run `command` with /bin/sh -c in `cwd` with exactly `env`, as described above; its
    output lines go to debug.log prefixed with `label` (e.g. 'job laptop: before hook').

    Returns the HookOutcome; a shell that cannot start gives code 127 and the reason.
    """
    limit = HOOK_TIMEOUT_SECONDS if timeout is None else timeout
    log.debug("%s: running %r in %s (timeout %g s)", label, command, cwd, limit)
    with tempfile.TemporaryFile() as output:
        try:
            finished = run_to_file([SHELL, "-c", command], output,
                                   Limits(deadline=limit, grace=KILL_GRACE_SECONDS),
                                   env=env, cwd=cwd, new_session=True)
        except OSError as error:
            finished = Finished(CANNOT_START, (f"{error.strerror or error}",), Ending.NOT_STARTED)
        if finished.ending is Ending.NOT_STARTED:
            reason = f"cannot start {SHELL} in {cwd}: {finished.tail[-1] if finished.tail else ''}"
            log.debug("%s: %s", label, reason)
            return HookOutcome(CANNOT_START, (reason,), False, limit)
        tail = _log_output(output, log, label, tail_lines)
    timed_out = finished.ending is Ending.TIMED_OUT
    log.debug("%s: exit code %s%s", label, finished.code, " (stopped at the timeout)" if timed_out else "")
    return HookOutcome(finished.code, tail, timed_out, limit)
