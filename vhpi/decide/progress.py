"""rsync's `--info=progress2` lines, read and turned into vhpi's one-line progress.

rsync rewrites its progress line with carriage returns, e.g. (with --no-human-readable)
    `   21823488  72%   19.57MB/s    0:00:00  (xfr#1, to-chk=0/2)`
bytes copied so far in this rsync run, percent of the run's file sizes, rate, time, and
(after each finished file) the files transferred and the files left to check; "ir-chk"
instead of "to-chk" while rsync is still listing the source (its total may still grow).

vhpi shows none of rsync's own rate and time: rsync labels rates "MB/s" (mixing units
with vhpi's MiB), and its time field counts up with the time taken. Instead CopyProgress
follows the copy as a whole over its rsync runs ("passes": one per folder depth of the
changed paths, each counting again from 0), in times the caller passes in, and works out
its own rate (over the last few seconds) and time left (bytes left / that rate, shown only
once both are known). Redraws decides when the line may be drawn again. No IO, no clock.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from vhpi.decide.units import human_bytes

_PROGRESS = re.compile(rb"^\s*([\d,.]+)\s+(\d{1,3})%\s+(\S+/s)\s+(\d+:\d{2}:\d{2})"
                       rb"(?:\s+\(xfr#\d+,\s*(ir|to)-chk=\d+/\d+\))?")

#: The first line of rsync's --stats report (vhpi always asks for it): the run is over.
_STATS_START = re.compile(rb"^\s*Number of files: ")


@dataclass(frozen=True)
class Reading:
    """What vhpi uses of one progress2 line: bytes copied in this rsync run, rsync's percent,
    and whether rsync said it is still listing the source (ir-chk: True, to-chk: False,
    no counts on the line: None)."""

    copied: int
    percent: int
    listing: Optional[bool] = None


def parse_reading(line: bytes) -> Optional[Reading]:
    """Return the Reading in one rsync output line, or None when it is not a progress line."""
    found = _PROGRESS.match(line)
    if not found:
        return None
    digits = found.group(1).replace(b",", b"").split(b".")[0]
    if not digits.isdigit():
        return None
    check = found.group(5)
    return Reading(int(digits), min(int(found.group(2)), 100), None if check is None else check == b"ir")


def ends_run(line: bytes) -> bool:
    """True for the line that starts rsync's --stats report: its progress lines are over."""
    return bool(_STATS_START.match(line))


# ---------------------------------------------------------------- the copy as a whole

@dataclass(frozen=True)
class View:
    """What the line shows. copied: bytes over all passes so far; total: the whole copy's
    bytes, when the caller said (then percent is of the whole copy, else of pass
    `pass_number`'s run alone); rate in bytes a second and eta in seconds, None until known."""

    copied: int
    percent: int
    pass_number: int = 1
    total: Optional[int] = None
    rate: Optional[float] = None
    eta: Optional[float] = None


