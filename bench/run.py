#!/usr/bin/env python3
"""Benchmark vhpi against rsnapshot (cp -al and link_dest modes) and a plain rsync + cp -al floor.

Run from the repository root:  python3 bench/run.py   (see bench/README.md for the flags)

Every tool backs up the same generated source tree into its own destination on the same
file system, keeps the same number of snapshots per interval, and is brought to its steady
state (every interval holds its keep count) before anything is measured, so measured runs
really expire the oldest snapshot. Each measurement is repeated, the tools alternate in a
rotating order within each round, one unmeasured warm-up round comes first, and medians
are reported. Standard library only; Python 3.9+.
"""

from __future__ import annotations

import argparse
import datetime
import filecmp
import json
import os
import platform
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 20240611
KEEP = 4                                                   # every interval, every tool
INTERVALS = {"hourly": 3600, "daily": 86400, "weekly": 604800}
RSYNC_OPTIONS = ("-aHAXS", "--delete", "--numeric-ids")    # vhpi's default, used by all
FILES_PER_DIR = 100                                        # small files per leaf folder
DIRS_PER_TOP = 32                                          # leaf folders per top folder
LARGE_COUNT = 4
LARGE_BYTES = 32 << 20
SAMPLE_FILES = 20                                          # files compared per check
IDLE_RUNS = 11
#: 10000,100000 was the goal, but took 19.7 minutes on a 2-core VM (the 100,000-file tree
#: alone 17); 10000,30000 stays well under 15. Ask for 100,000 with --sizes.
DEFAULT_SIZES = "10000,30000"
PEAK_LINE = re.compile(rb"peak memory: vhpi (\d+) KiB, largest child[^\n]*?(\d+) KiB")


class ToolError(Exception):
    """A tool run failed or left a wrong result; the message says what."""


# --------------------------------------------------------------------------- source trees

@dataclass
class Tree:
    """One generated source tree: `count` files, either small ones in nested folders or
    LARGE_COUNT large ones. `version` counts the rounds of changes applied so far."""

    name: str
    path: str
    count: int
    large: bool
    version: int = 0
    changed: List[int] = field(default_factory=list)

    def relative(self, index: int) -> str:
        """Return the path of file `index` inside the tree."""
        if self.large:
            return f"large/file{index}.bin"
        leaf = index // FILES_PER_DIR
        return f"d{leaf // DIRS_PER_TOP:04d}/d{leaf % DIRS_PER_TOP:02d}/f{index:07d}.txt"

    def label(self) -> str:
        """Return a short human description for tables."""
        if self.large:
            return f"{self.count} × {LARGE_BYTES >> 20} MiB"
        return f"{self.count:,} small"


def small_content(index: int, version: int) -> bytes:
    """Return the few dozen bytes of small file `index` at `version` (constant length)."""
    return f"vhpi bench file {index:07d} version {version:05d}\n".encode()


def large_content(index: int, version: int) -> bytes:
    """Return the pseudo-random content of large file `index` at `version`."""
    return random.Random(SEED * 1000 + index * 100 + version).randbytes(LARGE_BYTES)


