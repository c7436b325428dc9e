"""Timing the tools: the setup every tool starts from (seeded destinations at their keep
counts), timed runs in rotating order, and the checks after every run that a tool really
rotated its snapshots and copied the source."""

from __future__ import annotations

import filecmp
import os
import subprocess
import time
from typing import List, Optional, Sequence, Tuple

from .plan import IDLE_RUNS, INTERVALS, KEEP, RSYNC_OPTIONS, Case
from .report import median
from .results import Results
from .tools import Tool, ToolError, Vhpi, remove_tree_fast
from .trees import Tree, change_one_percent, sampled_indices


# --------------------------------------------------------------------------- checks

def snapshot_inodes(tool: Tool, interval: str) -> List[Optional[int]]:
    """Return the inode numbers of `<interval>.0` … `<interval>.KEEP-1` (None if missing)."""
    found = []
    for number in range(KEEP):
        try:
            found.append(os.lstat(tool.snapshot(interval, number)).st_ino)
        except FileNotFoundError:
            found.append(None)
    return found


def check_content(tool: Tool, tree: Tree) -> None:
    """Compare sampled files (bytes and mtime) of the newest hourly snapshot with the
    source; raise ToolError at the first difference or missing file."""
    newest = tool.content("hourly", 0)
    for index in sampled_indices(tree):
        relative = tree.relative(index)
        source, copy = os.path.join(tree.path, relative), os.path.join(newest, relative)
        try:
            same = (int(os.stat(source).st_mtime) == int(os.stat(copy).st_mtime)
                    and filecmp.cmp(source, copy, shallow=False))
        except OSError as error:
            raise ToolError(f"newest snapshot lacks {relative}: {error}")
        if not same:
            raise ToolError(f"newest snapshot differs from the source at {relative}")
    if not os.path.isfile(os.path.join(newest, ".backup_valid")):
        raise ToolError("newest snapshot lacks .backup_valid")


def rotation_problem(before: Sequence[Optional[int]], after: Sequence[Optional[int]]) -> Optional[str]:
    """Given an interval's snapshot inodes before and after a run (from snapshot_inodes),
    return what is wrong, or None: it must hold KEEP snapshots and have rotated (the old
    `.1` is now `.2`)."""
    if None in after:
        return f"holds fewer than {KEEP} snapshots after the run"
    if after[2] != before[1]:
        return "did not rotate"
    return None


def check_rotation(tool: Tool, interval: str, before: List[Optional[int]]) -> None:
    """Raise ToolError when `interval` of `tool` did not rotate since `before`."""
    problem = rotation_problem(before, snapshot_inodes(tool, interval))
    if problem:
        raise ToolError(f"{interval} {problem}")


def check_steady(tool: Tool, case: Case) -> None:
    """Before an expiring run every due interval must already hold KEEP snapshots."""
    for interval in case.intervals if tool.snapshots else ():
        if None in snapshot_inodes(tool, interval):
            raise ToolError(f"{interval} is not at its keep count before the run")


# --------------------------------------------------------------------------- setup

def seed_destinations(tree: Tree, tools: List[Tool], work: str) -> None:
    """Give every tool the same first full copy of the source, as hard links to one rsync'd
    copy (setup: a first full copy per tool would cost minutes of file creation and
    deletion on 100,000 files and is not what is measured; the tools only ever replace
    changed files with new inodes, so sharing unchanged ones does not matter)."""
    seed = os.path.join(work, "seed", tree.name)
    os.makedirs(os.path.dirname(seed), exist_ok=True)
    subprocess.run(["rsync", *RSYNC_OPTIONS, tree.path + "/", seed + "/"], check=True)
    for tool in tools:
        target = tool.first_copy()
        os.makedirs(os.path.dirname(target), exist_ok=True)
        subprocess.run(["cp", "-al", seed, target], check=True)
    remove_tree_fast(seed)


def fill_snapshots(tool: Tool) -> None:
    """Create every missing snapshot of every interval as a hard-linked copy of hourly.0,
    then make nothing due (a tool that keeps no snapshots gets none)."""
    for interval in INTERVALS if tool.snapshots else ():
        for number in range(KEEP):
            if not os.path.lexists(tool.snapshot(interval, number)):
                subprocess.run(["cp", "-al", tool.snapshot("hourly", 0), tool.snapshot(interval, number)],
                               check=True)
    tool.set_due(())


