"""The tools under test and how each one runs: vhpi, rsnapshot in cp -al mode (link_dest 0)
and in link_dest mode, and the floor (rsync, then cp -al per due interval). Also vhpi's due
times, set through vhpi's own state code."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

from .plan import ALL_TOOLS, INTERVALS, KEEP, REPO, RSYNC_OPTIONS, Case
from .trees import Tree

if REPO not in sys.path:
    sys.path.insert(0, REPO)     # vhpi.act.state from this repository (standard library only)
from vhpi.act.layout import Layout  # noqa: E402
from vhpi.act.state import StateError, read_snapshot_times, write_snapshot_times  # noqa: E402

#: rsync's totals, in plain numbers (added for the moved-files cases, which read them).
STATS_OPTIONS = ("--stats", "--no-human-readable")
PEAK_LINE = re.compile(rb"peak memory: vhpi (\d+) KiB, largest child[^\n]*?(\d+) KiB")


class ToolError(Exception):
    """A tool run failed or left a wrong result; the message says what."""


def run_command(argv: Sequence[str], env: Dict[str, str], what: str) -> bytes:
    """Run one command in the repository with `env`; return its output (stdout and stderr).
    Raise ToolError naming `what`, with the exit code and the last lines of its output,
    when it does not exit 0."""
    done = subprocess.run(list(argv), env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = done.stdout.decode("utf-8", "replace").strip().splitlines()[-8:]
        raise ToolError(f"{what}: exit code {done.returncode}: " + " | ".join(tail))
    return done.stdout


def remove_tree_fast(path: str) -> None:
    """Delete a folder tree with `rm -rf` (setup and cleanup only, never measured)."""
    if os.path.lexists(path):
        subprocess.run(["rm", "-rf", "--", path], check=True)


# --------------------------------------------------------------------------- vhpi's due times

def due_times(now: float, due: Sequence[str]) -> Dict[str, float]:
    """Given the current time and the intervals to make due, return {interval: time of its
    last snapshot}: two interval lengths ago for the due ones, a minute ago for the others."""
    return {name: now - 2 * length if name in due else now - 60 for name, length in INTERVALS.items()}


def set_due(dest: str, due: Sequence[str]) -> None:
    """Make exactly the intervals `due` due in vhpi destination `dest`, through vhpi's own
    state code (its "made" records stay). A destination without a state file is left
    without one: a first run finds everything due. Raises ToolError when vhpi cannot read
    the state file."""
    layout = Layout(dest)
    try:
        recorded = read_snapshot_times(layout)
        if recorded is not None:
            write_snapshot_times(layout, {**recorded, **due_times(time.time(), due)})
    except StateError as error:
        raise ToolError(f"vhpi state: {error}")


def newest_file(paths: Sequence[str]) -> Optional[str]:
    """Return the most recently modified of `paths` that exist, or None."""
    times = []
    for path in paths:
        try:
            times.append((os.stat(path).st_mtime, path))
        except OSError:
            pass
    return max(times)[1] if times else None


def last_peak_memory(debug_log: str) -> Optional[Tuple[int, int]]:
    """Return (vhpi KiB, largest child KiB) from the last peak-memory line in the last
    256 KiB of vhpi's debug.log, or None when there is none."""
    try:
        with open(debug_log, "rb") as handle:
            handle.seek(max(0, os.path.getsize(debug_log) - (256 << 10)))
            found = PEAK_LINE.findall(handle.read())
    except OSError:
        return None
    return (int(found[-1][0]), int(found[-1][1])) if found else None


# --------------------------------------------------------------------------- configs

def vhpi_config_text(source: str, dest: str) -> str:
    """Given the source and destination folders, return vhpi's YAML config for one job
    with every interval kept KEEP times."""
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


def rsnapshot_config_text(source: str, dest: str, lockfile: str, link_dest: bool,
                          stats: bool = False) -> str:
    """Given the source, destination, lock file and mode, return an rsnapshot config
    (TAB-separated) with the same rsync options and keep counts as vhpi's (and rsync's
    --stats when `stats`)."""
    lines = [
        ("config_version", "1.2"),
        ("snapshot_root", dest.rstrip("/") + "/"),
        ("no_create_root", "1"),
        ("cmd_cp", shutil.which("cp")),
        ("cmd_rm", shutil.which("rm")),
        ("cmd_rsync", shutil.which("rsync")),
        *[("retain", f"{name}\t{KEEP}") for name in INTERVALS],
        ("verbose", "3" if stats else "1"),     # rsnapshot prints rsync's output from level 3 on
        ("lockfile", lockfile),
        ("link_dest", "1" if link_dest else "0"),
        ("sync_first", "0"),
        ("use_lazy_deletes", "0"),
        ("rsync_short_args", RSYNC_OPTIONS[0]),
        ("rsync_long_args", " ".join(RSYNC_OPTIONS[1:] + (STATS_OPTIONS if stats else ()))),
        ("backup", f"{source.rstrip('/')}/\tlocalhost/"),
    ]
    return "".join(f"{key}\t{value}\n" for key, value in lines)


