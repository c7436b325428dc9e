"""`vhpi list [JOB]`: a job's snapshots with the time each was taken (vhpi's records;
'unknown' for snapshots older than those records), newest first per interval."""

from __future__ import annotations

import argparse
import json
import sys
import time

from vhpi.act.destination import destination_problem, known_destinations
from vhpi.act.inventory import list_snapshots
from vhpi.act.layout import Layout
from vhpi.config.model import Config
from vhpi.decide.selection import NotFound, find_job
from vhpi.decide.units import format_moment, relative_moment


def run_list(config: Config, arguments: argparse.Namespace, home: str) -> int:
    """Print the snapshots of the job named in `arguments.job`; return 0, or 1 when there
    is no such job."""
    try:
        job = find_job(config, arguments.job)
    except NotFound as error:
        print(f"vhpi list: {error}", file=sys.stderr)
        return 1
    problem = destination_problem(Layout(job.destination), job.destination in known_destinations(home))
    if problem:
        print(f"vhpi list: job {job.name}: {problem}", file=sys.stderr)
        return 1
    snapshots = list_snapshots(job, config.intervals)
    if getattr(arguments, "json", False):
        print(json.dumps({"job": job.name, "destination": job.destination,
                          "snapshots": [{"name": s.name, "interval": s.interval, "number": s.number,
                                         "taken_at": s.taken_at, "path": s.path} for s in snapshots]},
                         indent=1))
        return 0
    now = time.time()
    print(f"job {job.name}: {job.destination}")
    if not snapshots:
        print("  no snapshots yet")
    width = max((len(s.name) for s in snapshots), default=0)
    for snapshot in snapshots:
        taken = ("unknown time" if snapshot.taken_at is None else
                 f"{format_moment(snapshot.taken_at)}  ({relative_moment(snapshot.taken_at, now)})")
        if snapshot.interval is None:
            taken = "the mirror the next snapshot is made from"
        print(f"  {snapshot.name:<{width}}  {taken}")
    return 0
