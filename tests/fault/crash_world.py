"""A world for the crash campaign: three intervals due at every run, a small source that
changes in every way between runs, and ways to run vhpi normally, with a checkpoint crash
(VHPI_CRASH_AT) or killed from outside at a given instant; every run is checked against
tests.fault.invariants."""

from __future__ import annotations

import os
import random
import re
import shutil
import time
from typing import Dict, List, Tuple

from tests.fault.invariants import Ledger
from tests import procs
from tests.integration.helpers import (debug_log, describe, job_line, kill_group, lock_free,
                                       process_state, start_vhpi, vhpi, wait_or_kill_group, walk,
                                       work_leftovers, write_config, write_files)

KEEP = {"hourly": 3, "daily": 2, "weekly": 2}
INTERVALS = {"hourly": 3600, "daily": 86400, "weekly": 604800}
DAYS_PER_TRIAL = 8  # every interval is due at every trial
FOLDERS, FILES_PER_FOLDER = 5, 10
BASE_MTIME = 1_700_000_000
MODES = (0o600, 0o640, 0o644, 0o444)


def _regular_files(source: str) -> list:
    """The regular files below the d* folders (any depth), sorted: what a trial changes."""
    found = []
    for folder in sorted(os.listdir(source)):
        if not folder.startswith("d"):
            continue
        for parent, subfolders, files in walk(os.path.join(source, folder)):
            subfolders.sort()
            found += [os.path.relpath(os.path.join(parent, name), source) for name in sorted(files)
                      if not os.path.islink(os.path.join(parent, name))]
    return sorted(found)


def evolve(source, trial: int) -> None:
    """Move the source on to state `trial`, changing content, modes, mtimes only, deleting,
    adding, and swapping a file for a folder and a folder for a file, a symlink's target,
    and hard links, moving a file to another folder and renaming the folder the trial
    before made (which vhpi links, vhpi.act.transfer_moves). The same trial number always
    makes the same changes."""
    source = str(source)
    mtime = BASE_MTIME + trial * 100
    if trial == 0:
        write_files(source, {f"d{d}/f{f:02}.txt": f"{d}/{f} v0\n" * (1 + f)
                             for d in range(FOLDERS) for f in range(FILES_PER_FOLDER)}, mtime=mtime)
        write_files(source, {"hl/a.txt": "linked"}, mtime=mtime)
        os.link(os.path.join(source, "hl/a.txt"), os.path.join(source, "hl/b.txt"))
        os.symlink("d0/f00.txt", os.path.join(source, "link.lnk"))
        return
    rng = random.Random(f"vhpi-crash-campaign-{trial}")
    # a folder that an earlier trial made out of a file becomes a file again
    swapped = sorted(os.path.relpath(parent, source) for parent, _, _ in walk(source)
                     if parent.endswith(".txt"))
    if swapped:
        shutil.rmtree(os.path.join(source, swapped[0]))
        write_files(source, {swapped[0]: f"file again in {trial}\n"}, mtime=mtime)
    picked = rng.sample(_regular_files(source), 9)
    rewritten, chmodded, touched, deleted, to_folder = (picked[0:3], picked[3], picked[4],
                                                        picked[5:7], picked[7])
    write_files(source, {name: f"{name} v{trial}\n" + "x" * rng.randrange(1, 50)
                         for name in rewritten}, mtime=mtime)
    path = os.path.join(source, chmodded)
    os.chmod(path, rng.choice([m for m in MODES if m != os.stat(path).st_mode & 0o777]))
    os.utime(os.path.join(source, touched), (mtime + 7, mtime + 7))
    for name in deleted:
        os.unlink(os.path.join(source, name))
    os.unlink(os.path.join(source, to_folder))
    write_files(source, {f"{to_folder}/inside.txt": f"a folder since {trial}\n"}, mtime=mtime)
    moved_to = f"d{(int(picked[8][1]) + 1) % FOLDERS}/moved-{trial}.txt"
    os.rename(os.path.join(source, picked[8]), os.path.join(source, moved_to))
    if os.path.isdir(os.path.join(source, f"new-{trial - 1}")):
        os.rename(os.path.join(source, f"new-{trial - 1}"), os.path.join(source, f"renamed-{trial}"))
    write_files(source, {f"new-{trial}/x.txt": f"x {trial}", f"new-{trial}/y/z.txt": f"z {trial}",
                         f"d{rng.randrange(FOLDERS)}/new-{trial}.txt": f"new {trial}"}, mtime=mtime)
    folder = os.path.join(source, f"d{trial % FOLDERS}")
    os.chmod(folder, 0o750 if os.stat(folder).st_mode & 0o777 != 0o750 else 0o755)
    link = os.path.join(source, "link.lnk")
    os.unlink(link)
    os.symlink(f"d{trial % FOLDERS}/target-{trial}", link)
    os.link(os.path.join(source, "hl/a.txt"), os.path.join(source, f"hl/c{trial}.txt"))
    if os.path.exists(os.path.join(source, f"hl/c{trial - 2}.txt")):
        os.unlink(os.path.join(source, f"hl/c{trial - 2}.txt"))