def reach_steady_state(tools: List[Tool], results: Results) -> List[Tool]:
    """Run each tool once for real (an incremental hourly backup onto the seeded copy), then
    fill every missing `<interval>.<n>` up to the keep count with `cp -al` of the newest
    hourly snapshot: the same hard-linked trees the tools would make from an unchanged
    source, for a fraction of the time. Record failures in `results`; return the tools
    that worked."""
    working = []
    for tool in tools:
        try:
            tool.run(("hourly",))
            fill_snapshots(tool)
            check_content(tool, tool.tree)
            working.append(tool)
        except (ToolError, subprocess.CalledProcessError) as error:
            results.failures[(tool.tree.name, "setup", tool.name)] = str(error)
            print(f"  {tool.name}: FAILED while reaching steady state: {error}", flush=True)
    return working


# --------------------------------------------------------------------------- timed runs

def timed_run(tool: Tool, case: Case) -> Tuple[float, float]:
    """Set up, run and check one backup of `tool` in `case`; return the measured seconds of
    the run and of the sync(2) right after it (run + sync: the durable time).

    Dirty pages are flushed first (os.sync, unmeasured) so that no tool pays for writing
    back another tool's data; the sync after the run flushes what the run left unwritten
    (vhpi flushes its snapshots itself, the others do not)."""
    tool.before(case)
    if case.expire:
        check_steady(tool, case)
    due = case.intervals if tool.snapshots else ()
    before = {interval: snapshot_inodes(tool, interval) for interval in due}
    os.sync()
    started = time.perf_counter()
    tool.run(case.intervals)
    ran = time.perf_counter()
    os.sync()
    synced = time.perf_counter()
    for interval in due:
        check_rotation(tool, interval, before[interval])
    check_content(tool, tool.tree)
    return ran - started, synced - ran


def rotated(items: Sequence[Tool], round_number: int) -> List[Tool]:
    """Return `items` rotated by the round number, so each tool takes each place in turn."""
    shift = round_number % len(items)
    return list(items[shift:]) + list(items[:shift])


def record_run(results: Results, tree: Tree, case: Case, tool: Tool, seconds: Tuple[float, float]) -> None:
    """Store one measured run's seconds and those of its sync (and vhpi's peak memory) in
    `results`."""
    results.seconds.setdefault((tree.name, case.key, tool.name), []).append(seconds[0])
    results.sync_seconds.setdefault((tree.name, case.key, tool.name), []).append(seconds[1])
    if isinstance(tool, Vhpi) and tool.memory:
        results.memory.setdefault((tree.name, case.key), []).append(tool.memory)


def measure_case(case: Case, tools: List[Tool], tree: Tree, repeats: int, results: Results) -> None:
    """Run one warm-up round and `repeats` measured rounds of `case`, tools in rotating
    order, printing each round (run + sync seconds); store the measured ones and any
    failure in `results`."""
    active = [tool for tool in tools if tool.name in case.tools]
    for round_number in range(repeats + 1):
        if case.change:
            change_one_percent(tree)
        line = []
        for tool in rotated(active, round_number):
            if (tree.name, case.key, tool.name) in results.failures:
                continue
            try:
                seconds = timed_run(tool, case)
            except (ToolError, OSError, subprocess.CalledProcessError) as error:
                results.failures[(tree.name, case.key, tool.name)] = str(error)
                print(f"    {tool.name}: FAILED: {error}", flush=True)
                continue
            line.append(f"{tool.name} {seconds[0]:.3f}+{seconds[1]:.3f}")
            if round_number > 0:
                record_run(results, tree, case, tool, seconds)
        label = "warm-up" if round_number == 0 else f"round {round_number}"
        print(f"    {label:8} " + ", ".join(line), flush=True)


def measure_nothing_due(tool: Vhpi, tree: Tree, results: Results) -> None:
    """Time IDLE_RUNS vhpi runs with nothing due (after one warm-up run); store the median
    in results.idle, or a failure when a run fails or makes a snapshot."""
    runs = []
    for number in range(IDLE_RUNS + 1):
        before = snapshot_inodes(tool, "hourly")
        try:
            tool.set_due(())
            started = time.perf_counter()
            tool.run(())
        except ToolError as error:
            results.failures[(tree.name, "idle", tool.name)] = str(error)
            print(f"    vhpi nothing due: FAILED: {error}", flush=True)
            return
        if number:
            runs.append(time.perf_counter() - started)
        if snapshot_inodes(tool, "hourly") != before:
            results.failures[(tree.name, "idle", tool.name)] = "made a snapshot with nothing due"
            return
    results.idle[tree.name] = median(runs)
    print(f"  vhpi with nothing due: median {results.idle[tree.name]:.3f} s of {IDLE_RUNS} runs", flush=True)
