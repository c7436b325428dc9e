"""`vhpi diff [JOB] A B [--json]`: what was added, removed and changed from A to B.

A and B name snapshots (`hourly.1`, `daily.0`, `latest` or `backup.latest`) or `source`,
the job's source folder; A is taken as the older side: `+` is in B only, `-` in A only.

Between two snapshots, two entries that are the same inode (vhpi hard-links unchanged
files from snapshot to snapshot) are unchanged without even an lstat; only the others are
compared (type, size, mtime in nanoseconds, permissions, owner, group, symlink target).
Against the source the inodes always differ, so every entry is lstat'ed on both sides and
compared like rsync's quick check: type, size, mtime in whole seconds, permissions and
symlink target (not owner and group: a backup made without root keeps no owners). Paths
the job excludes are left out on both sides. No file content is read on either side.

Terminal output, streamed as the walk finds them, one line per path in name order:
`+ path` added, `- path` removed, `M path` content changed (size, mtime, target),
`m path` metadata only (permissions, owner, group). Folders end in `/`. An added or
removed folder is one line, with the number and size of the files below it; the summary
counts those files too. A path that changed kind (a folder became a file) is `-` then `+`.
Names are printed escaped (see vhpi.decide.tree_compare.printable_path).

`--json` prints one object once the walk is done: {"job", "a", "b", "added": [...],
"removed": [...], "changed": [...], "summary": {...}}. Memory is O(changes): the lists
hold one entry per line the terminal output would have, never the unchanged files, and a
whole added or removed folder is one entry.

Exit codes: 0 done; 1 a job or snapshot that does not exist, a source that is not there,
or a folder that could not be read (the diff is then incomplete; stderr says where);
2 usage (not two or three names, or no job named while the config has several).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Callable, Dict, List, Optional, Tuple

from vhpi.act.inventory import list_snapshots
from vhpi.act.source import source_problem
from vhpi.act.tree_walk import compare_trees
from vhpi.config.model import Config, Job
from vhpi.decide.exclude_match import compile_excludes
from vhpi.decide.selection import NotFound, find_job, find_snapshot
from vhpi.decide.tree_compare import (ADDED, REMOVED, Change, DiffTally, change_as_json,
                                      format_change, format_summary, printable_path)

SOURCE = "source"
USAGE = ("usage: vhpi diff [JOB] A B [--json]\n"
         "  A, B: snapshots such as hourly.1 hourly.0, 'latest', or 'source' for the job's source")
EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2

#: Seconds diff waits for the source to answer before it walks it (a hung share is
#: reported, not waited on; one that hangs later, during the walk, is not covered).
LOOK_TIMEOUT = 5.0


class _Failed(Exception):
    """Why the diff cannot start, with its exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def run_diff(config: Config, arguments, home: str) -> int:
    """Print the diff asked for by `arguments` (names, json); return the exit code."""
    try:
        job, (name_a, root_a), (name_b, root_b) = _resolve(config, arguments.names)
    except _Failed as failure:
        print(f"vhpi diff: {failure}", file=sys.stderr)
        return failure.code
    quick = SOURCE in (name_a, name_b)
    skip = compile_excludes(job.excludes) if quick else None
    problems: List[bytes] = []
    changes = compare_trees(os.fsencode(root_a), os.fsencode(root_b), quick, skip,
                            _reporter(problems))
    try:
        if arguments.json:
            _print_json(job.name, name_a, name_b, changes)
        else:
            _print_lines(changes)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK
    except OSError as error:
        print(f"vhpi diff: cannot read {_error_path(error)}: {error.strerror}", file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_PROBLEM if problems else EXIT_OK


def _resolve(config: Config, names: List[str]) -> Tuple[Job, Tuple[str, str], Tuple[str, str]]:
    """Return the job and the (name, folder) of sides A and B named on the command line;
    raise _Failed."""
    if len(names) not in (2, 3):
        raise _Failed(f"name two snapshots (and maybe the job first)\n{USAGE}", EXIT_USAGE)
    job_name = names[0] if len(names) == 3 else None
    try:
        job = find_job(config, job_name)
    except NotFound as error:
        raise _Failed(f"{error}\n{USAGE}" if job_name is None else str(error),
                      EXIT_USAGE if job_name is None else EXIT_PROBLEM) from None
    snapshots = list_snapshots(job, config.intervals)
    sides = []
    for name in names[-2:]:
        if name == SOURCE:
            problem = source_problem(job.source, min(job.source_timeout, LOOK_TIMEOUT))
            if problem:
                raise _Failed(problem, EXIT_PROBLEM)
            sides.append((SOURCE, job.source))
            continue
        try:
            snapshot = find_snapshot(snapshots, name)
        except NotFound as error:
            raise _Failed(f"job {job.name}: {error}", EXIT_PROBLEM) from None
        sides.append((snapshot.name, snapshot.path))
    return job, sides[0], sides[1]


def _reporter(problems: List[bytes]) -> Callable[[bytes, OSError], None]:
    """Return a problem callback that warns on stderr and remembers the path."""
    def report(path: bytes, error: OSError) -> None:
        problems.append(path)
        print(f"vhpi diff: cannot read {_error_path(error, path)}: {error.strerror}; "
              "left out of the diff", file=sys.stderr)
    return report


def _error_path(error: OSError, fallback: bytes = b"") -> str:
    path = error.filename if error.filename is not None else fallback
    return printable_path(os.fsencode(path))


def _print_lines(changes) -> None:
    """Print each change as it comes, then the summary."""
    write = _text_writer()
    tally = DiffTally()
    for change in changes:
        tally.count(change)
        write(format_change(change))
    write(format_summary(tally))
    sys.stdout.flush()


def _print_json(job: str, name_a: str, name_b: str, changes) -> None:
    """Collect the changes (O(changes) memory) and print them as one JSON object."""
    tally = DiffTally()
    lists: Dict[str, List[dict]] = {"added": [], "removed": [], "changed": []}
    for change in changes:
        tally.count(change)
        lists[_list_for(change)].append(change_as_json(change))
    result = {"job": job, "a": name_a, "b": name_b, **lists, "summary": tally.as_dict()}
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _list_for(change: Change) -> str:
    return {ADDED: "added", REMOVED: "removed"}.get(change.marker, "changed")


def _text_writer() -> Callable[[str], None]:
    """Return write(line) that never fails on a character the terminal's encoding lacks."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"

    def write(line: str) -> None:
        sys.stdout.write(line.encode(encoding, "backslashreplace").decode(encoding) + "\n")
    return write


def _silence_stdout() -> None:
    """After a closed pipe (`vhpi diff ... | head`): send what is left to /dev/null so that
    Python's final flush does not complain."""
    devnull: Optional[int] = None
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        if devnull is not None:
            os.close(devnull)
