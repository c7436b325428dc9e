"""How fast `vhpi verify` reads compared with `cat`, and what checksums at backup time cost
the hourly run (issue 12). Needs root (ext4 loop devices, dropping the page cache).

1. verify vs cat, cold cache. An ext4 image under --dir on a loop device is the backup
   disk; real vhpi backups (4 runs, hourly due through vhpi's own state code, 2 % of the
   small files and one large file rewritten and 20 files added between runs) make
   backup.latest and hourly.0-3, which share most inodes. Per round, each after
   `sync; echo 3 > /proc/sys/vm/drop_caches` (which also drops the image file's pages):
   the whole `vhpi verify JOB --json` process, `xargs -0 cat` of one name per inode (in
   the order `find` walks the snapshots) and the same `cat` in inode order; the order
   rotates every round. Checks that verify's bytes_read is the sum of the distinct
   inodes' sizes (each inode read once), not the sum over every name.
2. checksums at backup time. A fresh loop disk, the same source; per run --new-mib MiB of
   new files are added to the source, hourly is made due, `sync` runs, and the whole vhpi
   run + sync is timed, with checksums on (plain vhpi) or off (record_new_files replaced
   by a function returning None), alternating; 2 x --rounds pairs (the difference is
   small beside the noise). The cache stays warm (the new files come from the page cache,
   so the transfer is quick and the hashing's share is the largest). Also the
   nothing-due run (median of 11 whole-process runs, target < 150 ms).

Prints medians and ratios and writes them to --out (bench/verify_results.md). Standard
library only, Python 3.9+; vhpi runs under --python (default: .venv/bin/python).

    .venv/bin/python bench/verify_speed.py            # 1 GiB, 5 rounds: about 2-4 minutes
    .venv/bin/python bench/verify_speed.py --quick    # 512 MiB, 3 rounds: about 1-2 minutes
    .venv/bin/python bench/verify_speed.py --only verify --mib 4096 --rounds 3  # one part, more data
"""

from __future__ import annotations

import argparse
import datetime
import glob
import hashlib
import json
import os
import platform
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(REPO, "bench"), REPO]

from vhpi.act.file_hashes import WORKERS  # noqa: E402  (standard library only)
from vhpi.act.layout import Layout  # noqa: E402
from vhpi.act.state import read_snapshot_times, write_snapshot_times  # noqa: E402
from vhpibench.loopdisk import (LoopDisk, drop_caches, loop_problem, make_loop_disk,  # noqa: E402
                                remove_loop_disk)
from vhpibench.machine import command_output, cpu_model, load_average, memory_total  # noqa: E402

JOB = "bench"
KEEP = 4
BACKUPS = 4                     # backup.latest + hourly.0-3
SEED = 20261201
MTIME = 1_700_000_000
MIB = 1 << 20
IDLE_RUNS = 11
VERIFY_TARGET = 0.80
IDLE_TARGET = 0.150
RECORDED = re.compile(r"recorded the checksums of (\d+) new files \(([^)]*)\) in ([\d.]+) s")
#: vhpi with the checksums at backup time left out (the "off" runs): nothing is hashed, and
#: the index's "adding" mark is cleared as a finished run clears it (a mark left set would
#: make the next "on" run hash the "off" run's files too, as after a killed run).
OFF_CODE = """import sys
import vhpi.act.content_index as content_index
import vhpi.act.new_checksums as checksums
import vhpi.actions.copy_and_rotate as rotate
def skipped(index, layout, log):
    if index is not None:
        content_index.finish_adding(index)
        index.close()
    return None
checksums.record_new_files = rotate.record_new_files = skipped
import vhpi.main
sys.exit(vhpi.main.main(sys.argv[1:]))
"""


class Failed(Exception):
    """A run failed or a check did not hold; the message says what."""


# --------------------------------------------------------------------------- files

