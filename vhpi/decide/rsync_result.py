"""What an rsync exit code and its --stats lines mean for a job."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

_MEANINGS = {
    1: "rsync rejected the options (syntax or usage error)",
    2: "protocol incompatibility",
    3: "errors selecting input/output files or folders",
    5: "error starting the client-server protocol",
    10: "error in socket I/O",
    11: "error in file I/O",
    12: "error in the rsync protocol data stream",
    13: "errors with program diagnostics",
    14: "error in IPC code",
    20: "rsync was interrupted (signal)",
    22: "rsync could not allocate memory",
    23: "some files could not be copied (unreadable files or attribute errors)",
    25: "rsync stopped at its --max-delete limit",
    30: "timeout in data send/receive",
    35: "timeout waiting for daemon connection",
    127: "rsync is not installed",
}
_DISK_FULL = ("No space left on device", "Disk quota exceeded")
_LINK_LIMIT = ("Too many links",)


@dataclass(frozen=True)
class RsyncOutcome:
    """ok: the copy is complete enough to snapshot. warning/problem: text for info.log."""

    ok: bool
    warning: Optional[str] = None
    problem: Optional[str] = None


def disk_full_in(lines: Iterable[str]) -> bool:
    """True when rsync's messages say the destination ran out of space or inodes."""
    return any(marker in line for line in lines for marker in _DISK_FULL)


#: rsync's message about one file, e.g. `rsync: [sender] send_files failed to open
#: "/src/a.txt": Permission denied (13)` or `rsync: opendir "/src/d" failed: Permission
#: denied (13)` (3.2.7 and 3.5.0 alike; older ones without "[sender] ").
_FILE_ERROR = re.compile(r'^rsync: (?:\[\w+\] )?[^"]*"(?P<path>.+)"[^"]*: (?P<reason>[^:"]+?) \(\d+\)$')
#: how many of the files rsync could not copy a job's failure names
NAMED_FILES = 3


def failed_files(lines: Iterable[str], prefixes: Sequence[str] = ()) -> List[Tuple[str, str]]:
    """Given rsync's error lines and the folder paths rsync was given (source, reader,
    destination), return [(path, reason)] of the files its messages name, in order, each
    once, with the first matching prefix taken off the path."""
    found: List[Tuple[str, str]] = []
    for line in lines:
        match = _FILE_ERROR.match(line)
        if not match:
            continue
        path = match.group("path")
        for prefix in prefixes:
            folder = prefix.rstrip("/") + "/"
            if path.startswith(folder):
                path = path[len(folder):] or "."
                break
        entry = (path, match.group("reason"))
        if entry not in found:
            found.append(entry)
    return found


def name_failed_files(found: Sequence[Tuple[str, str]]) -> str:
    """Return the words naming the first NAMED_FILES of `found` ((path, reason) pairs) for
    a job's failure, or "" when there are none."""
    if not found:
        return ""
    named = ", ".join(f"{path} ({reason})" for path, reason in found[:NAMED_FILES])
    more = f" and {len(found) - NAMED_FILES} more" if len(found) > NAMED_FILES else ""
    return f": {named}{more}"


def classify_exit(code: int, messages: Iterable[str] = (),
                  failed: Sequence[Tuple[str, str]] = ()) -> RsyncOutcome:
    """Given rsync's exit code, its last messages and the files its messages said it could
    not copy (failed_files), return what it means for the job.

    0 is success; 24 (files vanished while copying, normal on a live source) is success with
    a warning; every other code, 23 included, is a failure: nothing is rotated. A code 23
    names the first files and points to debug.log, which holds all of rsync's messages.
    """
    messages = list(messages)
    if code == 0:
        return RsyncOutcome(True)
    if code == 24:
        return RsyncOutcome(True, warning="some files vanished while they were copied (rsync code 24)")
    if disk_full_in(messages):
        return RsyncOutcome(False, problem=f"the destination disk is full (rsync code {code})")
    if any(marker in line for line in messages for marker in _LINK_LIMIT):
        return RsyncOutcome(False, problem=f"a file has reached the file system's hard-link limit (rsync code {code})")
    if code < 0:
        return RsyncOutcome(False, problem=f"rsync was killed by signal {-code}")
    if code == 23 and failed:
        return RsyncOutcome(False, problem=(f"rsync failed with code 23: some files could not be "
                                            f"copied{name_failed_files(failed)} (all of rsync's "
                                            f"messages are in debug.log)"))
    meaning = _MEANINGS.get(code, "unknown error")
    return RsyncOutcome(False, problem=f"rsync failed with code {code}: {meaning}")


def is_error_line(line: str) -> bool:
    """True for a line where rsync reports a problem with one file or with the run."""
    return line.startswith("rsync: ") or line.startswith("rsync error: ")


def is_missing_source_line(line: str) -> bool:
    """True for rsync's report that a path it was told to copy is not what the dry run saw:
    it (or one of its folders) is gone or is no folder now, or a folder turned into
    something else that cannot take the folder's place while it still has files."""
    if line.startswith("could not make way for new "):
        return True
    return (line.startswith("rsync: ") and "link_stat" in line
            and ("No such file or directory" in line or "Not a directory" in line))


def classify_copy_pass(code: int, messages: Iterable[str], missing: int, other_errors: int,
                       failed: Sequence[Tuple[str, str]] = ()) -> RsyncOutcome:
    """The copy pass gets the paths the dry run listed; a path that vanished from the source
    in between makes rsync exit 23 (link_stat failed). When that is the only kind of error,
    the copy is complete for the source as it now is: success, with a warning."""
    if code == 23 and missing and not other_errors:
        return RsyncOutcome(True, warning=f"{missing} file(s) vanished from the source (or "
                                          f"changed kind) while they were being copied")
    return classify_exit(code, messages, failed)


_STAT_LINE = re.compile(r"^(Number of files|Number of created files|Number of deleted files|"
                        r"Number of regular files transferred|Total file size|"
                        r"Total transferred file size|Total bytes sent|Total bytes received): ([\d,]+)(?![\d.,A-Za-z])")


def parse_stats(lines: Iterable[str]) -> Dict[str, int]:
    """Return rsync's --stats figures by their label, e.g. {'Total bytes sent': 1234}.

    Figures in human-readable form ("3.00M") are left out rather than misread; vhpi asks
    rsync for plain numbers with --no-human-readable."""
    stats = {}
    for line in lines:
        match = _STAT_LINE.match(line.strip())
        if match:
            stats[match.group(1)] = int(match.group(2).replace(",", ""))
    return stats
