"""Running at idle priority: the lowest CPU priority (nice 19) and the idle I/O class, so a
long `vhpi dedup` takes the Pi's disk and CPU only when nothing else wants them."""

from __future__ import annotations

import ctypes
import os
import platform
from typing import List

#: ioprio_set(2)'s system call number per machine (no C library wraps it).
IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "armv7l": 314, "armv6l": 314, "i686": 289,
              "i386": 289, "riscv64": 30, "ppc64le": 273}
IOPRIO_WHO_PROCESS = 1
IOPRIO_CLASS_IDLE = 3
IOPRIO_CLASS_SHIFT = 13


def _idle_io() -> bool:
    """Put this process in the idle I/O class; return whether that worked."""
    number = IOPRIO_SET.get(platform.machine())
    if number is None:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(number, IOPRIO_WHO_PROCESS, 0,
                        IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT) == 0


def go_idle() -> List[str]:
    """Lower this process to nice 19 and idle I/O (best effort); return what was set, for
    debug output (e.g. ["nice 19", "idle I/O"])."""
    done = []
    try:
        os.nice(19 - os.nice(0))
        done.append("nice 19")
    except OSError:
        pass
    try:
        if _idle_io():
            done.append("idle I/O")
    except (OSError, AttributeError):
        pass
    return done