def write_file(path: str, size: int, mtime: int) -> None:
    """Write `size` random bytes to `path` (a new inode) with modification time `mtime`."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fresh = path + ".new"
    with open(fresh, "wb") as handle:
        left = size
        while left:
            handle.write(os.urandom(min(left, MIB)))
            left -= min(left, MIB)
    os.utime(fresh, (mtime, mtime))
    os.replace(fresh, path)


def small_size(rng: random.Random) -> int:
    """A size from 4 KiB to 1 MiB, evenly spread on a log scale."""
    return int(4096 * 256 ** rng.random())


def large_sizes(rng: random.Random, total: int, low: int, high: int) -> List[int]:
    """Whole-MiB sizes from `low` to `high` MiB adding up to `total` bytes (the last one
    trimmed; none when `total` is below a MiB)."""
    sizes: List[int] = []
    while total - sum(sizes) >= MIB:
        sizes.append(min(rng.randint(low, high) * MIB, total - sum(sizes)))
    return sizes


def make_source(source: str, mib: int, rng: random.Random) -> Tuple[List[str], List[str]]:
    """Fill `source` with small files (2,000 per GiB) and 16-64 MiB files up to `mib` MiB;
    return (small paths, large paths)."""
    os.makedirs(source)
    open(os.path.join(source, ".backup_valid"), "w").close()
    count = max(200, 2000 * mib // 1024)
    small = [os.path.join(source, "small", f"d{n // 100:02}", f"f{n:04}.bin") for n in range(count)]
    sizes = [small_size(rng) for _ in small]
    for path, size in zip(small, sizes):
        write_file(path, size, MTIME)
    large = []
    for number, size in enumerate(large_sizes(rng, max(0, mib * MIB - sum(sizes)), 16, 64)):
        large.append(os.path.join(source, "large", f"g{number:02}.bin"))
        write_file(large[-1], size, MTIME)
    return small, large


def change_source(source: str, small: List[str], large: List[str], run: int,
                  rng: random.Random) -> None:
    """Between backups: rewrite 2 % of the small files and one large file (new content,
    new mtime) and add 20 small files."""
    mtime = MTIME + run * 3600
    for path in rng.sample(small, max(1, len(small) // 50)):
        write_file(path, small_size(rng), mtime)
    if large:
        write_file(large[run % len(large)], os.path.getsize(large[run % len(large)]), mtime)
    for number in range(20):
        write_file(os.path.join(source, "small", f"new{run}", f"n{number:02}.bin"), small_size(rng), mtime)


def add_batch(folder: str, total: int, rng: random.Random) -> Tuple[int, int]:
    """Add `total` bytes of new files below `folder`: a fifth in files of 4 KiB-1 MiB,
    the rest in 8-32 MiB files; return (files, bytes)."""
    sizes: List[int] = []
    while sum(sizes) < total // 5:
        sizes.append(small_size(rng))
    sizes += large_sizes(rng, total - sum(sizes), 8, 32)
    for number, size in enumerate(sizes):
        write_file(os.path.join(folder, f"b{number:03}.bin"), size, MTIME)
    return len(sizes), sum(sizes)


# --------------------------------------------------------------------------- vhpi

class Vhpi:
    """How vhpi runs here: the interpreter, the config, the environment (HOME in the work
    folder, byte-code cache on, as an installed vhpi has it)."""

    def __init__(self, python: str, work: str, source: str, dest: str, name: str):
        self.python, self.dest = python, dest
        self.config = os.path.join(work, f"{name}.yaml")
        self.home = os.path.join(work, "home")
        os.makedirs(self.home, exist_ok=True)
        os.makedirs(dest)
        open(os.path.join(dest, ".backup_destination"), "w").close()
        job = {"name": JOB, "source_ip": "127.0.0.1", "rsync_src": source + "/", "rsync_dest": dest,
               "snapshots": {"hourly": KEEP}}
        with open(self.config, "w", encoding="utf-8") as handle:
            json.dump({"app_cfg": {"intervals": {"hourly": 3600}}, "jobs_cfg": [job]}, handle)
        self.env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        self.env.update(HOME=self.home, PYTHONPATH=REPO, PYTHONPYCACHEPREFIX=os.path.join(work, "pycache"))

    def run(self, *args: str, checksums: bool = True) -> str:
        """Run vhpi with `args` (a backup run when none); return its stdout (raises Failed)."""
        start = ["-m", "vhpi.main"] if checksums else ["-c", OFF_CODE]
        done = subprocess.run([self.python, *start, "--config", self.config, *args], env=self.env,
                              cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode != 0:
            raise Failed(f"vhpi {' '.join(args) or 'run'}: exit {done.returncode}: "
                         f"{(done.stdout + done.stderr).strip()[-800:]}")
        return done.stdout

    def make_due(self) -> None:
        """Record in vhpi's state that the last hourly snapshot is two hours old."""
        layout = Layout(self.dest)
        recorded = read_snapshot_times(layout)
        if recorded is not None:
            write_snapshot_times(layout, {**recorded, "hourly": time.time() - 7200})

    def debug_log(self) -> Optional[str]:
        """Return the newest debug.log below HOME/.very_hungry_pi, or None."""
        found = glob.glob(os.path.join(self.home, ".very_hungry_pi", "**", "debug.log"), recursive=True)
        return max(found, key=os.path.getmtime) if found else None

    def indexed(self) -> int:
        """Return the number of inodes with a checksum in the destination's content index."""
        path = os.path.join(self.dest, ".vhpi", "content.sqlite3")
        index = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return index.execute("SELECT COUNT(*) FROM inodes").fetchone()[0]
        finally:
            index.close()  # (a `with` block only commits: an open fd keeps the disk busy)


