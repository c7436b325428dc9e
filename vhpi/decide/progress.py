"""rsync's `--info=progress2` lines, read and turned into vhpi's one-line progress.

rsync rewrites its progress line with carriage returns, e.g. (with --no-human-readable)
    `   21823488  72%   19.57MB/s    0:00:00  (xfr#1, to-chk=0/2)`
bytes copied so far, percent of the whole transfer, rate, and the time left (the time
taken, on the last line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from vhpi.decide.units import human_bytes

_PROGRESS = re.compile(rb"^\s*([\d,.]+)\s+(\d{1,3})%\s+(\S+/s)\s+(\d+:\d{2}:\d{2})")


@dataclass(frozen=True)
class Progress:
    """One progress2 reading."""

    copied: int
    percent: int
    rate: str
    time_left: str


def parse_progress(line: bytes) -> Optional[Progress]:
    """Return the Progress in one rsync output line, or None when it is not a progress line."""
    found = _PROGRESS.match(line)
    if not found:
        return None
    digits = found.group(1).replace(b",", b"").split(b".")[0]
    if not digits.isdigit():
        return None
    return Progress(int(digits), int(found.group(2)), found.group(3).decode("ascii", "replace"),
                    found.group(4).decode("ascii"))


def format_progress(job_name: str, progress: Progress) -> str:
    """Return the line vhpi shows on a terminal for `progress` of job `job_name`."""
    return (f"job {job_name}: {human_bytes(progress.copied)} copied, {progress.percent}%, "
            f"{progress.rate}, ETA {progress.time_left}")