class CopyProgress:
    """The progress of one copy of one or more rsync passes, from their progress2 readings
    at times (seconds, any monotonic clock) the caller passes in.

    A pass ends at end_pass() (rsync's --stats report began), or when a reading counts fewer
    bytes than the one before (a new rsync started at 0). Bytes add up over the passes.

    The rate is over the last RATE_WINDOW seconds of the whole copy (gaps between passes
    included: they are part of the time the copy takes), known once its readings span
    MIN_SPAN seconds. Bytes left: of `total` when the caller gave it (expect), else of this
    pass, whose total follows from rsync's percent once rsync has listed everything: the
    percent is floor(100 * copied / run total), so each reading bounds the run's total, and
    the least upper bound so far is taken. It only ever shrinks, so at a steady rate the
    time left never grows.
    """

    RATE_WINDOW = 10.0
    MIN_SPAN = 0.5
    SAMPLE_EVERY = 0.1

    def __init__(self, total: Optional[int] = None):
        self.total = total
        self.done = 0             # bytes of the finished passes
        self.pass_number = 0      # 0: no reading yet
        self.pass_over = False
        self.latest: Optional[Reading] = None
        self.listing = False      # this pass's rsync still lists the source
        self.bounds: Optional[Tuple[float, float]] = None   # this pass's run total: (low, high)
        self.samples: List[Tuple[float, int]] = []           # (time, bytes of the whole copy)

    def expect(self, total: Optional[int]) -> None:
        """Say how many bytes the whole copy will copy (None: not known)."""
        self.total = total

    def end_pass(self) -> None:
        """The current pass's rsync has finished reporting progress."""
        if self.latest is not None:
            self.pass_over = True

    @property
    def copied(self) -> int:
        return self.done + (self.latest.copied if self.latest else 0)

    def add(self, reading: Reading, now: float) -> None:
        """Take one progress2 reading, read at `now`."""
        if self.latest is None or self.pass_over or reading.copied < self.latest.copied:
            if self.latest is not None:
                self.done += self.latest.copied
            self.pass_number += 1
            self.pass_over, self.listing, self.bounds = False, False, None
        if reading.listing is not None:
            self.listing = reading.listing
        self.latest = reading
        self._bound_run_total(reading)
        self._sample(now)

    def _bound_run_total(self, reading: Reading) -> None:
        if self.listing:  # rsync's total may still grow
            self.bounds = None
            return
        copied, percent = reading.copied, reading.percent
        if percent >= 100:
            low = high = float(copied)
        else:
            low = max(float(copied), 100.0 * copied / (percent + 1))
            high = 100.0 * copied / percent if percent else math.inf
        if self.bounds is not None:
            merged = (max(low, self.bounds[0]), min(high, self.bounds[1]))
            if merged[0] <= merged[1]:
                low, high = merged
            # else rsync's total changed: start again from this reading
        self.bounds = (low, high)

    def _sample(self, now: float) -> None:
        sample = (now, self.copied)
        if len(self.samples) >= 2 and now - self.samples[-2][0] < self.SAMPLE_EVERY:
            self.samples[-1] = sample
        else:
            self.samples.append(sample)
        while len(self.samples) > 2 and self.samples[1][0] <= now - self.RATE_WINDOW:
            self.samples.pop(0)

    def rate(self) -> Optional[float]:
        """Bytes a second over the last RATE_WINDOW seconds, or None while not known."""
        if len(self.samples) < 2:
            return None
        (start, first), (end, last) = self.samples[0], self.samples[-1]
        if end - start < self.MIN_SPAN:
            return None
        return max(0.0, (last - first) / (end - start))

    def bytes_left(self) -> Optional[float]:
        """Bytes left of the whole copy (when its total is known) or else of this pass."""
        if self.latest is None:
            return None
        if self.total is not None:
            return float(max(0, self.total - self.copied))
        if self.bounds is None or math.isinf(self.bounds[1]):
            return None
        return max(0.0, self.bounds[1] - self.latest.copied)

    def view(self) -> Optional[View]:
        """What the line shows now, or None before the first reading."""
        if self.latest is None:
            return None
        rate, left = self.rate(), self.bytes_left()
        eta = left / rate if rate and left is not None else None
        if left == 0:
            eta = 0.0
        if self.total is not None:
            total = max(self.total, self.copied)
            percent = 100 if self.copied >= total else int(100 * self.copied / total)
            return View(self.copied, percent, self.pass_number, total, rate, eta)
        return View(self.copied, self.latest.percent, self.pass_number, None, rate, eta)


def format_duration(seconds: float) -> str:
    """Return a time left as h:mm:ss, whole seconds rounded up (0:00:00 only when done)."""
    whole = max(0, math.ceil(seconds - 1e-9))
    return f"{whole // 3600}:{whole // 60 % 60:02}:{whole % 60:02}"


def format_line(job_name: str, view: View) -> str:
    """Return the line vhpi shows on a terminal, e.g.
    `job pi: 38.2 MiB of 80.0 MiB copied, 47%, 9.3 MiB/s, ETA 0:00:05`, or, without the
    whole copy's total, from the second pass on: `job pi: 38.2 MiB copied, pass 2: 45%, …`."""
    size = human_bytes(view.copied)
    if view.total is not None:
        parts = [f"{size} of {human_bytes(view.total)} copied", f"{view.percent}%"]
    elif view.pass_number > 1:
        parts = [f"{size} copied", f"pass {view.pass_number}: {view.percent}%"]
    else:
        parts = [f"{size} copied", f"{view.percent}%"]
    if view.rate is not None:
        parts.append(f"{human_bytes(view.rate)}/s")
    if view.eta is not None:
        parts.append(f"ETA {format_duration(view.eta)}")
    return f"job {job_name}: " + ", ".join(parts)


class Redraws:
    """When the line may be drawn again: at most once every `every` seconds, except the
    state at the end of a pass (it may be the copy's last), which may follow at once,
    unless an end of a pass was drawn less than `every` seconds before."""

    def __init__(self, every: float = 0.25):
        self.every = every
        self.last: Optional[float] = None
        self.last_end: Optional[float] = None

    def due(self, now: float, end_of_pass: bool = False) -> bool:
        """May the line be drawn at `now`?"""
        if self.last is None or now - self.last >= self.every:
            return True
        return end_of_pass and (self.last_end is None or now - self.last_end >= self.every)

    def drawn(self, now: float, end_of_pass: bool = False) -> None:
        """The line was drawn at `now`."""
        self.last = now
        if end_of_pass:
            self.last_end = now