def trees_of(dest: str) -> List[str]:
    """Return backup.latest and the hourly snapshots of `dest`, newest first."""
    names = sorted((name for name in os.listdir(dest) if name.startswith("hourly.")),
                   key=lambda name: int(name.split(".")[1]))
    return [os.path.join(dest, name) for name in ["backup.latest", *names]]


def inventory(dest: str) -> Tuple[int, Dict[int, Tuple[int, str]], int]:
    """Walk every tree as find does; return (names, {ino: (size, first name)}, bytes over
    all names) of the non-empty regular files."""
    names, total, inodes = 0, 0, {}
    for tree in trees_of(dest):
        for folder, subfolders, files in os.walk(tree):
            subfolders.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                info = os.lstat(path)
                if info.st_size and (info.st_mode & 0o170000) == 0o100000:
                    names += 1
                    total += info.st_size
                    inodes.setdefault(info.st_ino, (info.st_size, path))
    return names, inodes, total


def write_list(path: str, names: Sequence[str]) -> None:
    with open(path, "wb") as handle:
        handle.write(b"".join(os.fsencode(name) + b"\0" for name in names))


# --------------------------------------------------------------------------- timing

def timed(action) -> Tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def children_cpu() -> float:
    """Return the CPU seconds (user + system) of the child processes waited for so far
    (grandchildren too, when their parent waited for them: cat under xargs)."""
    now = os.times()
    return now.children_user + now.children_system


