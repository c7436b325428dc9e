"""vhpi's umask: whatever the user's is, what vhpi makes itself (logs, records, work files
and folders) is for its own account only; the programs it starts (rsync, cp, hooks) get
the user's umask back (vhpi.act.processes), so they behave as they would without vhpi."""

from __future__ import annotations

import os

#: The bits vhpi's own files and folders never give: everything for group and others.
PRIVATE_UMASK = 0o077

_user_umask = []


def make_private() -> None:
    """From now on, files and folders this process makes are its owner's only."""
    if not _user_umask:
        _user_umask.append(os.umask(PRIVATE_UMASK))


def user_umask() -> int:
    """Return the umask this process started with (for the programs it starts)."""
    if _user_umask:
        return _user_umask[0]
    current = os.umask(0)
    os.umask(current)
    return current
