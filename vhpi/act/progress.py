"""Showing a job's progress on a terminal, rewriting one line (never under cron: only when
stdout is a terminal). What the line says and when it may be redrawn: vhpi.decide.progress."""

from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO

from vhpi.decide.progress import CopyProgress, Redraws, ends_run, format_line, parse_reading


class TerminalProgress:
    """One job's progress line on `stream`: `say` a phase, feed rsync's lines to
    `show_rsync` (every line of each pass that shows progress: a pass ends at its --stats
    report), optionally `expect` the whole copy's bytes first, `clear` it when the job is
    done. The line is redrawn at most every Redraws.every seconds, however fast rsync
    writes, plus the state at the end of a pass; `clock` gives the time (seconds)."""

    def __init__(self, job_name: str, stream: TextIO, clock: Callable[[], float] = time.monotonic):
        self.job_name, self.stream, self.width, self.clock = job_name, stream, 0, clock
        self.copy = CopyProgress()
        self.redraws = Redraws()
        self.pending = False  # the copy has moved on since the line last showed it

    def say(self, text: str) -> None:
        """Replace the progress line with `text` (a new phase: a copy's final state that was
        not shown yet is drawn first)."""
        if self.pending:
            self._draw(end_of_pass=True)
        self._write(text)

    def expect(self, total_bytes: Optional[int]) -> None:
        """Say how many bytes the copy's passes will copy in all (None: not known): the line
        then shows the whole copy's percent and time left, not the current pass's."""
        self.copy.expect(total_bytes)

    def show_rsync(self, line: bytes) -> bool:
        """Take one line of rsync's output; return True when it was a progress line (which
        belongs on this line only)."""
        if ends_run(line):
            self.copy.end_pass()
            if self.pending and self.redraws.due(self.clock(), end_of_pass=True):
                self._draw(end_of_pass=True)
            return False
        reading = parse_reading(line)
        if reading is None:
            return False
        now = self.clock()
        self.copy.add(reading, now)
        self.pending = True
        if self.redraws.due(now):
            self._draw()
        return True

    def clear(self) -> None:
        """Remove the progress line."""
        self.pending = False
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0

    def _draw(self, end_of_pass: bool = False) -> None:
        view = self.copy.view()
        if view is not None:
            self._write(format_line(self.job_name, view), end_of_pass)

    def _write(self, text: str, end_of_pass: bool = False) -> None:
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)
        self.pending = False
        self.redraws.drawn(self.clock(), end_of_pass)


def progress_for(job_name: str, stream: Optional[TextIO] = None) -> Optional[TerminalProgress]:
    """Return a TerminalProgress when `stream` (default stdout) is a terminal, else None."""
    stream = stream or sys.stdout
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        interactive = False
    return TerminalProgress(job_name, stream) if interactive else None
