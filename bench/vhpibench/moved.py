"""The moved-files cases: a 200 MiB folder renamed in the share, or 10,000 small files moved
from one folder to another, between two backups. Per tool: how much its destination grew,
how much it read from the share and what its rsync passes copied.

The share is an ext4 file system of its own on a loop device, so that the device's
sectors read (/sys/block/loopN/stat), with the page cache dropped before the run, are what
the run read from the share; the destinations live on a second loop device (the backup
disk), whose used space is the tools' alone. Every tool makes a first backup and one with
nothing changed (whose reads are the cost of looking: the walk's metadata), then the
share is changed once and every tool runs again, measured. Needs root (see loopdisk)."""

from __future__ import annotations

import os
import random
import re
import subprocess
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Set, Tuple

from .loopdisk import (SECTOR, LoopDisk, drop_caches, loop_problem, make_loop_disk, remove_loop_disk,
                       sectors_read, used_bytes)
from .plan import ALL_TOOLS, SEED, SHARE
from .results import MovedRun, Results
from .tools import Tool, ToolError, Vhpi, make_tools
from .trees import Tree

MIB = 1 << 20


@dataclass(frozen=True)
class MovedCase:
    """One moved-files case: the share's files before (relative path, size), the renames
    made between the runs (old, new) and what they move (files, bytes)."""

    key: str
    title: str
    files: Tuple[Tuple[str, int], ...]
    renames: Tuple[Tuple[str, str], ...]
    moved_files: int
    moved_bytes: int


def rename_case() -> MovedCase:
    """A folder of 50 files of 4 MiB (200 MiB) renamed; 200 small files elsewhere stay."""
    photos = tuple((f"photos/summer/img_{index:03d}.jpg", 4 * MIB) for index in range(50))
    docs = tuple((f"docs/note_{index:03d}.txt", 2048) for index in range(200))
    return MovedCase("rename", "a folder of 200 MiB (50 files of 4 MiB) renamed",
                     photos + docs, (("photos/summer", "photos/summer-2024"),),
                     len(photos), sum(size for _, size in photos))


def move_sizes(count: int) -> List[int]:
    """Return the sizes of the moved small files: 1 to 8 KiB, in turn."""
    return [1024 * (1 + index % 8) for index in range(count)]


def move_case(count: int = 10_000) -> MovedCase:
    """`count` small files moved from a/ to b/, which holds 100 files of its own."""
    moved = tuple((f"a/f_{index:05d}.dat", size) for index, size in enumerate(move_sizes(count)))
    kept = tuple((f"b/keep_{index:03d}.dat", 1024) for index in range(100))
    renames = tuple((path, "b/" + path[2:]) for path, _ in moved)
    return MovedCase("move", f"{count:,} small files (1 to 8 KiB) moved from a/ to b/",
                     moved + kept, renames, len(moved), sum(size for _, size in moved))


def moved_case(key: str) -> MovedCase:
    """Return the case called `key` ('rename' or 'move')."""
    return {"rename": rename_case, "move": move_case}[key]()


def file_content(path: str, size: int) -> bytes:
    """Return the deterministic pseudo-random bytes of a share file (nothing to compress
    or to find twice)."""
    return random.Random(f"{SEED}:{path}").randbytes(size)


# --------------------------------------------------------------------------- what rsync said

STATS_LINE = re.compile(rb"Total transferred file size: ([\d,.]+) bytes")


def transferred_bytes(output: bytes) -> Optional[int]:
    """Given rsync --stats output (of one or more passes), return the sum of their "Total
    transferred file size" figures, or None when there is none."""
    found = [int(value.replace(b",", b"").replace(b".", b"")) for value in STATS_LINE.findall(output)]
    return sum(found) if found else None


def copied_in_debug_log(text: bytes) -> Optional[int]:
    """Given what one vhpi run added to its debug.log, return the bytes its copying rsync
    passes transferred (the passes started with --dry-run, which only look, left out), or
    None when no copying pass printed its figures (nothing to copy: 0 when it looked)."""
    total, looked = None, False
    for section in re.split(rb"\n(?=[^\n]*running: \[)", text):
        head = section.split(b"\n", 1)[0]
        if b"running: [" not in head or b"rsync" not in head:
            continue
        looked = True
        if b"'--dry-run'" in head or b"'-n'" in head:
            continue
        found = transferred_bytes(section)
        if found is not None:
            total = (total or 0) + found
    return total if total is not None else (0 if looked else None)


# --------------------------------------------------------------------------- the share

