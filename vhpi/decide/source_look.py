"""What a look at a job's source found (vhpi.act.source), and the words for it.

The hints never lead into a trap: "create .backup_valid" is offered only for a folder that
holds files (the right folder, never marked); an empty folder is a share that is not
mounted, and marking it would make the next run mirror an empty folder with --delete.
"""

from __future__ import annotations

import enum
import stat
from dataclasses import dataclass
from typing import Optional

SENTINEL = ".backup_valid"


class SourceState(enum.Enum):
    """The state of a job's source folder."""

    READY = "ready"                  # there, with a readable regular .backup_valid
    MISSING = "missing"              # no such folder
    NO_SENTINEL = "no sentinel"      # a folder without .backup_valid
    NOT_A_FILE = "not a file"        # .backup_valid is a FIFO, device, folder or symlink
    UNREADABLE = "unreadable"        # looking failed with an error
    NOT_ANSWERING = "not answering"  # no answer within source_timeout (a hung share)


@dataclass(frozen=True)
class SourceLook:
    """What a look found: the state; the source's real path (symlinks resolved) when the
    folder was there; whether a folder without sentinel holds files; and a detail: the
    error, the kind of thing in the sentinel's place, or the seconds waited."""

    state: SourceState
    real_path: Optional[str] = None
    holds_files: Optional[bool] = None
    detail: str = ""


def kind_of_mode(mode: int) -> str:
    """Given a file mode, return the words for what is in the sentinel's place."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISLNK, "a symlink"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def source_message(look: SourceLook, source: str) -> str:
    """Return the words for a look that is not READY (why the job must not run)."""
    sentinel = f"{source.rstrip('/')}/{SENTINEL}"
    if look.state is SourceState.MISSING:
        return f"source {source} does not exist or is not a folder: is the share mounted?"
    if look.state is SourceState.NO_SENTINEL and not look.holds_files:
        return (f"source {source} is empty and has no {SENTINEL}: the share is not mounted. "
                f"Nothing was touched. Mount it (and check it with: vhpi check)")
    if look.state is SourceState.NO_SENTINEL:
        return (f"source {source} has no {SENTINEL}: the share is probably not mounted, or "
                f"this folder was never marked. Nothing was touched. If it really is the "
                f"source, mark it once: touch {sentinel}")
    if look.state is SourceState.NOT_A_FILE:
        return (f"{sentinel} is {look.detail}, not a regular file: vhpi refuses it (a FIFO "
                f"would make every look wait for ever). Nothing was touched. Replace it with an "
                f"empty file")
    if look.state is SourceState.NOT_ANSWERING:
        return (f"source {source} stopped answering: no answer within {look.detail} s "
                f"(source_timeout; a hung NFS or SMB share, a frozen sshfs?)")
    return f"cannot read {sentinel}: {look.detail}"