def _has_entries(path) -> bool:
    try:
        return os.path.isdir(path) and bool(os.listdir(path))
    except FileNotFoundError:
        return False


def _after_kill(world) -> None:
    """Wait until nothing of a killed run holds the lock any more (children die with the
    group, but asynchronously)."""
    deadline = time.monotonic() + 10
    while not lock_free(world):
        assert time.monotonic() < deadline, "the killed run's lock was never released"
        time.sleep(0.005)


class CrashWorld:
    """The world, its ledger, and the trial (source state and fake day) it is at."""

    def __init__(self, world, campaign, keep=KEEP, bulk: int = 0):
        self.world, self.campaign = world, campaign
        write_config(world, intervals=INTERVALS, snapshots=keep)
        self.ledger = Ledger(keep)
        self.trial = -1
        self.last_debug = ""
        if bulk:  # files that never change, to make `cp -al` take a while
            write_files(world.source, {f"bulk/b{n // 100:02}/g{n % 100:02}.txt": str(n)
                                       for n in range(bulk)}, mtime=BASE_MTIME)

    @property
    def offset(self) -> str:
        return f"+{DAYS_PER_TRIAL * self.trial}d"

    def next_state(self) -> None:
        """Change the source (a new trial, 8 fake days on) and record it as runs start."""
        self.trial += 1
        evolve(self.world.source, self.trial)
        self.ledger.run_starts(self.world.source)

    def check(self, note: str, mode: str = "finished", cut: Tuple[str, ...] = ()) -> None:
        self.ledger.check(self.world, self.campaign, f"trial {self.trial}: {note}", mode, cut)

    def _debug_size(self) -> int:
        log = self.world.vhpi_home / "debug.log"
        return log.stat().st_size if log.exists() else 0

    def _debug_since(self, size: int) -> str:
        return debug_log(self.world).encode()[size:].decode(errors="replace")

    def set_keep(self, keep) -> None:
        """Change the config's keep counts for the runs from now on."""
        write_config(self.world, intervals=INTERVALS, snapshots=keep)
        self.ledger.set_keep(keep)

    def normal_run(self, note: str) -> float:
        """Run vhpi to the end at the trial's time; check it went fine and every invariant
        holds; return how long it took. What it wrote to debug.log is kept in `last_debug`."""
        size = self._debug_size()
        started = time.monotonic()
        result = vhpi(self.world, at=self.offset, code=0)
        seconds = time.monotonic() - started
        self.last_debug = self._debug_since(size)
        assert result.stdout == result.stderr == "", describe(result, self.world)
        assert "FAILED" not in job_line(self.world), describe(result, self.world)
        self.ledger.run_finished()
        self.check(note)
        return seconds

    def plain_run(self):
        """Run vhpi to the end at the trial's time; return the CompletedProcess, unchecked."""
        return vhpi(self.world, at=self.offset)

    def crash_run(self, crash_at: str) -> Tuple[int, str]:
        """Run vhpi with VHPI_CRASH_AT=crash_at in its own session; return its exit code and
        what it wrote to debug.log."""
        size = self._debug_size()
        process = start_vhpi(self.world, at=self.offset, env={"VHPI_CRASH_AT": crash_at},
                             log_to=self.world.root / "crash.out")
        code = wait_or_kill_group(process)
        _after_kill(self.world)
        self.campaign.add("crash trials")
        return code, self._debug_since(size)

    def kill_after(self, delay: float) -> Tuple[bool, list]:
        """Start vhpi, SIGKILL its whole process group after `delay` s; return whether it
        was still running then and what the work folder held right after."""
        process = start_vhpi(self.world, at=self.offset)
        time.sleep(delay)
        running = process.poll() is None
        kill_group(process)
        _after_kill(self.world)
        self.campaign.add("random-instant kills")
        return running, work_leftovers(self.world)

    def injected_run(self, script: str, env: Dict[str, str]) -> int:
        """Run vhpi's main() through `script` (python -c: it patches something, then calls
        main) at the trial's time in its own session; return the exit code."""
        process = start_vhpi(self.world, at=self.offset, env=env, script=script)
        code = wait_or_kill_group(process)
        _after_kill(self.world)
        self.campaign.add("crash trials")
        return code

    def kill_mid_cp(self, occurrence: int, timeout: float = 30) -> Tuple[bool, list]:
        """Start vhpi paused (VHPI_PAUSE_AT) right after it started its `occurrence`-th
        `cp -al`, let cp link part of the tree, then SIGKILL the whole group. Returns whether
        cp was still running (so the tree was cut short) and what the work folder held."""
        process = start_vhpi(self.world, at=self.offset,
                             env={"VHPI_PAUSE_AT": f"cp-started:{occurrence}"})
        deadline = time.monotonic() + timeout
        try:
            pid = process.pid
            while process_state(pid) != "T":  # vhpi stops itself at the checkpoint
                assert process.poll() is None and time.monotonic() < deadline, "vhpi never paused"
                time.sleep(0.0005)
            cp = procs.children(pid)
            assert len(cp) == 1, f"vhpi paused at cp-started with children {cp}"
            found = procs.process(cp[0])
            target = os.fsdecode(found.argv[-1]) if found and found.argv else ""  # cp -al -- backup.latest <target>
            while process_state(cp[0]) not in ("Z", None) and not _has_entries(target):
                time.sleep(0.0002)
            running = process_state(cp[0]) not in ("Z", None)
        finally:
            kill_group(process)
        _after_kill(self.world)
        self.campaign.add("crash trials")
        return running, work_leftovers(self.world)

    def fill(self, runs: int = 3) -> float:
        """Make `runs` normal runs over changing sources; with 3, every interval is at its
        keep count, so the next rotation drops a snapshot of each. Returns the shortest
        run's duration (the others may have waited for a busy machine)."""
        seconds = []
        for _ in range(runs):
            self.next_state()
            seconds.append(self.normal_run("a normal run"))
        return min(seconds)


