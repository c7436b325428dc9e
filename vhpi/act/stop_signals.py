"""Stopping cleanly on SIGTERM (kill, systemd stop, shutdown), SIGINT (Ctrl-C) and SIGHUP
(the terminal closed).

The first such signal raises Stopped wherever vhpi is; everything on the way out behaves
as after a crash at that point, which the crash campaign proves safe: work folders are
finished or cleared by the next run, and nothing partial is ever named as a snapshot. The
child processes are killed by vhpi.act.processes as the exception passes. Later signals
are remembered but do not interrupt the cleanup. In the end vhpi exits by the same signal
(exit_by_signal), so a shell sees 128 + N (130 for Ctrl-C, 143 for SIGTERM) and systemd
sees a clean stop.
"""

from __future__ import annotations

import os
import signal
from typing import Optional

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: What each signal usually means, for the message.
MEANINGS = {signal.SIGTERM: "kill, a systemd stop or a shutdown", signal.SIGINT: "Ctrl-C",
            signal.SIGHUP: "the terminal was closed"}


class Stopped(BaseException):
    """vhpi got a stop signal. `job`: the job that was running, once a job has said so."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.job: Optional[str] = None

    def describe(self) -> str:
        """Return e.g. 'SIGTERM (kill, a systemd stop or a shutdown)'."""
        name = signal.Signals(self.signum).name
        return f"{name} ({MEANINGS[self.signum]})" if self.signum in MEANINGS else name


_received = []
_holding = []


def _on_stop_signal(signum: int, frame) -> None:
    _received.append(signum)
    if len(_received) == 1 and not _holding:
        raise Stopped(signum)


def stop_on_signals() -> None:
    """From now on, the first stop signal raises Stopped in the main thread."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _on_stop_signal)


def hold_signals() -> None:
    """From now on (the run's own cleanup), a stop signal is only remembered: see
    remembered_signal."""
    _holding.append(True)


def remembered_signal() -> Optional[int]:
    """Return the first stop signal received, or None."""
    return _received[0] if _received else None


def exit_by_signal(signum: int) -> int:
    """End vhpi by `signum` with its default action (call after the cleanup); returns the
    shell's figure for it, 128 + signum, where the signal does not end the process."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum
