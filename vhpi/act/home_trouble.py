"""What vhpi could not write in its own folder (~/.very_hungry_pi: logs, records, lock,
config cache) during this run. A read-only or full SD card must not stop the backups (the
backup disk may be fine), so such writes are best effort; each failure is noted here, and
the run ends with exit 1 and one plain message naming the folder (vhpi.actions.locked_run)."""

from __future__ import annotations

import errno
import os
from typing import Dict, List, Tuple

_noted: Dict[str, str] = {}


def note(path: str, error: OSError) -> None:
    """Remember that `path` could not be written, and why (the first reason per path)."""
    _noted.setdefault(path, error.strerror or str(error))


def noted() -> List[Tuple[str, str]]:
    """Return [(path, reason)] of the writes that failed so far."""
    return list(_noted.items())


def home_message(home: str, failures: List[Tuple[str, str]]) -> str:
    """Return the plain message for the writes in `home` that failed."""
    reasons = sorted(set(reason for _, reason in failures))
    names = ", ".join(sorted(os.path.basename(path) for path, _ in failures))
    full = os.strerror(errno.ENOSPC) in reasons or os.strerror(errno.EDQUOT) in reasons
    what = (f"the disk holding {home} is full (the backup disk is not)" if full
            else f"{home} is not writable ({'; '.join(reasons)}; a worn SD card turns "
                 f"read-only)")
    return (f"vhpi cannot write in its own folder: {what}. The backups went on, but {names} "
            f"could not be written: info.log lines go to stderr instead, and `vhpi status` "
            f"shows old records. Check it with: df -h {home}; mount | grep ' ro,'")
