"""`--dry-run`: say what a run would do, and change nothing (one note goes to info.log)."""

from __future__ import annotations

import os
import shlex
from typing import Callable, List, Mapping, Optional

from vhpi.act.destination import destination_problem, known_destinations
from vhpi.act.layout import Layout
from vhpi.act.source import source_problem
from vhpi.act.state import StateError, read_snapshot_times
from vhpi.config.model import HOOK_NAMES, Config, Hooks, Job
from vhpi.decide.due import clock_is_behind, due_intervals
from vhpi.decide.ping import url_host
from vhpi.decide.rotation import describe_plan, plan_rotation
from vhpi.decide.rsync_argv import dry_run_argv, transfer_argv
from vhpi.decide.snapshot_names import snapshot_numbers
from vhpi.logs import append_note

#: Seconds a dry run waits for a source to answer (a hung share is reported, not waited on).
LOOK_TIMEOUT = 5.0


def run_dry_run(config: Config, home: str, now: float, say: Callable[[str], None]) -> int:
    """Describe each job's run through `say`; return 1 when some job would fail, else 0."""
    for line in describe_watch(config.hooks, config.healthcheck_url):
        say(f"whole run: {line}")
    results = [_describe_job(job, config.intervals, home, now, say) for job in config.jobs]
    append_note(home, "dry run (--dry-run): nothing was changed")
    return 0 if all(results) else 1


def describe_watch(hooks: Hooks, url: Optional[str]) -> List[str]:
    """Return what a run would do for `hooks` and healthcheck `url` (nothing is run or sent)."""
    lines = [f"would run the {name} hook: {getattr(hooks, name)}"
             for name in HOOK_NAMES if getattr(hooks, name)]
    if url:
        lines.append(f"would ping {url_host(url)}: start, then success or fail")
    return lines


def _describe_job(job: Job, intervals: Mapping[str, int], home: str, now: float,
                  say: Callable[[str], None]) -> bool:
    layout = Layout(job.destination)
    say(f"job {job.name}: {job.source} -> {job.destination}")
    problem = destination_problem(layout, job.destination in known_destinations(home))
    if problem:
        say(f"  would fail: {problem}")
        return False
    try:
        times = read_snapshot_times(layout) or {}
    except StateError as error:
        say(f"  would fail: {error}")
        return False
    if clock_is_behind(times, now):
        say("  would fail: the clock is behind the newest recorded snapshot")
        return False
    due = due_intervals(job.active_keep_counts(), intervals, times, now)
    if not due:
        say("  nothing due")
        return True
    say(f"  due: {', '.join(due)}")
    for line in describe_watch(job.hooks, job.healthcheck_url):
        say(f"  {line}")
    say(f"  would check that host {job.source_ip} answers")
    problem = source_problem(job.source, min(job.source_timeout, LOOK_TIMEOUT), job.destination)
    say(f"  source: {problem or 'sentinel present'}")
    say("  would run: " + shlex.join(dry_run_argv(job.rsync_options, job.excludes, job.source, layout.latest)))
    say("  then:      " + shlex.join(transfer_argv(job.rsync_options, job.excludes, job.source,
                                                   layout.latest, "<changed paths>", "<work>/rsync-tmp")))
    names = os.listdir(layout.root)
    for interval in due:
        plan = plan_rotation(interval, snapshot_numbers(names, interval), job.keep_counts[interval])
        say(f"  rotation: {describe_plan(plan)}")
    return problem is None