def cat(listing: str) -> None:
    done = subprocess.run(["xargs", "-0", "-a", listing, "cat"], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        raise Failed(f"cat: exit {done.returncode}: {done.stderr[-400:]!r}")


def hash_speed(workers: int, mib: int = 256) -> float:
    """Return sha256 MiB/s of `workers` threads each hashing `mib` MiB of memory."""
    block = os.urandom(MIB)

    def one() -> None:
        digest = hashlib.sha256()
        for _ in range(mib):
            digest.update(block)
    with ThreadPoolExecutor(workers) as pool:
        seconds, _ = timed(lambda: list(pool.map(lambda _: one(), range(workers))))
    return workers * mib / seconds


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# --------------------------------------------------------------------------- part 1

def make_backups(vhpi: Vhpi, source: str, files: Tuple[List[str], List[str]], rng: random.Random) -> None:
    """Make BACKUPS real backups of `source` (hourly due each time), changing some of its
    (small, large) `files` and adding some before each but the first."""
    small, large = files
    for run in range(BACKUPS):
        if run:
            change_source(source, small, large, run, rng)
            vhpi.make_due()
        vhpi.run()


def verify_once(vhpi: Vhpi) -> dict:
    report = json.loads(vhpi.run("verify", JOB, "--json"))["jobs"][0]
    if not report["ok"]:
        raise Failed(f"verify found trouble: {report}")
    return report


def part_verify(vhpi: Vhpi, work: str, rounds: int, files: Tuple[List[str], List[str]],
                rng: random.Random) -> dict:
    """Make the backups and measure verify against cat, cold; return the figures."""
    started = time.perf_counter()
    make_backups(vhpi, os.path.join(work, "source"), files, rng)
    names, inodes, all_bytes = inventory(vhpi.dest)
    distinct = sum(size for size, _ in inodes.values())
    find_list, ino_list = os.path.join(work, "find.list"), os.path.join(work, "inode.list")
    write_list(find_list, [path for _, path in inodes.values()])
    write_list(ino_list, [inodes[ino][1] for ino in sorted(inodes)])
    print(f"part 1: {len(trees_of(vhpi.dest))} trees, {names:,} names, {len(inodes):,} inodes, "
          f"{distinct / MIB:.0f} MiB distinct ({all_bytes / MIB:.0f} MiB over all names); "
          f"built in {time.perf_counter() - started:.0f} s", flush=True)
    steps = [("verify", lambda: verify_once(vhpi)), ("cat", lambda: cat(find_list)),
             ("cat_inode_order", lambda: cat(ino_list))]
    times: Dict[str, List[float]] = {name: [] for name, _ in steps}
    cpu: Dict[str, List[float]] = {name: [] for name, _ in steps}
    reports = []
    for number in range(rounds):
        for name, action in steps[number % 3:] + steps[:number % 3]:
            drop_caches()
            before = children_cpu()
            seconds, result = timed(action)
            times[name].append(seconds)
            cpu[name].append(children_cpu() - before)
            if name == "verify":
                reports.append(result)
        print(f"  round {number + 1}: " + ", ".join(f"{name} {values[-1]:.2f} s"
                                                   for name, values in times.items()), flush=True)
    return {"trees": len(trees_of(vhpi.dest)), "names": names, "inodes": len(inodes),
            "distinct_bytes": distinct, "all_names_bytes": all_bytes, "times": times, "cpu": cpu,
            "load": load_average(),
            "bytes_read": [r["bytes_read"] for r in reports], "files": [r["files"] for r in reports],
            "inside_s": [r["seconds"] for r in reports], "counts": reports[-1]["counts"],
            "hash_1": hash_speed(1), "hash_n": hash_speed(WORKERS), "workers": WORKERS}


# --------------------------------------------------------------------------- part 2

def new_log_text(path: Optional[str], offset: int) -> str:
    if path is None:
        return ""
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read().decode("utf-8", "replace")


def backup_once(vhpi: Vhpi, source: str, label: str, checksums: bool, new_mib: int,
                rng: random.Random) -> dict:
    """Add new files, make hourly due, sync; time the vhpi run + sync; return the
    figures (with debug.log's checksum line and the index growth)."""
    files, size = add_batch(os.path.join(source, "new", label), new_mib * MIB, rng)
    vhpi.make_due()
    os.sync()
    log = vhpi.debug_log()
    offset = os.path.getsize(log) if log else 0
    indexed = vhpi.indexed()

    def run() -> None:
        vhpi.run(checksums=checksums)
        os.sync()
    seconds, _ = timed(run)
    found = RECORDED.findall(new_log_text(vhpi.debug_log() if log is None else log, offset))
    grown = vhpi.indexed() - indexed
    if grown != (files if checksums else 0):
        raise Failed(f"{label}: the index grew by {grown} records, not {files if checksums else 0}")
    line = found[-1] if found else None
    return {"checksums": checksums, "seconds": seconds, "files": files, "bytes": size,
            "log_files": int(line[0]) if line else None, "log_size": line[1] if line else None,
            "log_s": float(line[2]) if line else None}


def idle_runs(vhpi: Vhpi) -> List[float]:
    """Time IDLE_RUNS whole vhpi runs with nothing due (checks nothing was made)."""
    before = read_snapshot_times(Layout(vhpi.dest))
    times = [timed(vhpi.run)[0] for _ in range(IDLE_RUNS)]
    if read_snapshot_times(Layout(vhpi.dest)) != before:
        raise Failed("a nothing-due run made a snapshot")
    return times


def part_backup(vhpi: Vhpi, source: str, rounds: int, new_mib: int, rng: random.Random) -> dict:
    """Checksums on vs off in the hourly run, alternating; then the nothing-due runs."""
    started = time.perf_counter()
    vhpi.run()  # first backup: every file hashed (not measured)
    backup_once(vhpi, source, "warm-up", True, new_mib, rng)
    print(f"part 2: first backup and warm-up in {time.perf_counter() - started:.0f} s", flush=True)
    runs: List[dict] = []
    for number in range(2 * rounds):
        for checksums in ((True, False) if number % 2 == 0 else (False, True)):
            label = f"r{number}-{'on' if checksums else 'off'}"
            runs.append(backup_once(vhpi, source, label, checksums, new_mib, rng))
        pair = runs[-2:]
        print(f"  round {number + 1}: " + ", ".join(
            f"{'on' if run['checksums'] else 'off'} {run['seconds']:.2f} s" for run in pair), flush=True)
    return {"runs": runs, "idle": idle_runs(vhpi)}


# --------------------------------------------------------------------------- report

def machine_lines(python: str, work: str, argv: Sequence[str]) -> List[str]:
    return [f"- machine: {cpu_model()}, nproc {os.cpu_count()}, {memory_total()} RAM, "
            f"kernel {platform.release()}",
            f"- {command_output(['rsync', '--version'])}; {command_output([python, '--version'])} "
            f"running vhpi ({python})",
            f"- vhpi commit: {command_output(['git', '-C', REPO, 'log', '-1', '--format=%h %s'])[:72]} "
            "(plus the working tree's changes)",
            f"- work folder: {work}; load average at start: {load_average()}",
            f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- command: `{' '.join(['bench/verify_speed.py', *argv])}`"]


def verify_lines(p: dict, rounds: int) -> List[str]:
    times = p["times"]
    mib = p["distinct_bytes"] / MIB
    ratios = [c / v for v, c in zip(times["verify"], times["cat"])]
    ratio = median(ratios)
    once = all(read == p["distinct_bytes"] for read in p["bytes_read"])
    lines = [f"## 1. verify vs cat, cold cache ({rounds} rounds, medians)", "",
             f"{p['trees']} trees (backup.latest, hourly.0-{p['trees'] - 2}): {p['names']:,} names, "
             f"{p['inodes']:,} inodes ({p['names'] / p['inodes']:.2f} names per inode); "
             f"{mib:,.0f} MiB in distinct inodes, {p['all_names_bytes'] / MIB:,.0f} MiB over all names.", "",
             "| what | seconds | MiB/s |", "| --- | ---: | ---: |"]
    rows = [("`vhpi verify bench --json` (whole process)", times["verify"]),
            ("verify's own seconds (its report: listing + reading)", p["inside_s"]),
            ("the rest: interpreter start, imports, config, logs", [
                total - inside for total, inside in zip(times["verify"], p["inside_s"])]),
            ("`xargs -0 cat` one name per inode, find order", times["cat"]),
            ("`xargs -0 cat` one name per inode, inode order", times["cat_inode_order"])]
    lines += [f"| {name} | {median(values):.2f} | {'' if 'rest' in name else f'{mib / median(values):.0f}'} |"
              for name, values in rows]
    lines += ["", f"- verify/cat speed: **{ratio:.2f}** (median of the per-round ratios; "
              f"target >= {VERIFY_TARGET:.2f}: {'met' if ratio >= VERIFY_TARGET else 'NOT met'}); "
              f"verify/cat in inode order: {median([c / v for v, c in zip(times['verify'], times['cat_inode_order'])]):.2f}; "
              "verify's own seconds/cat (without the rest): "
              f"{median([c / v for v, c in zip(p['inside_s'], times['cat'])]):.2f}",
              f"- each inode read once: bytes_read {p['bytes_read'][-1]:,} vs distinct inodes' sizes "
              f"{p['distinct_bytes']:,} vs all names {p['all_names_bytes']:,}: "
              f"{'yes' if once else 'NO'}; files {p['files'][-1]:,} vs inodes {p['inodes']:,}; "
              f"counts {p['counts']}",
              f"- sha256 in memory: {p['hash_1']:.0f} MiB/s in 1 thread, {p['hash_n']:.0f} MiB/s in "
              f"{p['workers']} threads (verify's WORKERS)",
              "- CPU seconds (user + system, median): " + ", ".join(
                  f"{name} {median(values):.2f}" for name, values in p["cpu"].items())
              + f" (load average after the rounds: {p['load']})",
              "- per round (s): " + "; ".join(f"{name} " + ", ".join(f"{v:.2f}" for v in values)
                                              for name, values in times.items())]
    return lines


def backup_lines(p: dict, rounds: int, new_mib: int) -> List[str]:
    on = [run for run in p["runs"] if run["checksums"]]
    off = [run for run in p["runs"] if not run["checksums"]]
    on_s, off_s = median([r["seconds"] for r in on]), median([r["seconds"] for r in off])
    extra = median([a["seconds"] - b["seconds"] for a, b in zip(on, off)])
    size = median([r["bytes"] for r in on])
    log_speed = median([r["bytes"] / r["log_s"] for r in on if r["log_s"]])
    idle = median(p["idle"])
    lines = [f"## 2. checksums at backup time ({2 * rounds} pairs, {new_mib} MiB of new files per run, "
             "warm cache, medians)", "",
             "| hourly run + sync | seconds |", "| --- | ---: |",
             f"| checksums on (plain vhpi) | {on_s:.2f} |", f"| checksums off (record_new_files -> None) | {off_s:.2f} |",
             "", f"- ratio on/off: **{median([a['seconds'] / b['seconds'] for a, b in zip(on, off)]):.2f}** "
             f"(median of the per-pair ratios; of the medians {on_s / off_s:.2f}); extra {extra:.2f} s per run "
             "(median of the per-round differences)",
             "- new data per second hashed, from the extra time: "
             + (f"{size / MIB / extra:.0f} MiB/s" if extra > 0 else "n/a (no measurable extra time)"),
             f"- from debug.log (`recorded the checksums of N new files (X) in S s`): "
             f"{on[-1]['log_files']} files ({on[-1]['log_size']}) in {median([r['log_s'] for r in on]):.2f} s "
             f"median = {log_speed / MIB:.0f} MiB/s",
             f"- nothing-due run (whole process, median of {IDLE_RUNS}): **{idle * 1000:.0f} ms** "
             f"(target < {IDLE_TARGET * 1000:.0f} ms: {'met' if idle < IDLE_TARGET else 'NOT met'})",
             "- per round (s): " + "; ".join(f"{'on' if r['checksums'] else 'off'} {r['seconds']:.2f}"
                                             for r in p["runs"])]
    return lines


# --------------------------------------------------------------------------- the run

def default_python() -> str:
    venv = os.path.join(REPO, ".venv", "bin", "python")
    return venv if os.path.exists(venv) else sys.executable


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="512 MiB, 100 MiB new, 3 rounds")
    parser.add_argument("--rounds", type=int, help="measured rounds (default 5, --quick 3)")
    parser.add_argument("--mib", type=int, help="MiB of source data (default 1024, --quick 512)")
    parser.add_argument("--new-mib", type=int, help="MiB of new files per run (default 200, --quick 100)")
    parser.add_argument("--only", choices=("verify", "backup"), help="run only this part")
    parser.add_argument("--dir", default="/var/tmp", help="where the work folder and images go")
    parser.add_argument("--python", default=default_python(), help="the interpreter that runs vhpi")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "verify_results.md"))
    options = parser.parse_args(argv)
    quick = options.quick
    options.rounds = options.rounds or (3 if quick else 5)
    options.mib = options.mib or (512 if quick else 1024)
    options.new_mib = options.new_mib or (100 if quick else 200)
    return options


