"""`vhpi status`: per job, every interval with its snapshots, the age of the newest, when
the next one is due, the last run's result (vhpi's own records) and the destination's free
space. Reads folder names and records only, never walks a snapshot, so it answers at once
on a tree of any size. A table on a terminal, `--json` for scripts."""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Dict, List, Optional

from vhpi.act.destination import destination_problem, known_destinations
from vhpi.act.inventory import Snapshot, intervals_by_length, list_snapshots
from vhpi.act.layout import Layout
from vhpi.act.run_records import read_run_records
from vhpi.act.state import StateError, read_snapshot_times
from vhpi.config.model import Config, Job
from vhpi.decide.due import next_due_time
from vhpi.decide.units import format_moment, human_bytes, relative_moment


def run_status(config: Config, arguments: argparse.Namespace, home: str) -> int:
    """Print the status of every job; return 0 (1 when a job's last run failed or its
    records are damaged)."""
    now = time.time()
    records = read_run_records(home)
    known = known_destinations(home)
    statuses = [job_status(job, config.intervals, records.get(job.name), now, job.destination in known)
                for job in config.jobs]
    if getattr(arguments, "json", False):
        print(json.dumps({"now": now, "jobs": statuses}, indent=1))
    else:
        print("\n\n".join("\n".join(render_job_status(status, now)) for status in statuses))
    return 1 if any(status["problem"] or (status["last_run"] or {}).get("ok") is False
                    for status in statuses) else 0


def job_status(job: Job, intervals: Dict[str, int], record: Optional[dict], now: float,
               used_before: bool) -> dict:
    """Return one job's status as plain data (what --json prints); `used_before`: vhpi has
    made snapshots in the destination before (an empty, unmarked folder then means the
    disk is not mounted)."""
    layout = Layout(job.destination)
    problem, times = None, {}
    try:
        times = read_snapshot_times(layout) or {}
    except StateError as error:
        problem = str(error)
    problem = destination_problem(layout, used_before) or problem
    snapshots = list_snapshots(job, intervals)
    return {"job": job.name, "source": job.source, "destination": job.destination,
            "problem": problem, "last_run": record, "free": _free_space(layout.root),
            "intervals": [_interval_status(name, job.keep_counts[name], intervals[name], snapshots,
                                           times.get(name), now)
                          for name in intervals_by_length(job, intervals)]}


def _interval_status(name: str, keep: int, length: int, snapshots: List[Snapshot],
                     last: Optional[float], now: float) -> dict:
    mine = [snapshot for snapshot in snapshots if snapshot.interval == name]
    due_at = next_due_time(last, length) if keep > 0 else None
    return {"interval": name, "keep": keep, "count": len(mine), "newest": last,
            "next_due": due_at, "due_now": keep > 0 and (due_at is None or due_at <= now),
            "snapshots": [{"name": s.name, "taken_at": s.taken_at} for s in mine]}


def _free_space(root: str) -> Optional[dict]:
    try:
        info = os.statvfs(root)
    except OSError:
        return None
    return {"bytes": info.f_bavail * info.f_frsize, "total_bytes": info.f_blocks * info.f_frsize,
            "inodes": info.f_favail if info.f_files else None}


def render_job_status(status: dict, now: float) -> List[str]:
    """Return the readable lines for one job's status."""
    lines = [f"job {status['job']}: {status['source']} -> {status['destination']}"]
    if status["problem"]:
        lines.append(f"  PROBLEM: {status['problem']}")
    lines.append("  last run: " + _last_run_text(status["last_run"], now))
    free = status["free"]
    if free:
        inodes = "" if free["inodes"] is None else f", {free['inodes']:,} inodes"
        lines.append(f"  free: {human_bytes(free['bytes'])} of {human_bytes(free['total_bytes'])}{inodes}")
    lines.append(f"  {'interval':<12} {'keep':>4} {'have':>4}  {'newest':<19}  {'age':<14} next due")
    for row in status["intervals"]:
        lines.append(f"  {row['interval']:<12} {row['keep']:>4} {row['count']:>4}  "
                     f"{_moment(row['newest']):<19}  {_age(row['newest'], now):<14} {_next(row, now)}")
    return lines


def _last_run_text(record: Optional[dict], now: float) -> str:
    if not record:
        return "none recorded yet"
    result = "ok" if record.get("ok") else "FAILED"
    at = record.get("at")
    when = f"{format_moment(at)} ({relative_moment(at, now)})" if isinstance(at, (int, float)) else "?"
    summary = str(record.get("summary", ""))
    summary = summary[len("FAILED: "):] if summary.startswith("FAILED: ") else summary
    return f"{when}, {result}: {summary}"


def _moment(value: Optional[float]) -> str:
    return "-" if value is None else format_moment(value)


def _age(value: Optional[float], now: float) -> str:
    return "-" if value is None else relative_moment(value, now).replace(" ago", "")


def _next(row: dict, now: float) -> str:
    if row["keep"] <= 0:
        return "off (keep 0)"
    if row["due_now"]:
        return "now (next run)"
    return f"{format_moment(row['next_due'])} ({relative_moment(row['next_due'], now)})"