def rsync_lines(debug_text: str) -> int:
    """How many lines of rsync output a run logged (in batches: a record's first line
    carries the time and level, the others start with "rsync: ")."""
    return sum(1 for line in debug_text.splitlines()
               if " DEBUG   rsync: " in line or line.startswith("rsync: "))


#: How vhpi began each new snapshot (vhpi.act.snapshots): the recycle path logs
#: "recycled <interval>.<n>: ..." once it has relinked the dropped snapshot into the new
#: tree; the link path logs cp's argv before it runs `cp -al ... building.<interval>`,
#: also when it starts cp early, in the background (vhpi.act.head_start).
_RECYCLED = re.compile(r" DEBUG   recycled (\S+)\.(?:0|[1-9][0-9]*): ")
_LINKING = re.compile(r" DEBUG   running: \['cp', '-al', '--', '[^']*', "
                      r"'[^']*/building\.([^'/]+)'\]( \(in the background.*\))?$")


def paths_taken(debug_text: str) -> List[Tuple[str, str]]:
    """(interval, "recycle" or "link") for each new snapshot a run's debug.log shows, in order."""
    found = []
    for line in debug_text.splitlines():
        recycled, linking = _RECYCLED.search(line), _LINKING.search(line)
        if recycled:
            found.append((recycled.group(1), "recycle"))
        elif linking:
            found.append((linking.group(1), "link"))
    return found
