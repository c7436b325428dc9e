"""The details of a damaged inode, for the report: every name it has (in the listing, and
in the job's other snapshots when only some were listed) and where a good copy may be
found: another snapshot's copy of the same path with another inode that matches its own
checksum, the share (a file of the same size and time, looked at in a child: the share may
hang), or another job backing up the same share."""

from __future__ import annotations

import os
import stat
from typing import Dict, List, Optional, Sequence, Set

from vhpi.act import content_index
from vhpi.act.birth_time import fd_birth_time_ns
from vhpi.act.dedup_content import open_file
from vhpi.act.dedup_listing import Tree, names_of
from vhpi.act.fd_walk import OpenPath, join, walk_tree
from vhpi.act.file_hashes import hash_open_file
from vhpi.act.processes import ChildFailed, Ending, run_in_child
from vhpi.act.snapshot_trees import is_snapshot, trees_of
from vhpi.act.tree_edit import _open_parent
from vhpi.act.verify_inodes import Checked, paths_of
from vhpi.config.model import Config, Job
from vhpi.decide.tree_compare import FILE
from vhpi.decide.verify_report import Damaged, advice, snapshots_of, sort_paths

#: How long the look at the share for a good copy may take, at most (s).
SHARE_LOOK_SECONDS = 30.0


def names_in_trees(trees: Sequence[Tree], wanted: Set[int]) -> Dict[int, List[str]]:
    """Walk `trees` once and return, for each inode number in `wanted`, its names there as
    "snapshot/path" (scandir tells the inode: no stat per file)."""
    found: Dict[int, List[str]] = {}
    for tree in trees:
        try:
            walk = OpenPath.open(os.path.join(tree.root, tree.name), follow=False)
        except OSError:
            continue
        with walk:
            for entries in walk_tree(walk, lambda path, error: None):
                for entry in entries:
                    if entry.kind == FILE and entry.ino in wanted:
                        found.setdefault(entry.ino, []).append(
                            f"{tree.name}/{os.fsdecode(join(walk.path, entry.name))}")
    return found


def _intact_copy(snapshot: str, relative: str, ino: int, size: int, index) -> bool:
    """True when `relative` in the folder `snapshot` (no symlink followed on the way) is a
    regular file other than inode `ino`, of `size` bytes, whose bytes match its recorded
    checksum."""
    try:
        folder_fd, name = _open_parent(snapshot, os.fsencode(relative))
    except OSError:
        return False
    try:
        fd = open_file(folder_fd, name)
    except OSError:
        return False
    finally:
        os.close(folder_fd)
    try:
        info = os.fstat(fd)
        if info.st_ino == ino or info.st_size != size:
            return False
        facts = content_index.Facts(info.st_ino, info.st_size, info.st_mtime_ns, fd_birth_time_ns(fd))
        recorded = content_index.look_up(index, facts)
        return recorded is not None and hash_open_file(fd)[0] == recorded
    except OSError:
        return False
    finally:
        os.close(fd)


def good_snapshot(destination: str, snapshots: Sequence[str], relative: str, ino: int,
                  size: int, index) -> Optional[str]:
    """Return the first of `snapshots` whose copy of `relative` is intact and not inode
    `ino` (see _intact_copy), or None."""
    for name in snapshots:
        if _intact_copy(os.path.join(destination, name), relative, ino, size, index):
            return name
    return None


def _share_facts(path: str):
    """In a child: (size, mtime_ns) of the regular file `path` on the share, or None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns) if stat.S_ISREG(info.st_mode) else None


def share_has_same(job: Job, relative: str, size: int, mtime_ns: int) -> Optional[str]:
    """Return the share's path of `relative` when it is a file of that size and mtime
    (looked at in a child, given up after SHARE_LOOK_SECONDS), else None."""
    path = os.path.join(job.source, relative)
    try:
        answer = run_in_child(_share_facts, path, timeout=min(job.source_timeout, SHARE_LOOK_SECONDS))
    except ChildFailed:
        return None
    if answer.ending is Ending.EXITED and answer.value == (size, mtime_ns):
        return path
    return None


def second_job(config: Config, job: Job) -> Optional[str]:
    """Return the name of another job that backs up the same share (host and folder)."""
    for other in config.jobs:
        if other is not job and (other.source_ip, other.source) == (job.source_ip, job.source):
            return other.name
    return None


def describe_damage(config: Config, jobs: Sequence[Job], snapshot: Optional[str], listing,
                    indexes: Sequence, result: Checked, stale_names: bool = False) -> Damaged:
    """Return the Damaged record of one damaged inode of `listing` (of `jobs`' snapshots, or
    of `snapshot` only): its names in every snapshot of its job (the other snapshots, and
    with `stale_names` (a scrub's listing, older than the last rotation) all of them, are
    walked to find them) and the advice."""
    job = jobs[result.name.dest]
    trees = trees_of(config, [job])
    paths = [] if stale_names else paths_of(names_of(listing, result.ino))
    if snapshot is not None or stale_names:
        walked = [tree for tree in trees if stale_names or not is_snapshot(tree, snapshot)]
        paths = sort_paths(set(paths) | set(names_in_trees(walked, {result.ino}).get(result.ino, [])))
    if not paths:  # gone since it was read (a rotation dropped it)
        paths = paths_of([result.name])
    holding = snapshots_of(paths)
    relative = paths[0].split("/", 1)[1]
    candidates = [tree.name for tree in trees if tree.name not in holding]
    index = indexes[result.name.dest]
    good = good_snapshot(job.destination, candidates, relative, result.ino, result.size, index)
    share = None
    if good is None:
        share = share_has_same(job, relative, result.size, mtime_of(job, paths[0]))
    return Damaged(result.size, paths, holding, result.unreadable,
                   advice(good, share, second_job(config, job), job.name, relative))


def mtime_of(job: Job, path: str) -> int:
    """Return the mtime (ns) of `path` ("snapshot/relative") in the job's destination, or -1."""
    try:
        return os.lstat(os.path.join(job.destination, path)).st_mtime_ns
    except OSError:
        return -1