# --------------------------------------------------------------------------- tools

class Tool:
    """A backup tool with its own destination for one tree. Subclasses say how to run one
    backup and where their snapshots' content lives. `snapshots`: whether it keeps any
    (the plain rsync does not); `stats`: whether its rsync prints --stats (read by the
    moved-files cases); `dest_root`: where the destinations live (default work/dest)."""

    name = "tool"
    snapshots = True

    def __init__(self, tree: Tree, work: str, env: Dict[str, str], dest_root: Optional[str] = None,
                 stats: bool = False):
        self.tree = tree
        self.env = env
        self.dest = os.path.join(dest_root or os.path.join(work, "dest"), tree.name, self.name)
        self.conf_dir = os.path.join(work, "conf")
        self.memory: Optional[Tuple[int, int]] = None
        self.stats = stats

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

    def set_due(self, intervals: Sequence[str]) -> None:
        """Make `intervals` due (only vhpi decides that itself; the others are told)."""

    def before(self, case: Case) -> None:
        """Unmeasured setup before a measured run of `case` (free a slot when nothing is to
        expire, make the case's intervals due)."""
        if not case.expire:
            remove_tree_fast(self.snapshot("hourly", KEEP - 1))
        self.set_due(case.intervals)

    def run(self, intervals: Sequence[str]) -> bytes:
        """Make one backup with `intervals` due (measured); return what it printed."""
        raise NotImplementedError


class Vhpi(Tool):
    """vhpi run as `python -m vhpi.main --config CONF`, HOME inside the work folder."""

    name = "vhpi"

    def __init__(self, tree: Tree, work: str, env: Dict[str, str], python: str,
                 dest_root: Optional[str] = None):
        super().__init__(tree, work, env, dest_root)
        self.python = python
        self.config = os.path.join(self.conf_dir, f"vhpi-{tree.name}.yaml")

    def prepare(self) -> None:
        """Create the marked destination and the config file."""
        super().prepare()
        open(os.path.join(self.dest, ".backup_destination"), "w").close()
        with open(self.config, "w", encoding="utf-8") as handle:
            handle.write(vhpi_config_text(self.tree.path, self.dest))

    def first_copy(self) -> str:
        """vhpi mirrors the source in DEST/backup.latest."""
        return os.path.join(self.dest, "backup.latest")

    def debug_log(self) -> Optional[str]:
        """Return the newest debug.log this config can have written, or None: vhpi keeps
        the logs of a config other than ~/.very_hungry_pi/config.yaml either in
        ~/.very_hungry_pi/ or (newer versions) in ~/.very_hungry_pi/configs/<name>-<hash>/."""
        own = os.path.join(self.env["HOME"], ".very_hungry_pi")
        stem = os.path.splitext(os.path.basename(self.config))[0]
        found = [os.path.join(own, "debug.log"),
                 *glob.glob(os.path.join(own, "configs", glob.escape(stem) + "-*", "debug.log"))]
        return newest_file(found)

    def set_due(self, intervals: Sequence[str]) -> None:
        """Record in vhpi's state (vhpi.act.state) that exactly `intervals` are due."""
        set_due(self.dest, intervals)

    def run(self, intervals: Sequence[str]) -> bytes:
        """Run vhpi once (its state file decides what is due); read its peak memory; return
        what it printed (nothing, when all went well: its figures are in debug.log).

        vhpi is started through coreutils `timeout`, a small process that forks it, as cron
        starts it through a small shell: Linux counts the parent's peak RSS at the moment of
        exec into the child's ru_maxrss, so a direct start from this (larger) benchmark
        process would report the benchmark's memory as vhpi's."""
        launcher = ["timeout", "6h"] if shutil.which("timeout") else []
        output = run_command([*launcher, self.python, "-m", "vhpi.main", "--config", self.config],
                             self.env, "vhpi")
        log = self.debug_log()
        self.memory = last_peak_memory(log) if log else None
        return output


