"""`vhpi status`: per job, every interval with its snapshots, the age of the newest, when
the next one is due, the last run's result (vhpi's own records) and the destination's free
space; a run that is working on the job now (and whether it looks stuck), a source that is
not ready (looked at in children, SOURCE_TIMEOUT seconds at most: a hung share is reported,
not waited on), and a vhpi folder that cannot be written. Reads folder names and records
only, never walks a snapshot, so it answers at once on a tree of any size. A table on a
terminal, `--json` for scripts."""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Dict, List, Optional

from vhpi.act import job_lock
from vhpi.act.destination import destination_problem, known_destinations
from vhpi.act.inventory import list_snapshots
from vhpi.act.layout import Layout
from vhpi.act.run_records import read_run_records
from vhpi.act.scrub_state import read_scrub_state
from vhpi.act.source import source_problems
from vhpi.act.state import StateError, read_snapshot_times
from vhpi.act.verify_state import read_verify_state
from vhpi.config.model import Config, Job
from vhpi.decide.due import next_due_time, stale_age, stale_limit, stale_words
from vhpi.decide.scrub_pace import cycle_share
from vhpi.decide.selection import Snapshot, intervals_by_length
from vhpi.decide.stuck import Busy, busy_verdict
from vhpi.decide.units import format_moment, human_bytes, human_duration, relative_moment


#: How long status waits for the sources to answer (all at once).
SOURCE_TIMEOUT = 3.0


def run_status(config: Config, arguments: argparse.Namespace, home: str) -> int:
    """Print the status of every job; return 0 (1 when a job's last run failed, its
    records are damaged, a run on it looks stuck, a verify found damaged files, or vhpi's
    folder cannot be written)."""
    now = time.time()
    records = read_run_records(home)
    known = known_destinations(home)
    sources = source_problems([job.source for job in config.jobs], SOURCE_TIMEOUT)
    statuses = [job_status(job, config.intervals, records.get(job.name), now, job.destination in known,
                           home, source)
                for job, source in zip(config.jobs, sources)]
    home_problem = home_writable_problem(home)
    if getattr(arguments, "json", False):
        print(json.dumps({"now": now, "home_problem": home_problem, "jobs": statuses}, indent=1))
    else:
        head = [f"PROBLEM: {home_problem}", ""] if home_problem else []
        print("\n".join(head) + "\n\n".join("\n".join(render_job_status(status, now))
                                              for status in statuses))
    return 1 if home_problem or any(
        status["problem"] or status["stale"] or (status["last_run"] or {}).get("ok") is False
        or status["verify"]["damage"]
        or (status["running"] or {}).get("stuck") for status in statuses) else 0


def home_writable_problem(home: str) -> Optional[str]:
    """Return why vhpi's folder `home` cannot take its logs and records, or None."""
    if not os.path.isdir(home):
        return None
    try:
        info = os.statvfs(home)
    except OSError as error:
        return f"vhpi's folder {home} cannot be read ({error.strerror})"
    if info.f_flag & os.ST_RDONLY or not os.access(home, os.W_OK):
        return (f"vhpi's folder {home} is not writable (a read-only file system? a worn SD card "
                f"turns read-only): runs keep no logs or records, so the last runs shown may be old")
    if info.f_bavail * info.f_frsize < FULL_BELOW_BYTES:
        return (f"the disk holding {home} is full: runs cannot keep their logs and records, so "
                f"the last runs shown may be old")
    return None


#: A vhpi folder with less free space than this cannot take a run's logs.
FULL_BELOW_BYTES = 64 << 10


def _running(home: str, job: Job, intervals: Dict[str, int]) -> Optional[dict]:
    """Return the run working on `job` now (pid, started, last sign of life, stuck), or None."""
    holder = job_lock.read_holder(home, job.destination)
    if holder is None:
        return None
    longest = max((intervals[name] for name in job.active_keep_counts()), default=None)
    verdict = busy_verdict(holder.running_for, holder.silent_for, job.source_timeout, longest)
    return {"pid": holder.pid, "started": holder.started, "silent_for": holder.silent_for,
            "stuck": verdict is Busy.SILENT, "overdue": verdict is Busy.OVERDUE}


def job_status(job: Job, intervals: Dict[str, int], record: Optional[dict], now: float,
               used_before: bool, home: str = "", source_problem: Optional[str] = None) -> dict:
    """Return one job's status as plain data (what --json prints); `used_before`: vhpi has
    made snapshots in the destination before (an empty, unmarked folder then means the
    disk is not mounted); `source_problem`: why the source is not ready now, or None."""
    layout = Layout(job.destination)
    problem, times = None, {}
    try:
        times = read_snapshot_times(layout) or {}
    except StateError as error:
        problem = str(error)
    problem = destination_problem(layout, used_before) or problem
    snapshots = list_snapshots(job, intervals)
    active = {name: intervals[name] for name in job.active_keep_counts()}
    limit = stale_limit(job.stale_after, active)
    first = (record or {}).get("first_run") if not times else None
    age = stale_age(times, now, limit, first if isinstance(first, (int, float)) else None)
    return {"job": job.name, "source": job.source, "destination": job.destination,
            "problem": problem, "source_problem": source_problem,
            "stale": None if age is None else {"age": age, "limit": limit, "has_snapshots": bool(times)},
            "running": _running(home, job, intervals) if home else None,
            "last_run": record, "free": _free_space(layout.root),
            "verify": _verify_status(job),
            "intervals": [_interval_status(name, job.keep_counts[name], intervals[name], snapshots,
                                           times.get(name), now)
                          for name in intervals_by_length(job, intervals)]}


