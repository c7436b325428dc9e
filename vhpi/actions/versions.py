"""`vhpi versions JOB PATH [--json]`: each distinct version of a file or folder across the
job's snapshots, oldest first, with the snapshots that hold it, its size, its modification
time and when it was backed up. What counts as distinct: vhpi.decide.versions; how the
snapshots are looked at (one lookup per snapshot for a file): vhpi.act.version_lookup.
`vhpi restore JOB vN PATH` restores version N (vhpi.actions.restore).

Exit codes: 0 done; 1 PATH is in no snapshot, the destination is not there (the disk is
not mounted), or a snapshot cannot be read; 2 usage (an unknown job, a PATH with '..').
"""

from __future__ import annotations

import argparse
import json
import sys

from vhpi.act.destination import destination_problem, known_destinations
from vhpi.act.layout import Layout
from vhpi.act.version_lookup import find_versions, folder_sizes
from vhpi.config.model import Config
from vhpi.decide.restore_plan import (EXIT_OK, EXIT_REFUSED, EXIT_USAGE, RestoreRefused,
                                      split_restore_path)
from vhpi.decide.selection import NotFound, find_job
from vhpi.decide.versions import absent_message, versions_as_json, versions_table


def run_versions(config: Config, arguments: argparse.Namespace, home: str) -> int:
    """Given the config and the parsed arguments (job, path, json), print the versions of
    PATH; return 0, 1 (PATH in no snapshot, or a problem) or 2 (usage)."""
    try:
        job = find_job(config, arguments.job)
        parts = split_restore_path(arguments.path)
    except NotFound as error:
        return _fail(str(error), EXIT_USAGE)
    except RestoreRefused as refusal:
        return _fail(str(refusal), refusal.code)
    problem = destination_problem(Layout(job.destination),
                                  job.destination in known_destinations(home))
    if problem:
        return _fail(f"job {job.name}: {problem}", EXIT_REFUSED)
    try:
        found = find_versions(job, config.intervals, parts)
        sizes = folder_sizes(found.versions)
    except RestoreRefused as refusal:
        return _fail(str(refusal), refusal.code)
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        return _fail(f"{error.strerror or error}{where}", EXIT_REFUSED)
    typed = "/".join(parts)
    if not found.versions:
        return _fail(absent_message(typed, job.name, len(found.looks)), EXIT_REFUSED)
    if getattr(arguments, "json", False):
        print(json.dumps(versions_as_json(job.name, typed, found.versions, len(found.looks), sizes),
                         indent=1))
    else:
        for line in versions_table(job.name, typed, found.versions, len(found.looks), sizes):
            print(line)
    return EXIT_OK


def _fail(message: str, code: int) -> int:
    print(f"vhpi versions: {message}", file=sys.stderr)
    return code