class Rsnapshot(Tool):
    """rsnapshot with its own config, in cp -al mode (link_dest 0) or link_dest mode."""

    def __init__(self, tree: Tree, work: str, env: Dict[str, str], link_dest: bool,
                 dest_root: Optional[str] = None, stats: bool = False):
        self.name = "rsnapshot-ld" if link_dest else "rsnapshot-cp"
        super().__init__(tree, work, env, dest_root, stats)
        self.link_dest = link_dest
        self.config = os.path.join(self.conf_dir, f"{self.name}-{tree.name}.conf")

    def prepare(self) -> None:
        """Create the destination and the config, and let rsnapshot check the config."""
        super().prepare()
        lockfile = os.path.join(self.conf_dir, f"{self.name}-{self.tree.name}.pid")
        with open(self.config, "w", encoding="utf-8") as handle:
            handle.write(rsnapshot_config_text(self.tree.path, self.dest, lockfile, self.link_dest,
                                               self.stats))
        run_command(["rsnapshot", "-c", self.config, "configtest"], self.env, "rsnapshot configtest")

    def content(self, interval: str, number: int) -> str:
        """rsnapshot puts the source under the backup point's name, `localhost/`."""
        return os.path.join(self.snapshot(interval, number), "localhost")

    def first_copy(self) -> str:
        """rsnapshot's newest snapshot holds the mirror under `localhost/`."""
        return self.content("hourly", 0)

    def run(self, intervals: Sequence[str]) -> bytes:
        """Run the standard cron sequence: the longest interval first, the lowest last."""
        return b"".join(run_command(["rsnapshot", "-c", self.config, interval], self.env,
                                    f"rsnapshot {interval}")
                        for interval in cron_order(intervals))


def cron_order(intervals: Sequence[str]) -> List[str]:
    """Return the intervals longest first, the order rsnapshot's cron lines run them in."""
    return sorted(intervals, key=lambda name: -INTERVALS[name])


class Floor(Tool):
    """The floor: rsync into FLOORDEST/latest, then per due interval rotate names (mv),
    `rm -rf` the expired snapshot and `cp -al latest <interval>.0`."""

    name = "floor"

    def run(self, intervals: Sequence[str]) -> bytes:
        """rsync, then one rotation and `cp -al` per due interval (no shell); return rsync's
        output."""
        latest = os.path.join(self.dest, "latest")
        output = run_command(["rsync", *rsync_options(self.stats), self.tree.path + "/", latest + "/"],
                             self.env, "rsync")
        for interval in intervals:
            oldest = self.snapshot(interval, KEEP - 1)
            if os.path.lexists(oldest):
                run_command(["rm", "-rf", oldest], self.env, "rm -rf")
            for number in range(KEEP - 2, -1, -1):
                if os.path.lexists(self.snapshot(interval, number)):
                    os.rename(self.snapshot(interval, number), self.snapshot(interval, number + 1))
            run_command(["cp", "-al", latest, self.snapshot(interval, 0)], self.env, "cp -al")
        return output


class PlainRsync(Tool):
    """The least any rsync-based tool can do: `rsync OPTIONS SRC/ DEST/tree/` into the
    existing tree, keeping no snapshot (the scan comparison's yardstick)."""

    name = "rsync"
    snapshots = False

    def content(self, interval: str, number: int) -> str:
        """Its one tree stands for every snapshot."""
        return self.first_copy()

    def first_copy(self) -> str:
        """The existing tree that rsync brings up to date."""
        return os.path.join(self.dest, "tree")

    def before(self, case: Case) -> None:
        """Nothing to set up: it has no snapshots and nothing is due for it."""

    def run(self, intervals: Sequence[str]) -> bytes:
        """One rsync into the tree, whatever is due."""
        return run_command(["rsync", *rsync_options(self.stats), self.tree.path + "/", self.first_copy() + "/"],
                           self.env, "rsync")


def rsync_options(stats: bool) -> Tuple[str, ...]:
    """Return the rsync options every tool uses, with --stats when `stats`."""
    return RSYNC_OPTIONS + (STATS_OPTIONS if stats else ())


def make_tools(tree: Tree, work: str, env: Dict[str, str], python: str,
               names: Sequence[str] = ALL_TOOLS, dest_root: Optional[str] = None,
               stats: bool = False) -> List[Tool]:
    """Return the tools called `names` for one tree (vhpi run by `python`; default: the
    four of cases a-d), destinations (in `dest_root`, default work/dest) and configs
    prepared; `stats`: their rsync prints --stats (vhpi's figures are in its debug.log)."""
    makers = {"vhpi": lambda: Vhpi(tree, work, env, python, dest_root),
              "rsnapshot-cp": lambda: Rsnapshot(tree, work, env, False, dest_root, stats),
              "rsnapshot-ld": lambda: Rsnapshot(tree, work, env, True, dest_root, stats),
              "floor": lambda: Floor(tree, work, env, dest_root, stats),
              "rsync": lambda: PlainRsync(tree, work, env, dest_root, stats)}
    tools: List[Tool] = [makers[name]() for name in names]
    for tool in tools:
        tool.prepare()
    return tools
