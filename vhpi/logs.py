"""vhpi's logs: a short info.log for people, a full debug.log, both rotated by size so they
never fill an SD card; and the console, which stays silent under cron unless a run fails."""

from __future__ import annotations

import logging
import os
import sys
from typing import List

INFO_LOG_BYTES = 1 << 20
DEBUG_LOG_BYTES = 8 << 20
LOG_BACKUPS = 3
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class HeldForFailure(logging.Handler):
    """Keeps the run's info lines in memory so they can be printed only if the run fails
    (cron mails whatever a job prints)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class SizeRotatingFileHandler(logging.FileHandler):
    """A log file that is renamed to `<name>.1` (older ones to .2, .3, …; the oldest
    dropped) before a record would take it past `max_bytes`. Written here rather than
    taken from logging.handlers, whose import (pickle, socket, queue, threading) costs
    more than the rest of an hourly "nothing due" run's imports together."""

    def __init__(self, path: str, max_bytes: int, backups: int):
        super().__init__(path, encoding="utf-8")
        self.max_bytes, self.backups = max_bytes, backups

    def emit(self, record: logging.LogRecord) -> None:
        try:
            size = len(self.format(record).encode("utf-8", "replace")) + 1
            if self.stream is not None and self.stream.tell() + size > self.max_bytes > 0:
                self._rotate()
        except OSError:
            self.handleError(record)
        super().emit(record)

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


def _file_handler(path: str, level: int, max_bytes: int, fmt: str) -> logging.Handler:
    handler = SizeRotatingFileHandler(path, max_bytes, LOG_BACKUPS)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(fmt, TIME_FORMAT))
    return handler


def open_logs(home: str, interactive: bool):
    """Set up logging into `home`; return (logger, handler holding lines for a failure report).

    `interactive` (a terminal on stdout) shows info lines as they happen instead.
    """
    log = logging.getLogger("vhpi")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    log.addHandler(_file_handler(os.path.join(home, "info.log"), logging.INFO, INFO_LOG_BYTES,
                                 "%(asctime)s %(levelname)-7s %(message)s"))
    log.addHandler(_file_handler(os.path.join(home, "debug.log"), logging.DEBUG, DEBUG_LOG_BYTES,
                                 "%(asctime)s %(process)d %(levelname)-7s %(message)s"))
    held = HeldForFailure()
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
