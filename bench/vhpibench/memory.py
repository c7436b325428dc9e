"""Peak memory, in runs that are not timed: vhpi's own (from its debug.log) and that of
its rsync processes (the real rsync run under GNU time by a wrapper first in PATH)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Dict, Optional, Sequence, Tuple

from .results import Results
from .plan import INTERVALS, KEEP
from .report import kib_text
from .tools import Vhpi, remove_tree_fast
from .trees import Tree, change_one_percent, generate_tree

RSYNC_WRAPPER = """#!/bin/sh
# the benchmark's rsync: the real one under GNU time, which appends its peak RSS (KiB)
exec {time} -a -o "$VHPI_BENCH_RSYNC_RSS" -f %M {rsync} "$@"
"""


def rsync_measuring_env(tool: Vhpi, work: str) -> Optional[Dict[str, str]]:
    """Return `tool`'s environment with an rsync first in PATH that records its peak RSS
    under GNU time (a 30 KiB C program, so the memory Linux charges to rsync at exec is
    time's, not the benchmark's); None when /usr/bin/time is missing."""
    gnu_time, rsync = "/usr/bin/time", shutil.which("rsync")
    if not os.access(gnu_time, os.X_OK) or rsync is None:
        return None
    folder = os.path.join(work, "rsync-rss")
    os.makedirs(folder, exist_ok=True)
    wrapper = os.path.join(folder, "rsync")
    with open(wrapper, "w", encoding="utf-8") as handle:
        handle.write(RSYNC_WRAPPER.format(time=gnu_time, rsync=rsync))
    os.chmod(wrapper, 0o755)
    return {**tool.env, "PATH": folder + os.pathsep + tool.env.get("PATH", os.defpath),
            "VHPI_BENCH_RSYNC_RSS": os.path.join(folder, "peaks")}


def largest_peak(lines: Sequence[str]) -> Optional[int]:
    """Given the lines GNU time appended (one %M per rsync), return the largest, or None."""
    return max((int(line) for line in lines if line.strip().isdigit()), default=None)


def measured_run(tool: Vhpi, env: Dict[str, str], intervals: Sequence[str]) -> Tuple[Optional[int], Optional[int]]:
    """Run vhpi once with `intervals` due under `env` (from rsync_measuring_env); return
    (vhpi's peak RSS, the largest peak RSS of its rsync processes) in KiB."""
    peaks = env["VHPI_BENCH_RSYNC_RSS"]
    if os.path.exists(peaks):
        os.unlink(peaks)
    tool.set_due(intervals)
    saved, tool.env = tool.env, env
    try:
        tool.run(intervals)
    finally:
        tool.env = saved
    with open(peaks, encoding="utf-8") as handle:
        rsync_peak = largest_peak(handle.readlines())
    return (tool.memory[0] if tool.memory else None), rsync_peak


def measure_memory(tool: Vhpi, tree: Tree, work: str, results: Results) -> None:
    """Measure vhpi's and rsync's peak memory (unmeasured time) in the two heavy runs of a
    steady-state destination: 1 % changed with hourly due (two rsync passes, the oldest
    recycled) and nothing changed with three intervals due; store them in results.peaks."""
    env = rsync_measuring_env(tool, work)
    if env is None:
        print("  memory: skipped, needs GNU time (apt-get install time)", flush=True)
        return
    change_one_percent(tree)
    runs = (("1 % changed, hourly due, oldest recycled", ("hourly",)),
            ("nothing changed, 3 intervals due", tuple(INTERVALS)))
    for title, intervals in runs:
        results.peaks[(tree.label(), title)] = peak = measured_run(tool, env, intervals)
        print(f"  memory, {title}: vhpi {kib_text(peak[0])}, rsync {kib_text(peak[1])}", flush=True)


def bench_memory_only(size: int, work: str, env: Dict[str, str], python: str, results: Results) -> None:
    """vhpi alone on a tree of `size` files, for memory only (no timing, no other tools):
    the first backup, then hourly filled to its keep count, then 1 % changed with the oldest
    hourly recycled (two rsync passes listing size/100 changes), then the daily snapshot
    linked early while rsync looks (vhpi.act.head_start). Stores results.peaks."""
    tree = Tree(f"memory{size}", os.path.join(work, "src", f"memory{size}"), size, False)
    print(f"\n== memory only: tree {tree.label()} ({tree.path})", flush=True)
    results.generation[tree.name] = generate_tree(tree)
    print(f"  generated in {results.generation[tree.name]:.1f} s", flush=True)
    tool = Vhpi(tree, work, env, python)
    tool.prepare()
    measuring = rsync_measuring_env(tool, work)
    if measuring is None:
        print("  skipped: needs GNU time (apt-get install time)", flush=True)
        return
    os.makedirs(tool.first_copy())
    peak = measured_run(tool, measuring, ("hourly",))
    results.peaks[(tree.label(), "first backup (one rsync pass)")] = peak
    for number in range(1, KEEP):
        subprocess.run(["cp", "-al", tool.snapshot("hourly", 0), tool.snapshot("hourly", number)], check=True)
    runs = (("1 % changed, hourly due, oldest recycled", ("hourly",)),
            ("nothing changed, daily due, linked early", ("daily",)))
    for title, intervals in runs:
        if intervals == ("hourly",):
            change_one_percent(tree)
        started = time.perf_counter()
        results.peaks[(tree.label(), title)] = peak = measured_run(tool, measuring, intervals)
        print(f"  {title}: vhpi {kib_text(peak[0])}, rsync {kib_text(peak[1])} "
              f"({time.perf_counter() - started:.1f} s)", flush=True)
    remove_tree_fast(os.path.join(work, "dest", tree.name))
    remove_tree_fast(tree.path)