def write_share(root: str, files: Sequence[Tuple[str, int]]) -> None:
    """Create the share's files (and folders) under `root`, plus vhpi's `.backup_valid`."""
    for path, size in files:
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as handle:
            handle.write(file_content(path, size))
    open(os.path.join(root, ".backup_valid"), "w").close()


def apply_renames(root: str, renames: Sequence[Tuple[str, str]]) -> None:
    """Rename each (old, new) under `root`, making the new parent folders."""
    for old, new in renames:
        os.makedirs(os.path.dirname(os.path.join(root, new)), exist_ok=True)
        os.rename(os.path.join(root, old), os.path.join(root, new))


def disk_sizes(case: MovedCase, tools: int) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """Return ((bytes, inodes) of the share, (bytes, inodes) of the backup disk): room for
    every tool to copy everything twice, and inodes to spare (sparse images)."""
    data = sum(size for _, size in case.files)
    share = (data * 3 // 2 + 64 * MIB, len(case.files) * 2 + 4096)
    backup = (tools * data * 5 // 2 + 256 * MIB, tools * len(case.files) * 3 + 16384)
    return share, backup


# --------------------------------------------------------------------------- measuring

def inodes_below(path: str) -> Dict[int, str]:
    """Return {inode: one path} of every entry below `path` (explicit stack, no stat: the
    inode numbers come with the folder listings)."""
    found, stack = {}, [path]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                found.setdefault(entry.inode(), entry.path)
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return found


def new_inode_bytes(path: str, before: Set[int]) -> int:
    """Return the bytes allocated (st_blocks) to the inodes below `path` not in `before`."""
    return sum(os.lstat(where).st_blocks * 512 for inode, where in inodes_below(path).items()
               if inode not in before)


def log_size(tool: Tool) -> int:
    """Return the size of vhpi's debug.log (0 for other tools, or none yet)."""
    log = tool.debug_log() if isinstance(tool, Vhpi) else None
    return os.path.getsize(log) if log else 0


def copied_by(tool: Tool, output: bytes, log_from: int) -> Optional[int]:
    """Return what the tool's rsync passes copied: from vhpi's debug.log past `log_from`,
    from the others' --stats output."""
    if not isinstance(tool, Vhpi):
        return transferred_bytes(output)
    log = tool.debug_log()
    if log is None:
        return None
    with open(log, "rb") as handle:
        handle.seek(log_from)
        return copied_in_debug_log(handle.read())


def cold_run(tool: Tool, share: LoopDisk) -> Tuple[int, float, bytes, int]:
    """Drop the page cache, run the tool with hourly due; return (bytes read from the
    share, seconds, its output, vhpi's debug.log size before)."""
    tool.set_due(("hourly",))
    log_from = log_size(tool)
    drop_caches()
    sectors, started = sectors_read(share), time.perf_counter()
    output = tool.run(("hourly",))
    seconds = time.perf_counter() - started
    return (sectors_read(share) - sectors) * SECTOR, seconds, output, log_from


def sampled_moves(case: MovedCase) -> List[Tuple[str, str]]:
    """Return the (old, new) paths of a few moved files to check: the first, the last and
    every 997th of the files under the renamed paths."""
    renamed = dict(case.renames)
    moved = []
    for path, _ in case.files:
        parts = path.split("/")
        for cut in range(len(parts), 0, -1):  # the path itself, then each folder above it
            old = "/".join(parts[:cut])
            if old in renamed:
                moved.append((path, renamed[old] + path[len(old):]))
                break
    return [pair for index, pair in enumerate(moved) if index % 997 == 0 or index == len(moved) - 1]


def check_moved(tool: Tool, tree: Tree, case: MovedCase) -> None:
    """Raise ToolError unless the tool's newest snapshot has the sampled moved files under
    their new names, with the share's bytes, and no longer under their old ones."""
    newest = tool.content("hourly", 0)
    for old, new in sampled_moves(case):
        copy = os.path.join(newest, new)
        try:
            with open(copy, "rb") as mine, open(os.path.join(tree.path, new), "rb") as theirs:
                same = mine.read() == theirs.read()
        except OSError as error:
            raise ToolError(f"newest snapshot lacks {new}: {error}")
        if not same:
            raise ToolError(f"newest snapshot differs from the share at {new}")
        if os.path.lexists(os.path.join(newest, old)):
            raise ToolError(f"newest snapshot still has {old}")


def measured_run(tool: Tool, case: MovedCase, share: LoopDisk, backup: LoopDisk,
                 unchanged: Tuple[int, int]) -> MovedRun:
    """Run the tool once, cold, on the changed share, check its newest snapshot; return its
    MovedRun (`unchanged`: the new inodes' bytes and the reads of its run before the change)."""
    before, used = set(inodes_below(tool.dest)), used_bytes(backup.mount)
    read, seconds, output, log_from = cold_run(tool, share)
    check_moved(tool, tool.tree, case)
    return MovedRun(new_inodes=new_inode_bytes(tool.dest, before),
                    disk_growth=used_bytes(backup.mount) - used, read=read,
                    new_inodes_unchanged=unchanged[0], read_unchanged=unchanged[1],
                    copied=copied_by(tool, output, log_from), seconds=seconds)


def unchanged_run(tool: Tool, share: LoopDisk) -> Tuple[int, int]:
    """Run the tool, cold, with nothing changed; return (bytes of the inodes it made, bytes
    it read from the share): the cost of a snapshot and of looking, whatever changed."""
    before = set(inodes_below(tool.dest))
    read = cold_run(tool, share)[0]
    return new_inode_bytes(tool.dest, before), read


def first_backups(tools: List[Tool], share: LoopDisk, results: Results,
                  key: str) -> Dict[str, Tuple[int, int]]:
    """Give every tool its first backup and one with nothing changed; return {tool name:
    what that second run made and read (unchanged_run)}. A tool that fails is left out
    (and its failure recorded)."""
    unchanged = {}
    for tool in tools:
        try:
            tool.run(("hourly",))
            unchanged[tool.name] = unchanged_run(tool, share)
        except (ToolError, OSError, subprocess.CalledProcessError) as error:
            results.failures[(SHARE, key, tool.name)] = str(error)
            print(f"    {tool.name}: FAILED before the change: {error}", flush=True)
    return unchanged


def run_moved_case(key: str, work: str, env: Dict[str, str], python: str, results: Results,
                   names: Sequence[str] = ALL_TOOLS) -> None:
    """Run one moved-files case for the tools `names`, on loop devices of its own (skipped,
    with the reason in results.skipped, where they cannot be had); store its MovedRuns."""
    problem = loop_problem()
    if problem:
        results.skipped[key] = problem
        print(f"\n== case {key}: skipped, {problem}", flush=True)
        return
    case = moved_case(key)
    print(f"\n== case {key}: {case.title}", flush=True)
    results.moved_data[key] = (case.moved_files, case.moved_bytes)
    (share_size, share_inodes), (backup_size, backup_inodes) = disk_sizes(case, len(names))
    share = backup = None
    try:
        share = make_loop_disk(os.path.join(work, f"share-{key}.img"), os.path.join(work, f"share-{key}"),
                               share_size, share_inodes)
        backup = make_loop_disk(os.path.join(work, f"backup-{key}.img"), os.path.join(work, f"backup-{key}"),
                                backup_size, backup_inodes)
        _measure(case, Tree(key, os.path.join(share.mount, "src"), len(case.files), False), share,
                 backup, work, env, python, results, names)
    except subprocess.CalledProcessError as error:
        results.skipped[key] = f"{' '.join(error.cmd)} failed: {error.stderr}"
        print(f"  skipped: {results.skipped[key]}", flush=True)
    finally:
        remove_loop_disk(backup)
        remove_loop_disk(share)


def _measure(case: MovedCase, tree: Tree, share: LoopDisk, backup: LoopDisk, work: str,
             env: Dict[str, str], python: str, results: Results, names: Sequence[str]) -> None:
    """Write the share, back it up with every tool twice, change it, measure every tool."""
    started = time.perf_counter()
    write_share(tree.path, case.files)
    tools = make_tools(tree, work, env, python, names, dest_root=backup.mount, stats=True)
    unchanged = first_backups(tools, share, results, case.key)
    print(f"  share written and backed up twice by each tool in {time.perf_counter() - started:.1f} s",
          flush=True)
    apply_renames(tree.path, case.renames)
    for tool in tools:
        if tool.name not in unchanged:
            continue
        try:
            run = measured_run(tool, case, share, backup, unchanged[tool.name])
            results.moved[(case.key, tool.name)] = run
        except (ToolError, OSError, subprocess.CalledProcessError) as error:
            results.failures[(SHARE, case.key, tool.name)] = str(error)
            print(f"    {tool.name}: FAILED: {error}", flush=True)
            continue
        copied = "?" if run.copied is None else f"{run.copied / MIB:.1f}"
        print(f"    {tool.name:12} grew {run.new_inodes / MIB:7.2f} MiB (disk {run.disk_growth / MIB:.2f}; "
              f"unchanged run {run.new_inodes_unchanged / MIB:.2f}), read {run.read / MIB:.2f} MiB "
              f"from the share (unchanged run {run.read_unchanged / MIB:.2f}), rsync copied {copied} MiB, "
              f"{run.seconds:.2f} s cold", flush=True)