def disk_for(work: str, name: str, mib: int) -> LoopDisk:
    """A sparse ext4 image big enough for `mib` MiB of data and its changes."""
    size = (4 * mib + 2048) * MIB
    return make_loop_disk(os.path.join(work, f"{name}.img"), os.path.join(work, name), size, 65536)


def measure(options: argparse.Namespace, work: str, disks: List[LoopDisk]) -> List[str]:
    """Make the source; run the parts asked for; return the results' Markdown lines."""
    rng = random.Random(SEED)
    source = os.path.join(work, "source")
    files = make_source(source, options.mib, rng)
    lines: List[str] = []
    if options.only in (None, "verify"):
        disks.append(disk_for(work, "disk1", options.mib))
        first = Vhpi(options.python, work, source, os.path.join(disks[0].mount, "dest"), "verify")
        verify = part_verify(first, work, options.rounds, files, rng)
        remove_disk(disks.pop())
        lines = verify_lines(verify, options.rounds) + [""]
        print("\n".join(lines), flush=True)
    if options.only == "verify":
        return lines
    disks.append(disk_for(work, "disk2", options.mib + options.new_mib * (4 * options.rounds + 1)))
    second = Vhpi(options.python, work, source, os.path.join(disks[0].mount, "dest"), "backup")
    backup = part_backup(second, source, options.rounds, options.new_mib, rng)
    more = backup_lines(backup, options.rounds, options.new_mib)
    print("\n".join(more), flush=True)
    return lines + more


