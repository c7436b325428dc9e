"""Named points in a run where the fault-injection tests can stop vhpi deterministically.

Unset (always, in real use) nothing happens. The tests set one of:

    VHPI_CRASH_AT=<name>[:<n>]   SIGKILL vhpi's whole process group (vhpi, rsync, cp) the
                                 n-th time (default 1st) the run reaches <name>: a power cut
    VHPI_PAUSE_AT=<name>[:<n>]   SIGSTOP vhpi there, so a test can change the world (fill the
                                 disk, unmount a share) and then SIGCONT it
    VHPI_FAIL_AT=<name>[:<n>]    raise an unexpected error there (as a bug or a misbehaving
                                 file system would), to show that it costs one job only

The names are listed in CHECKPOINTS; `<program>-started` and `<program>-line` come from
every child process vhpi runs (rsync, cp).
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from typing import Optional, Tuple

CHECKPOINTS = (
    "locked", "recovered", "rsync-started", "rsync-line", "rsync-done", "unlinked",
    "copied", "cp-started", "linked", "ready", "dropped", "renamed", "state-written", "placed",
    "checksums-recorded", "job-done",
)


def _parse(variable: str) -> Optional[Tuple[str, int]]:
    value = os.environ.get(variable)
    if not value:
        return None
    name, _, count = value.partition(":")
    return name, int(count or 1)


_CRASH = _parse("VHPI_CRASH_AT")
_PAUSE = _parse("VHPI_PAUSE_AT")
_FAIL = _parse("VHPI_FAIL_AT")


class InjectedFault(RuntimeError):
    """The unexpected error VHPI_FAIL_AT asks for."""
_reached: Counter = Counter()


def checkpoint(name: str) -> None:
    """Mark that the run has reached `name`; crash or pause here if a test asked for it."""
    if _CRASH is None and _PAUSE is None and _FAIL is None:
        return
    _reached[name] += 1
    if _CRASH == (name, _reached[name]):
        os.killpg(os.getpgrp(), signal.SIGKILL)
    if _PAUSE == (name, _reached[name]):
        os.kill(os.getpid(), signal.SIGSTOP)
    if _FAIL == (name, _reached[name]):
        raise InjectedFault(f"injected at {name} (VHPI_FAIL_AT)")
