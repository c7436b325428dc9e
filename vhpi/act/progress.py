"""Showing a job's progress on a terminal, rewriting one line (never under cron: only when
stdout is a terminal)."""

from __future__ import annotations

import sys
from typing import Optional, TextIO

from vhpi.decide.progress import format_progress, parse_progress


class TerminalProgress:
    """One job's progress line on `stream`: `say` a phase, feed rsync lines to `show_rsync`,
    `clear` it when the job is done."""

    def __init__(self, job_name: str, stream: TextIO):
        self.job_name, self.stream, self.width = job_name, stream, 0

    def say(self, text: str) -> None:
        """Replace the progress line with `text`."""
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def show_rsync(self, line: bytes) -> bool:
        """Show rsync's progress from `line`; return True when it was a progress line."""
        progress = parse_progress(line)
        if progress is None:
            return False
        self.say(format_progress(self.job_name, progress))
        return True

    def clear(self) -> None:
        """Remove the progress line."""
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def progress_for(job_name: str, stream: Optional[TextIO] = None) -> Optional[TerminalProgress]:
    """Return a TerminalProgress when `stream` (default stdout) is a terminal, else None."""
    stream = stream or sys.stdout
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        interactive = False
    return TerminalProgress(job_name, stream) if interactive else None