def remove_disk(disk: LoopDisk) -> None:
    """Unmount, detach and delete a loop disk; when it is still mounted (busy: a process
    still holds a file), try again after a second, then unmount it lazily and detach it."""
    remove_loop_disk(disk)
    for argv in (["umount", disk.mount], ["umount", "-l", disk.mount]):
        if mounted(disk.mount):
            time.sleep(1)
            subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if backing_file(disk.device).startswith(disk.image):  # still ours (" (deleted)" after it)
        subprocess.run(["losetup", "-d", disk.device], capture_output=True, check=False)


def backing_file(device: str) -> str:
    """Return the image file attached to `device`, or "" (detached)."""
    try:
        with open(f"/sys/block/{os.path.basename(device)}/loop/backing_file", encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def mounted(path: str) -> bool:
    with open("/proc/mounts", encoding="utf-8") as handle:
        return any(line.split()[1] == path for line in handle)


def stop_on_signal(number, frame) -> None:
    raise SystemExit(128 + number)


def main(argv: Sequence[str]) -> int:
    options = parse(argv)
    problem = loop_problem()
    if problem:
        print(f"bench/verify_speed.py: {problem}", file=sys.stderr)
        return 2
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, stop_on_signal)
    work = tempfile.mkdtemp(prefix="vhpi-verify-bench-", dir=options.dir)
    disks: List[LoopDisk] = []
    try:
        head = machine_lines(options.python, work, argv)
        started = time.perf_counter()
        body = measure(options, work, disks)
        total = f"- whole benchmark: {(time.perf_counter() - started) / 60:.1f} minutes"
    except Failed as error:
        print(f"bench/verify_speed.py: {error}", file=sys.stderr)
        return 1
    finally:
        for disk in disks:
            remove_disk(disk)
        subprocess.run(["rm", "-rf", "--", work], check=False)
    with open(options.out, "w", encoding="utf-8") as handle:
        handle.write("\n".join(["# vhpi verify and checksums at backup time: speed", "",
                                *head, total, "", *body, ""]))
    print(f"written to {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