def _verify_status(job: Job) -> dict:
    """Return what vhpi knows of the job's verifies: the last full one, damage found since,
    and where its scrub cycle stands (vhpi.act.verify_state, vhpi.act.scrub_state)."""
    state = read_verify_state(job.destination)
    scrub = read_scrub_state(job.destination) if job.scrub_every else None
    return {"last_full": state.get("last_full"), "damage": state.get("damage"),
            "scrub_every": job.scrub_every or None,
            "scrub_done": None if scrub is None else cycle_share(scrub["done"], scrub["total"],
                                                                 scrub["finished"])}


def _damage_lines(job: str, verify: dict) -> List[str]:
    """Return the PROBLEM line for damage a verify or the scrub found (see _verify_status)."""
    damage = verify.get("damage")
    if not damage:
        return []
    shown = ", ".join(damage["paths"][:3]) + (" ..." if damage["damaged"] > 3 else "")
    return [f"  PROBLEM: {damage['damaged']} damaged file(s) in the backups, found "
            f"{format_moment(damage['at'])} by the {damage['by']}: {shown}; see: vhpi verify {job}"]


def _verify_lines(job: str, verify: dict) -> List[str]:
    """Return the status lines about the last full verify and the scrub (see _verify_status)."""
    lines = []
    full = verify.get("last_full")
    if full:
        found = "no damage" if not full["damaged"] else f"{full['damaged']} damaged"
        lines.append(f"  verified: every snapshot, {format_moment(full['at'])} by the {full['by']} "
                     f"({full['files']:,} files, {human_bytes(full['bytes'])}): {found}")
    else:
        lines.append(f"  verified: never in full (vhpi verify {job}, or set scrub_every)")
    if verify.get("scrub_every"):
        done = verify.get("scrub_done")
        where = "" if done is None else f"; this cycle {done:.0f} % done"
        lines.append(f"  scrub: every byte once in {human_duration(verify['scrub_every'])}{where}")
    return lines


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
    if status.get("source_problem"):
        lines.append(f"  source: {status['source_problem']}")
    if status.get("stale"):
        stale = status["stale"]
        lines.append("  PROBLEM: " + stale_words(stale["age"], stale["limit"], stale["has_snapshots"]))
    if status.get("running"):
        lines.append("  " + _running_text(status["running"]))
    lines.extend(_damage_lines(status["job"], status["verify"]))
    lines.append("  last run: " + _last_run_text(status["last_run"], now))
    free = status["free"]
    if free:
        inodes = "" if free["inodes"] is None else f", {free['inodes']:,} inodes"
        lines.append(f"  free: {human_bytes(free['bytes'])} of {human_bytes(free['total_bytes'])}{inodes}")
    lines.extend(_verify_lines(status["job"], status["verify"]))
    lines.append(f"  {'interval':<12} {'keep':>4} {'have':>4}  {'newest':<19}  {'age':<14} next due")
    for row in status["intervals"]:
        lines.append(f"  {row['interval']:<12} {row['keep']:>4} {row['count']:>4}  "
                     f"{_moment(row['newest']):<19}  {_age(row['newest'], now):<14} {_next(row, now)}")
    return lines


def _running_text(running: dict) -> str:
    text = (f"running now: pid {running['pid']} since {format_moment(running['started'])}, last "
            f"sign of life {human_duration(running['silent_for'])} ago")
    if running["stuck"]:
        return f"PROBLEM: {text}: it looks stuck (ps -o pid,stat,wchan:30,args -p {running['pid']})"
    if running["overdue"]:
        return f"PROBLEM: {text}: longer than the job's longest interval"
    return text


#: What `vhpi status` shows for each recorded outcome (vhpi.decide.outcome.Outcome).
RESULT_WORDS = {"ok": "ok", "offline": "ok", "skipped": "ok", "failed": "FAILED",
                "stale": "STALE", "interrupted": "INTERRUPTED"}


def _last_run_text(record: Optional[dict], now: float) -> str:
    if not record:
        return "none recorded yet"
    result = RESULT_WORDS.get(record.get("outcome"), "ok" if record.get("ok") else "FAILED")
    at = record.get("at")
    when = f"{format_moment(at)} ({relative_moment(at, now)})" if isinstance(at, (int, float)) else "?"
    summary = str(record.get("summary", ""))
    for prefix in ("FAILED: ", "STALE: ", "INTERRUPTED: "):
        summary = summary[len(prefix):] if summary.startswith(prefix) else summary
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
