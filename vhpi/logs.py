"""vhpi's logs: a short info.log for people, a full debug.log, both rotated by size so they
never fill an SD card; and the console, which stays silent under cron unless a run fails.

A log file that cannot be opened or written (a read-only or full SD card) never stops the
run and never prints a traceback: the failure is noted (vhpi.act.home_trouble), info.log's
lines go to stderr from then on (under systemd: the journal; under cron: the mail), and
debug.log's are dropped."""

from __future__ import annotations

import logging
import os
import sys
from typing import List, Optional

INFO_LOG_BYTES = 1 << 20
DEBUG_LOG_BYTES = 8 << 20
LOG_BACKUPS = 3
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class HeldForFailure(logging.Handler):
    """Keeps the run's info lines in memory so they can be printed only if the run fails
    (cron mails whatever a job prints)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: Optional[List[str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if self.lines is not None:
            self.lines.append(self.format(record))


class _ToStderr(logging.StreamHandler):
    """Where info.log's lines go when the file cannot be written."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setLevel(logging.INFO)
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))


class _HeldElsewhere(_ToStderr):
    """The stderr fallback of a run under cron: once info.log fails, the lines held for a
    failure report are printed at once and every later one as it comes."""

    def __init__(self, held: HeldForFailure) -> None:
        super().__init__()
        self.held = held

    def handle(self, record: logging.LogRecord) -> bool:
        if self.held.lines is not None:  # the held handler comes later: not this record yet
            for line in self.held.lines:
                self.stream.write(line + self.terminator)
            self.held.lines = None  # printed: nothing to print again at the end
        return super().handle(record)


class SizeRotatingFileHandler(logging.FileHandler):
    """A log file that is renamed to `<name>.1` (older ones to .2, .3, …; the oldest
    dropped) before a record would take it past `max_bytes`. Written here rather than
    taken from logging.handlers, whose import (pickle, socket, queue, threading) costs
    more than the rest of an hourly "nothing due" run's imports together."""

    def __init__(self, path: str, max_bytes: int, backups: int,
                 fallback: Optional[logging.Handler] = None):
        super().__init__(path, encoding="utf-8", delay=True)
        self.max_bytes, self.backups, self.fallback = max_bytes, backups, fallback
        self.broken = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.broken:
            self._fall_back(record)
            return
        try:
            if self.stream is None:
                self.stream = self._open()
            text = self.format(record) + self.terminator
            if self.stream.tell() + len(text.encode("utf-8", "replace")) > self.max_bytes > 0:
                self._rotate()
            self.stream.write(text)
            self.flush()
        except OSError as error:
            self._break(error)
            self._fall_back(record)

    def _break(self, error: OSError) -> None:
        """From now on, write nothing more to the file; note why."""
        from vhpi.act.home_trouble import note
        note(self.baseFilename, error)
        self.broken = True
        try:
            if self.stream is not None:
                self.stream.close()
        except OSError:
            pass
        self.stream = None

    def _fall_back(self, record: logging.LogRecord) -> None:
        if self.fallback is not None and record.levelno >= self.fallback.level:
            self.fallback.handle(record)

    def _open(self):
        """Open the log for appending, for vhpi's own account only (also a log an older
        version made readable for all)."""
        stream = super()._open()
        os.fchmod(stream.fileno(), 0o600)
        return stream

    def flush(self) -> None:
        if self.stream is not None and not self.broken:
            self.stream.flush()

    def close(self) -> None:
        try:
            super().close()
        except OSError as error:
            self._break(error)

    def _rotate(self) -> None:
        self.stream.close()
        self.stream = None
        for number in range(self.backups - 1, 0, -1):
            older = f"{self.baseFilename}.{number}"
            if os.path.exists(older):
                os.replace(older, f"{self.baseFilename}.{number + 1}")
        if self.backups > 0:
            os.replace(self.baseFilename, f"{self.baseFilename}.1")
        self.stream = self._open()


def _file_handler(path: str, level: int, max_bytes: int, fmt: str,
                  fallback: Optional[logging.Handler] = None) -> SizeRotatingFileHandler:
    handler = SizeRotatingFileHandler(path, max_bytes, LOG_BACKUPS, fallback)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(fmt, TIME_FORMAT))
    return handler


def open_logs(home: str, interactive: bool):
    """Set up logging into `home`; return (logger, handler holding lines for a failure report).

    `interactive` (a terminal on stdout) shows info lines as they happen instead. Lines
    that info.log cannot take go to stderr (not twice: the held lines then stay empty).
    """
    log = logging.getLogger("vhpi")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    held = HeldForFailure()
    fallback = None if interactive else _HeldElsewhere(held)
    log.addHandler(_file_handler(os.path.join(home, "info.log"), logging.INFO, INFO_LOG_BYTES,
                                 "%(asctime)s %(levelname)-7s %(message)s", fallback))
    log.addHandler(_file_handler(os.path.join(home, "debug.log"), logging.DEBUG, DEBUG_LOG_BYTES,
                                 "%(asctime)s %(process)d %(levelname)-7s %(message)s"))
    held.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    if interactive:
        console = logging.StreamHandler(sys.stdout)
        console.setLevel(logging.INFO)
        console.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(console)
    else:
        log.addHandler(held)
    return log, held


def close_logs(log: logging.Logger) -> None:
    """Flush and close every handler of `log`."""
    for handler in list(log.handlers):
        handler.close()
        log.removeHandler(handler)


def append_note(home: str, text: str) -> None:
    """Append one timestamped line to info.log without setting up logging (used by --dry-run)."""
    import time
    os.makedirs(home, mode=0o700, exist_ok=True)
    with open(os.path.join(home, "info.log"), "a", encoding="utf-8") as handle:
        handle.write(f"{time.strftime(TIME_FORMAT)} INFO    {text}\n")
