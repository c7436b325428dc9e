"""Running one hook command: a line of shell, as the user wrote it in the config.

The command runs as `/bin/sh -c COMMAND` in the config file's folder, with stdin from
/dev/null and the environment vhpi.decide.hook_env makes. Its stdout and stderr go, merged,
to an anonymous temporary file, not a pipe: a hook that starts a daemon (sshfs, a mount
helper) which keeps the output open must not make vhpi wait for that daemon. vhpi waits
for the shell only, and each output line goes to debug.log afterwards.

The hook gets its own process group and none of vhpi's open files (so not its lock: a
daemon it leaves behind must not hold the lock forever). After HOOK_TIMEOUT_SECONDS the
whole group gets SIGTERM, and SIGKILL KILL_GRACE_SECONDS later.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
from collections import deque
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

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


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the hook's process group, give it KILL_GRACE_SECONDS, then SIGKILL whatever
    is left of the group. Gives up waiting after another KILL_GRACE_SECONDS (a process stuck
    in the kernel, e.g. on a dead NFS server, cannot be killed until that returns)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass


def _wait(process: subprocess.Popen, timeout: float) -> bool:
    """Wait for the shell; return True when it had to be stopped at `timeout`."""
    try:
        process.wait(timeout)
        return False
    except subprocess.TimeoutExpired:
        _stop_group(process)
        return True
    except BaseException:
        _stop_group(process)
        raise


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
            process = subprocess.Popen([SHELL, "-c", command], cwd=cwd, env=dict(env),
                                       stdin=subprocess.DEVNULL, stdout=output,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as error:
            reason = f"cannot start {SHELL} in {cwd}: {error.strerror or error}"
            log.debug("%s: %s", label, reason)
            return HookOutcome(CANNOT_START, (reason,), False, limit)
        timed_out = _wait(process, limit)
        tail = _log_output(output, log, label, tail_lines)
    code = -signal.SIGKILL if process.returncode is None else process.returncode
    log.debug("%s: exit code %s%s", label, code, " (stopped at the timeout)" if timed_out else "")
    return HookOutcome(code, tail, timed_out, limit)