def write_file(tree: Tree, index: int, version: int, mtime: Optional[float] = None) -> None:
    """Write file `index` of `tree` at `version`, and set its mtime when one is given."""
    path = os.path.join(tree.path, tree.relative(index))
    data = large_content(index, version) if tree.large else small_content(index, version)
    with open(path, "wb") as handle:
        handle.write(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def generate_tree(tree: Tree) -> float:
    """Create the tree's folders and files (deterministic content) plus vhpi's
    `.backup_valid`; return the seconds it took."""
    started = time.perf_counter()
    os.makedirs(tree.path)
    folder, folder_fd = None, -1
    try:
        for index in range(tree.count):
            path = tree.relative(index)
            if os.path.dirname(path) != folder:
                folder = os.path.dirname(path)
                os.makedirs(os.path.join(tree.path, folder))
                if folder_fd >= 0:
                    os.close(folder_fd)
                folder_fd = os.open(os.path.join(tree.path, folder), os.O_RDONLY | os.O_DIRECTORY)
            data = large_content(index, 0) if tree.large else small_content(index, 0)
            fd = os.open(os.path.basename(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644,
                         dir_fd=folder_fd)
            os.write(fd, data)
            os.close(fd)
    finally:
        if folder_fd >= 0:
            os.close(folder_fd)
    open(os.path.join(tree.path, ".backup_valid"), "w").close()
    return time.perf_counter() - started


def change_one_percent(tree: Tree) -> None:
    """Rewrite the content and bump the mtime of a deterministic 1 % of the files (another
    1 % each round: every file whose index is congruent to the round modulo 100)."""
    tree.version += 1
    if tree.large:
        chosen = [(tree.version - 1) % tree.count]
    else:
        chosen = list(range((tree.version - 1) % 100, tree.count, 100))
    mtime = 1_600_000_000 + tree.version * 60
    for index in chosen:
        write_file(tree, index, tree.version, mtime)
    tree.changed = chosen


# --------------------------------------------------------------------------- tools

@dataclass(frozen=True)
class Case:
    """One measured situation: which intervals are due, whether 1 % of the files change
    before each round, whether the oldest snapshot expires, and which tools take part."""

    key: str
    title: str
    intervals: Tuple[str, ...]
    change: bool
    expire: bool
    tools: Tuple[str, ...]


ALL_TOOLS = ("vhpi", "rsnapshot-cp", "rsnapshot-ld", "floor")
CASES = (
    Case("a", "nothing changed, 1 interval due, oldest expires", ("hourly",), False, True, ALL_TOOLS),
    Case("b", "1 % of files changed, 1 interval due, oldest expires", ("hourly",), True, True, ALL_TOOLS),
    Case("c", "3 intervals due (hourly, daily, weekly), oldest expires", ("hourly", "daily", "weekly"),
         False, True, ALL_TOOLS),
    Case("d", "nothing changed, 1 interval due, nothing expires", ("hourly",), False, False,
         ("vhpi", "floor")),
)


def run_command(argv: Sequence[str], env: Dict[str, str], what: str) -> None:
    """Run one command; raise ToolError with its output when it does not exit 0."""
    done = subprocess.run(list(argv), env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = done.stdout.decode("utf-8", "replace").strip().splitlines()[-8:]
        raise ToolError(f"{what}: exit code {done.returncode}: " + " | ".join(tail))


class Tool:
    """A backup tool with its own destination for one tree. Subclasses say how to run one
    backup and where their snapshots' content lives."""

    name = "tool"

    def __init__(self, tree: Tree, work: str, env: Dict[str, str]):
        self.tree = tree
        self.env = env
        self.dest = os.path.join(work, "dest", tree.name, self.name)
        self.conf_dir = os.path.join(work, "conf")
        self.memory: Optional[Tuple[int, int]] = None

    def prepare(self) -> None:
        """Create the destination (and whatever config the tool needs)."""
        os.makedirs(self.dest)
        os.makedirs(self.conf_dir, exist_ok=True)

    def snapshot(self, interval: str, number: int) -> str:
        """Return the path of snapshot `<interval>.<number>`."""
        return os.path.join(self.dest, f"{interval}.{number}")

    def content(self, interval: str, number: int) -> str:
        """Return the folder inside a snapshot that mirrors the source."""
        return self.snapshot(interval, number)

    def first_copy(self) -> str:
        """Return where the tool keeps its mirror of the source (seeded before the first run)."""
        return os.path.join(self.dest, "latest")

    def before(self, case: Case) -> None:
        """Unmeasured setup before a measured run (make intervals due, free a slot)."""
        if not case.expire:
            remove_tree_fast(self.snapshot("hourly", KEEP - 1))

    def run(self, intervals: Sequence[str]) -> None:
        """Make one backup with `intervals` due (measured)."""
        raise NotImplementedError


class Vhpi(Tool):
    """vhpi run as `python -m vhpi.main --config CONF`, HOME inside the work folder."""

    name = "vhpi"

    def __init__(self, tree: Tree, work: str, env: Dict[str, str], python: str):
        super().__init__(tree, work, env)
        self.python = python
        self.config = os.path.join(self.conf_dir, f"vhpi-{tree.name}.yaml")
        self.debug_log = os.path.join(env["HOME"], ".very_hungry_pi", "debug.log")

    def prepare(self) -> None:
        """Create the marked destination and the config file."""
        super().prepare()
        open(os.path.join(self.dest, ".backup_destination"), "w").close()
        with open(self.config, "w", encoding="utf-8") as handle:
            handle.write(vhpi_config_text(self.tree.path, self.dest))

    def first_copy(self) -> str:
        """vhpi mirrors the source in DEST/backup.latest."""
        return os.path.join(self.dest, "backup.latest")

    def before(self, case: Case) -> None:
        """Rewrite DEST/.vhpi/state.json so exactly the case's intervals are due."""
        super().before(case)
        set_due(os.path.join(self.dest, ".vhpi", "state.json"), case.intervals)

    def run(self, intervals: Sequence[str]) -> None:
        """Run vhpi once (the state file decides what is due); read its peak memory.

        vhpi is started through coreutils `timeout`, a small process that forks it, as cron
        starts it through a small shell: Linux counts the parent's peak RSS at the moment of
        exec into the child's ru_maxrss, so a direct start from this (larger) benchmark
        process would report the benchmark's memory as vhpi's."""
        launcher = ["timeout", "6h"] if shutil.which("timeout") else []
        run_command([*launcher, self.python, "-m", "vhpi.main", "--config", self.config], self.env, "vhpi")
        self.memory = last_peak_memory(self.debug_log)


class Rsnapshot(Tool):
    """rsnapshot with its own config, in cp -al mode (link_dest 0) or link_dest mode."""

    def __init__(self, tree: Tree, work: str, env: Dict[str, str], link_dest: bool):
        self.name = "rsnapshot-ld" if link_dest else "rsnapshot-cp"
        super().__init__(tree, work, env)
        self.link_dest = link_dest
        self.config = os.path.join(self.conf_dir, f"{self.name}-{tree.name}.conf")

    def prepare(self) -> None:
        """Create the destination and the config, and let rsnapshot check the config."""
        super().prepare()
        lockfile = os.path.join(self.conf_dir, f"{self.name}-{self.tree.name}.pid")
        with open(self.config, "w", encoding="utf-8") as handle:
            handle.write(rsnapshot_config_text(self.tree.path, self.dest, lockfile, self.link_dest))
        run_command(["rsnapshot", "-c", self.config, "configtest"], self.env, "rsnapshot configtest")

    def content(self, interval: str, number: int) -> str:
        """rsnapshot puts the source under the backup point's name, `localhost/`."""
        return os.path.join(self.snapshot(interval, number), "localhost")

    def first_copy(self) -> str:
        """rsnapshot's newest snapshot holds the mirror under `localhost/`."""
        return self.content("hourly", 0)

    def run(self, intervals: Sequence[str]) -> None:
        """Run the standard cron sequence: the longest interval first, the lowest last."""
        for interval in sorted(intervals, key=lambda name: -INTERVALS[name]):
            run_command(["rsnapshot", "-c", self.config, interval], self.env, f"rsnapshot {interval}")


class Floor(Tool):
    """The floor: rsync into FLOORDEST/latest, then per due interval rotate names (mv),
    `rm -rf` the expired snapshot and `cp -al latest <interval>.0`."""

    name = "floor"

    def run(self, intervals: Sequence[str]) -> None:
        """rsync, then one rotation and `cp -al` per due interval (no shell)."""
        latest = os.path.join(self.dest, "latest")
        run_command(["rsync", *RSYNC_OPTIONS, self.tree.path + "/", latest + "/"], self.env, "rsync")
        for interval in intervals:
            oldest = self.snapshot(interval, KEEP - 1)
            if os.path.lexists(oldest):
                run_command(["rm", "-rf", oldest], self.env, "rm -rf")
            for number in range(KEEP - 2, -1, -1):
                if os.path.lexists(self.snapshot(interval, number)):
                    os.rename(self.snapshot(interval, number), self.snapshot(interval, number + 1))
            run_command(["cp", "-al", latest, self.snapshot(interval, 0)], self.env, "cp -al")


def vhpi_config_text(source: str, dest: str) -> str:
    """Return vhpi's YAML config for one job with every interval kept KEEP times."""
    intervals = ", ".join(f"{name}: {length}" for name, length in INTERVALS.items())
    keeps = ", ".join(f"{name}: {KEEP}" for name in INTERVALS)
    return (f"app_cfg:\n  intervals: {{{intervals}}}\n"
            f"jobs_cfg:\n"
            f"  - name: bench\n"
            f"    source_ip: '127.0.0.1'\n"
            f"    rsync_src: {json.dumps(source + '/')}\n"
            f"    rsync_dest: {json.dumps(dest)}\n"
            f"    rsync_options: '{' '.join(RSYNC_OPTIONS)}'\n"
            f"    snapshots: {{{keeps}}}\n")


def rsnapshot_config_text(source: str, dest: str, lockfile: str, link_dest: bool) -> str:
    """Return an rsnapshot config (TAB-separated) with the same options and keep counts."""
    lines = [
        ("config_version", "1.2"),
        ("snapshot_root", dest.rstrip("/") + "/"),
        ("no_create_root", "1"),
        ("cmd_cp", shutil.which("cp")),
        ("cmd_rm", shutil.which("rm")),
        ("cmd_rsync", shutil.which("rsync")),
        *[("retain", f"{name}\t{KEEP}") for name in INTERVALS],
        ("verbose", "1"),
        ("lockfile", lockfile),
        ("link_dest", "1" if link_dest else "0"),
        ("sync_first", "0"),
        ("use_lazy_deletes", "0"),
        ("rsync_short_args", RSYNC_OPTIONS[0]),
        ("rsync_long_args", " ".join(RSYNC_OPTIONS[1:])),
        ("backup", f"{source.rstrip('/')}/\tlocalhost/"),
    ]
    return "".join(f"{key}\t{value}\n" for key, value in lines)


def set_due(state_path: str, due: Sequence[str]) -> None:
    """Record the due intervals' last snapshot as two lengths ago and the others as a
    minute ago (a missing state file is left missing: a first run finds everything due)."""
    if not os.path.exists(state_path):
        return
    now = time.time()
    times = {name: now - 2 * length if name in due else now - 60
             for name, length in INTERVALS.items()}
    with open(state_path, "w", encoding="utf-8") as handle:
        json.dump({"format": 1, "snapshots": times}, handle)


def last_peak_memory(debug_log: str) -> Optional[Tuple[int, int]]:
    """Return (vhpi KiB, largest child KiB) from the last peak-memory line of debug.log."""
    try:
        with open(debug_log, "rb") as handle:
            handle.seek(max(0, os.path.getsize(debug_log) - (256 << 10)))
            found = PEAK_LINE.findall(handle.read())
    except OSError:
        return None
    return (int(found[-1][0]), int(found[-1][1])) if found else None


def remove_tree_fast(path: str) -> None:
    """Delete a folder tree with `rm -rf` (setup and cleanup only, never measured)."""
    if os.path.lexists(path):
        subprocess.run(["rm", "-rf", "--", path], check=True)


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


def sampled_indices(tree: Tree) -> List[int]:
    """Return a deterministic sample of file indices plus a few of the last changed ones."""
    picks = random.Random(SEED + tree.count).sample(range(tree.count), min(SAMPLE_FILES, tree.count))
    return sorted(set(picks) | set(tree.changed[:5]))


def check_content(tool: Tool, tree: Tree) -> None:
    """Compare sampled files (bytes and mtime) of the newest hourly snapshot with the source."""
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


def check_rotation(tool: Tool, interval: str, before: List[Optional[int]]) -> None:
    """The interval must have rotated (the old `.1` is now `.2`) and hold KEEP snapshots."""
    after = snapshot_inodes(tool, interval)
    if None in after:
        raise ToolError(f"{interval} holds fewer than {KEEP} snapshots after the run")
    if after[2] != before[1]:
        raise ToolError(f"{interval} did not rotate")


def check_steady(tool: Tool, case: Case) -> None:
    """Before an expiring run every due interval must already hold KEEP snapshots."""
    for interval in case.intervals:
        if None in snapshot_inodes(tool, interval):
            raise ToolError(f"{interval} is not at its keep count before the run")


# --------------------------------------------------------------------------- measuring

@dataclass
class Results:
    """Everything measured, by tree name, case key and tool name."""

    trees: List[Tree] = field(default_factory=list)
    generation: Dict[str, float] = field(default_factory=dict)
    seconds: Dict[Tuple[str, str, str], List[float]] = field(default_factory=dict)
    memory: Dict[Tuple[str, str], List[Tuple[int, int]]] = field(default_factory=dict)
    failures: Dict[Tuple[str, str, str], str] = field(default_factory=dict)
    idle: Dict[str, float] = field(default_factory=dict)
    #: (tree label, run description) -> (vhpi KiB, rsync KiB) from measure_memory
    peaks: Dict[Tuple[str, str], Tuple[Optional[int], Optional[int]]] = field(default_factory=dict)


def timed_run(tool: Tool, case: Case) -> float:
    """Set up, run and check one backup of `tool`; return the measured seconds.

    Only tool.run is timed. Dirty pages are flushed first (os.sync, unmeasured) so that no
    tool pays for writing back another tool's data (vhpi calls sync itself)."""
    tool.before(case)
    if case.expire:
        check_steady(tool, case)
    before = {interval: snapshot_inodes(tool, interval) for interval in case.intervals}
    os.sync()
    started = time.perf_counter()
    tool.run(case.intervals)
    seconds = time.perf_counter() - started
    for interval in case.intervals:
        check_rotation(tool, interval, before[interval])
    check_content(tool, tool.tree)
    return seconds


def rotated(items: Sequence[Tool], round_number: int) -> List[Tool]:
    """Return `items` rotated by the round number, so each tool takes each place in turn."""
    shift = round_number % len(items)
    return list(items[shift:]) + list(items[:shift])


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


def reach_steady_state(tools: List[Tool], results: Results) -> List[Tool]:
    """Run each tool once for real (an incremental hourly backup onto the seeded copy), then
    fill every missing `<interval>.<n>` up to the keep count with `cp -al` of the newest
    hourly snapshot: the same hard-linked trees the tools would make from an unchanged
    source, for a fraction of the time. Return the tools that worked."""
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


def fill_snapshots(tool: Tool) -> None:
    """Create every missing snapshot of every interval as a hard-linked copy of hourly.0."""
    for interval in INTERVALS:
        for number in range(KEEP):
            if not os.path.lexists(tool.snapshot(interval, number)):
                subprocess.run(["cp", "-al", tool.snapshot("hourly", 0), tool.snapshot(interval, number)],
                               check=True)
    if isinstance(tool, Vhpi):
        set_due(os.path.join(tool.dest, ".vhpi", "state.json"), ())


def measure_case(case: Case, tools: List[Tool], tree: Tree, repeats: int, results: Results) -> None:
    """Run one warm-up round and `repeats` measured rounds of `case`, tools in rotating order."""
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
            line.append(f"{tool.name} {seconds:.3f}")
            if round_number > 0:
                results.seconds.setdefault((tree.name, case.key, tool.name), []).append(seconds)
                if isinstance(tool, Vhpi) and tool.memory:
                    results.memory.setdefault((tree.name, case.key), []).append(tool.memory)
        label = "warm-up" if round_number == 0 else f"round {round_number}"
        print(f"    {label:8} " + ", ".join(line), flush=True)


def measure_nothing_due(tool: Vhpi, tree: Tree, results: Results) -> None:
    """Time IDLE_RUNS vhpi runs with nothing due (after one warm-up run); store the median."""
    runs = []
    for number in range(IDLE_RUNS + 1):
        set_due(os.path.join(tool.dest, ".vhpi", "state.json"), ())
        before = snapshot_inodes(tool, "hourly")
        started = time.perf_counter()
        try:
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
    results.idle[tree.name] = statistics.median(runs)
    print(f"  vhpi with nothing due: median {results.idle[tree.name]:.3f} s of {IDLE_RUNS} runs", flush=True)


# --------------------------------------------------------------------------- memory

RSYNC_WRAPPER = """#!/bin/sh
# the benchmark's rsync: the real one under GNU time, which appends its peak RSS (KiB)
exec {time} -a -o "$VHPI_BENCH_RSYNC_RSS" -f %M {rsync} "$@"
"""


def rsync_measuring_env(tool: "Vhpi", work: str) -> Optional[Dict[str, str]]:
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


def measured_run(tool: "Vhpi", env: Dict[str, str], intervals: Sequence[str]) -> Tuple[Optional[int], Optional[int]]:
    """Run vhpi once with `intervals` due under `env` (from rsync_measuring_env); return
    (vhpi's peak RSS, the largest peak RSS of its rsync processes) in KiB."""
    peaks = env["VHPI_BENCH_RSYNC_RSS"]
    if os.path.exists(peaks):
        os.unlink(peaks)
    set_due(os.path.join(tool.dest, ".vhpi", "state.json"), intervals)
    saved, tool.env = tool.env, env
    try:
        tool.run(intervals)
    finally:
        tool.env = saved
    with open(peaks, encoding="utf-8") as handle:
        rsync_peak = max((int(line) for line in handle if line.strip().isdigit()), default=None)
    return (tool.memory[0] if tool.memory else None), rsync_peak


def measure_memory(tool: "Vhpi", tree: Tree, work: str, results: Results) -> None:
    """Measure vhpi's and rsync's peak memory (unmeasured time) in the two heavy runs of a
    steady-state destination: 1 % changed with hourly due (two rsync passes, the oldest
    recycled) and nothing changed with three intervals due."""
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


def kib_text(kib: Optional[int]) -> str:
    """Return KiB as MiB with one decimal, or '—'."""
    return "—" if kib is None else f"{kib / 1024:.1f} MiB"


def bench_memory_only(size: int, work: str, env: Dict[str, str], python: str, results: Results) -> None:
    """vhpi alone on a tree of `size` files, for memory only (no timing, no other tools):
    the first backup, then hourly filled to its keep count, then 1 % changed with the oldest
    hourly recycled (two rsync passes listing size/100 changes), then the daily snapshot
    linked early while rsync looks (vhpi.act.head_start)."""
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


def make_tools(tree: Tree, work: str, env: Dict[str, str], python: str) -> List[Tool]:
    """Return the four tools for one tree, destinations and configs prepared."""
    tools: List[Tool] = [Vhpi(tree, work, env, python), Rsnapshot(tree, work, env, False),
                         Rsnapshot(tree, work, env, True), Floor(tree, work, env)]
    for tool in tools:
        tool.prepare()
    return tools


def set_up_tree(tree: Tree, work: str, env: Dict[str, str], python: str, results: Results) -> List[Tool]:
    """Generate the tree, seed every destination, bring the tools to steady state; return
    the tools that are ready."""
    results.trees.append(tree)
    results.generation[tree.name] = generate_tree(tree)
    print(f"  generated in {results.generation[tree.name]:.1f} s", flush=True)
    started = time.perf_counter()
    tools = make_tools(tree, work, env, python)
    seed_destinations(tree, tools, work)
    tools = reach_steady_state(tools, results)
    print(f"  seeded and brought to steady state in {time.perf_counter() - started:.1f} s", flush=True)
    return tools


def clean_up_tree(tree: Tree, work: str) -> None:
    """Delete the tree and every tool's destination for it."""
    started = time.perf_counter()
    remove_tree_fast(os.path.join(work, "dest", tree.name))
    remove_tree_fast(tree.path)
    print(f"  removed the tree and its backups in {time.perf_counter() - started:.1f} s", flush=True)


def bench_tree(tree: Tree, work: str, env: Dict[str, str], python: str, repeats: int,
               keep: bool, results: Results) -> None:
    """Set up one tree, measure every case and vhpi with nothing due, clean up."""
    print(f"\n== tree {tree.label()} ({tree.path})", flush=True)
    tools = set_up_tree(tree, work, env, python, results)
    for case in CASES:
        print(f"  case {case.key}: {case.title}", flush=True)
        started = time.perf_counter()
        measure_case(case, tools, tree, repeats, results)
        print(f"    (case took {time.perf_counter() - started:.1f} s)", flush=True)
    vhpi = next((tool for tool in tools if isinstance(tool, Vhpi)), None)
    if vhpi is not None:
        measure_nothing_due(vhpi, tree, results)
        measure_memory(vhpi, tree, work, results)
    if not keep:
        clean_up_tree(tree, work)


# --------------------------------------------------------------------------- report

def median_of(results: Results, tree: str, case: str, tool: str) -> Optional[float]:
    """Return the median seconds of a tool in a case, or None when there are none."""
    values = results.seconds.get((tree, case, tool))
    return statistics.median(values) if values else None


def seconds_cell(results: Results, tree: str, case: Case, tool: str) -> str:
    """Return a table cell: the median, 'failed', or '—' when the tool is not in the case."""
    if tool not in case.tools:
        return "—"
    if any((tree, key, tool) in results.failures for key in (case.key, "setup")):
        return "failed"
    value = median_of(results, tree, case.key, tool)
    return f"{value:.3f}" if value is not None else "—"


def ratio_cell(top: Optional[float], bottom: Optional[float]) -> str:
    """Return top/bottom with two decimals, or '—'."""
    return f"{top / bottom:.2f}" if top is not None and bottom else "—"


def memory_cells(results: Results, tree: str, case: str) -> List[str]:
    """Return vhpi's peak RSS in MiB (the largest over the rounds)."""
    values = results.memory.get((tree, case))
    return [f"{max(v[0] for v in values) / 1024:.1f}" if values else "—"]


TABLE_HEADER = ["tree", "case", "vhpi s", "rsnapshot cp s", "rsnapshot ld s", "floor s",
                "vhpi/rsnap best", "vhpi/rsnap cp", "vhpi/rsnap ld", "vhpi/floor",
                "vhpi RSS MiB"]


def table_rows(results: Results) -> List[List[str]]:
    """Return one row per tree and case: medians, ratios and vhpi's memory."""
    rows = []
    for tree in results.trees:
        for case in CASES:
            med = {tool: median_of(results, tree.name, case.key, tool) for tool in ALL_TOOLS}
            rsnap = [med[t] for t in ("rsnapshot-cp", "rsnapshot-ld") if med[t] is not None]
            rows.append([tree.label(), case.key,
                         *[seconds_cell(results, tree.name, case, tool) for tool in ALL_TOOLS],
                         ratio_cell(med["vhpi"], min(rsnap) if rsnap else None),
                         ratio_cell(med["vhpi"], med["rsnapshot-cp"]),
                         ratio_cell(med["vhpi"], med["rsnapshot-ld"]),
                         ratio_cell(med["vhpi"], med["floor"]),
                         *memory_cells(results, tree.name, case.key)])
    return rows


def markdown_table(header: List[str], rows: List[List[str]]) -> str:
    """Return a Markdown table with padded columns (readable as plain text too)."""
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]

    def line(cells: List[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule] + [line(row) for row in rows])


def summary_rows(results: Results) -> List[List[str]]:
    """Return per tree: generation time, vhpi's nothing-due median, the 1.1 × floor target."""
    rows = []
    for tree in results.trees:
        vhpi, floor = median_of(results, tree.name, "d", "vhpi"), median_of(results, tree.name, "d", "floor")
        target = "—" if vhpi is None or not floor else ("met" if vhpi <= 1.1 * floor else "MISSED")
        idle = results.idle.get(tree.name)
        rows.append([tree.label(), f"{results.generation[tree.name]:.1f}",
                     f"{idle:.3f}" if idle is not None else "failed", target])
    return rows


PEAKS_HEADER = ["tree", "run", "vhpi peak RSS", "rsync peak RSS"]
SUMMARY_HEADER = ["tree", "generation s", f"vhpi nothing due s (median of {IDLE_RUNS})",
                  "vhpi ≤ 1.1 × floor, nothing expiring (case d)"]


def report_text(results: Results, repeats: int) -> str:
    """Return the results as Markdown: main table, case legend, summary, failures."""
    parts = [f"Medians of {repeats} measured rounds (after one warm-up round), seconds of wall "
             f"time per backup run. Keep count {KEEP} for every interval and tool; rsync options "
             f"`{' '.join(RSYNC_OPTIONS)}` for all.", "",
             markdown_table(TABLE_HEADER, table_rows(results)), ""]
    parts += [f"* case {case.key}: {case.title}" + ("" if case.tools == ALL_TOOLS else
                                                    " (vhpi and floor only)") for case in CASES]
    parts += ["* rsnapshot cp = `link_dest 0` (cp -al, then rsync into .0); rsnapshot ld = "
              "`link_dest 1`; rsnap best = the faster of the two in that row",
              "* floor = `rsync " + " ".join(RSYNC_OPTIONS) + " SRC/ latest/`, then per due interval "
              "`rm -rf` of the oldest, mv of the others, `cp -al latest <interval>.0`",
              "* vhpi RSS = vhpi's own peak resident memory, from its debug.log (largest over the "
              "measured rounds)",
              "", markdown_table(SUMMARY_HEADER, summary_rows(results))]
    if results.peaks:
        parts += ["", "Peak memory (resident set) of vhpi and, separately, of its rsync processes "
                  "(rsync run under GNU time through a wrapper first in PATH; the largest of its "
                  "passes), in runs that are not timed:", "",
                  markdown_table(PEAKS_HEADER, [[tree, run, kib_text(vhpi), kib_text(rsync)]
                                                for (tree, run), (vhpi, rsync) in results.peaks.items()])]
    if results.failures:
        parts += ["", "Failures:"] + [f"* {tree} {case} {tool}: {message}"
                                      for (tree, case, tool), message in sorted(results.failures.items())]
    return "\n".join(parts) + "\n"


def command_output(argv: Sequence[str]) -> str:
    """Return the first line a command prints, or 'unknown'."""
    try:
        done = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        return done.stdout.decode("utf-8", "replace").strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_total() -> str:
    """Return the RAM size from /proc/meminfo in GiB."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
    except OSError:
        pass
    return "unknown"


def filesystem_type(path: str) -> str:
    """Return the type of the file system holding `path` (longest mount point in /proc/mounts)."""
    path, best, kind = os.path.realpath(path), "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as handle:
            for line in handle:
                fields = line.split()
                mount = fields[1].replace("\\040", " ")
                inside = path == mount or path.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, kind = mount, f"{fields[2]} ({fields[0]} on {mount})"
    except OSError:
        pass
    return kind


def machine_description(work: str, python: str) -> List[Tuple[str, str]]:
    """Return (what, value) pairs describing the machine and the tool versions."""
    return [("CPU", cpu_model()), ("cores", str(os.cpu_count())), ("RAM", memory_total()),
            ("kernel", f"{platform.system()} {platform.release()}"),
            ("work folder file system", filesystem_type(work)),
            ("rsync", command_output(["rsync", "--version"])),
            ("rsnapshot", command_output(["rsnapshot", "version"])),
            ("Python running vhpi", command_output([python, "--version"]) + f" ({python})"),
            ("vhpi commit", command_output(["git", "-C", REPO, "log", "-1", "--format=%h %s"])),
            ("load average at start (1, 5, 15 min)", load_average()),
            ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))]


def load_average() -> str:
    """Return the load averages: other work on the machine makes timings noisy."""
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def write_markdown(path: str, machine: List[Tuple[str, str]], command: str, body: str,
                   total: float) -> None:
    """Write results.md: machine description, command line, total time, then the results."""
    lines = ["# vhpi benchmark results", ""] + [f"* {key}: {value}" for key, value in machine]
    lines += [f"* load average at the end: {load_average()}", f"* command: `{command}`",
              f"* whole benchmark took {total / 60:.1f} min", "", body]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


# --------------------------------------------------------------------------- main

def find_python(explicit: Optional[str]) -> str:
    """Return an interpreter that can import vhpi's dependencies (yaml, schema, pythonping):
    --python, else this one, else the repository's .venv, else /tmp/venv."""
    candidates = [explicit] if explicit else [sys.executable, os.path.join(REPO, ".venv", "bin", "python"),
                                              "/tmp/venv/bin/python"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and subprocess.run(
                [candidate, "-c", "import yaml, schema, pythonping"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode == 0:
            return candidate
    sys.exit("bench: no interpreter can import yaml, schema and pythonping; pass --python PATH")


def parse_arguments(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(description="Benchmark vhpi against rsnapshot and rsync + cp -al.")
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"small-file tree sizes, comma-separated (default {DEFAULT_SIZES}; "
                             f"10000,100000 takes about 20 minutes on 2 cores)")
    parser.add_argument("--million", action="store_true", help="add a tree of 1,000,000 small files")
    parser.add_argument("--memory-million", action="store_true",
                        help="also measure vhpi's and rsync's peak memory (no timing, vhpi only) "
                             "on a 1,000,000-file tree: about 10 minutes")
    parser.add_argument("--large", action=argparse.BooleanOptionalAction, default=True,
                        help=f"add a tree of {LARGE_COUNT} files of {LARGE_BYTES >> 20} MiB (default on)")
    parser.add_argument("--repeats", type=int, default=5, help="measured rounds per case (default 5)")
    parser.add_argument("--work", metavar="DIR", help="make the work folder inside DIR (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder at the end")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "results.md"),
                        help="Markdown results file (default bench/results.md)")
    parser.add_argument("--python", help="interpreter for vhpi (default: one that imports its dependencies)")
    arguments = parser.parse_args(argv)
    if arguments.repeats < 1:
        parser.error("--repeats must be at least 1")
    return arguments


def make_trees(arguments: argparse.Namespace, work: str) -> List[Tree]:
    """Return the trees to benchmark, small ones by size, then the large-file one."""
    sizes = [int(size.replace("_", "")) for size in arguments.sizes.split(",") if size.strip()]
    if arguments.million and 1_000_000 not in sizes:
        sizes.append(1_000_000)
    trees = [Tree(f"small{size}", os.path.join(work, "src", f"small{size}"), size, False) for size in sizes]
    if arguments.large:
        trees.append(Tree("large", os.path.join(work, "src", "large"), LARGE_COUNT, True))
    return trees


def check_programs() -> None:
    """Stop early when rsync, rsnapshot or cp is missing."""
    missing = [name for name in ("rsync", "rsnapshot", "cp", "rm") if shutil.which(name) is None]
    if missing:
        sys.exit(f"bench: missing programs: {', '.join(missing)} (apt-get install rsync rsnapshot)")


def main(argv: Optional[List[str]] = None) -> int:
    """Run the whole benchmark and write the report."""
    arguments = parse_arguments(argv)
    check_programs()
    python = find_python(arguments.python)
    command = shlex.join(["python3", sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    if arguments.work:
        os.makedirs(arguments.work, exist_ok=True)
    work = tempfile.mkdtemp(prefix="vhpi-bench-", dir=arguments.work)
    env = {**os.environ, "HOME": os.path.join(work, "home"), "PYTHONPATH": REPO, "LC_ALL": "C"}
    os.makedirs(env["HOME"])
    machine = machine_description(work, python)
    print(f"work folder {work}; vhpi runs with {python}", flush=True)
    started = time.perf_counter()
    results = Results()
    try:
        for tree in make_trees(arguments, work):
            bench_tree(tree, work, env, python, arguments.repeats, arguments.keep, results)
        if arguments.memory_million:
            bench_memory_only(1_000_000, work, env, python, results)
    finally:
        if arguments.keep:
            print(f"\nkept the work folder {work}")
        else:
            remove_tree_fast(work)
    total = time.perf_counter() - started
    body = report_text(results, arguments.repeats)
    print("\n" + body)
    print(f"whole benchmark took {total / 60:.1f} min; results written to {arguments.out}")
    write_markdown(arguments.out, machine, command, body, total)
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
