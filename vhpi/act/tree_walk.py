"""Walking snapshot trees for `vhpi diff` and `vhpi du`, cheaply and in bounded memory.

The walks read folders with os.scandir, names as bytes, and never follow symlinks. A
folder's entries come with their kind and inode number at no cost (getdents), so:

* compare_trees (diff) calls lstat only when two entries are not the same inode: a file
  that a snapshot shares with the other through a hard link costs nothing beyond its
  name. Changes are yielded as they are found (depth first, in name order).
* measure_trees (du) walks all of a job's snapshots side by side, path by path, and
  lstats each distinct inode at a path once, however many snapshots share it.

Any depth works: the walks keep their place in open folders (vhpi.act.fd_walk), without
recursion, every call relative to a folder's fd, with a bounded number of fds.

Memory: the walks hold the listings of the folders on the current path from the top
(one per tree), never a list of all files. A folder that cannot be read, or an entry that
vanishes during the walk, is reported to `problem(path, error)` and skipped.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import stat
from operator import itemgetter
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from vhpi.act.fd_walk import (DIR_FLAGS, Entry, OpenPath, join, keep_for, list_folder,
                              walk_tree)
from vhpi.decide.space_share import SpaceLedger
from vhpi.decide.tree_compare import (ADDED, FOLDER, REMOVED, Change, Facts, differences,
                                      facts_from_stat, marker_for, merge_listings)

Skip = Callable[[bytes, bool], bool]
Problem = Callable[[bytes, OSError], None]
BLOCK = 512

#: One name in the side-by-side walk: (name, the trees where it is a folder,
#: [(tree, device, entry)] for the trees where it is something else).
Named = Tuple[bytes, List[int], List[Tuple[int, int, Entry]]]


def _never(path: bytes, is_folder: bool) -> bool:
    return False


def _raise(path: bytes, error: OSError) -> None:
    raise error


def read_folder(path: bytes) -> List[Entry]:
    """Return the entries of the folder `path`, sorted by name (raises OSError)."""
    fd = os.open(path, DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        return list_folder(fd)
    finally:
        os.close(fd)


def read_facts(path: bytes, dir_fd: Optional[int] = None) -> Tuple[Facts, os.stat_result]:
    """Return the Facts and lstat of `path` (relative to the open folder `dir_fd` if given),
    reading a symlink's target (raises OSError)."""
    st = os.lstat(path, dir_fd=dir_fd)
    target = os.readlink(path, dir_fd=dir_fd) if stat.S_ISLNK(st.st_mode) else None
    return facts_from_stat(st, target), st


def _open_at(root: bytes, path: bytes, keep: int) -> OpenPath:
    """Return a walk standing in the folder root/path, entered name by name."""
    walk = OpenPath.open(root, keep)
    try:
        for name in path.split(b"/"):
            if name:
                walk.down(name)
    except BaseException:
        walk.close()
        raise
    return walk


# ---------------------------------------------------------------- diff

class _Pair(NamedTuple):
    dev_a: int
    dev_b: int
    names: Iterator


def compare_trees(root_a: bytes, root_b: bytes, quick: bool, skip: Optional[Skip] = None,
                  problem: Optional[Problem] = None) -> Iterator[Change]:
    """Yield the Changes from tree `root_a` to tree `root_b` (see vhpi.decide.tree_compare),
    depth first in name order; an added or removed folder is one Change. quick: compare as
    with the source (see tree_compare.differences). skip(path, is_folder): leave a path
    out on both sides. problem(path, error): told about what cannot be read, which is
    left out (default: raise). Raises OSError when a top folder cannot be read."""
    report = problem or _raise
    skip = skip or _never
    with OpenPath.open(root_a, keep_for(2)) as a, OpenPath.open(root_b, keep_for(2)) as b:
        stack = [_pair_here(a, b, skip)[0]]
        while stack:
            step = next(stack[-1].names, None)
            if step is None:
                stack.pop()
                if stack:
                    a.up()
                    b.up()
                continue
            name, entry_a, entry_b = step
            path = join(a.path, name)
            if entry_a is not None and entry_b is not None and entry_a.kind == entry_b.kind == FOLDER:
                opened = _enter_pair(a, b, name, skip, report)
                if opened is not None:
                    yield from _changed(path, opened[1], opened[2], quick)
                    stack.append(opened[0])
            else:
                yield from _compare_entries((a, b), stack[-1], path, entry_a, entry_b, quick, skip,
                                            report)


def _enter_pair(a: OpenPath, b: OpenPath, name: bytes, skip: Skip,
                problem: Problem) -> Optional[Tuple[_Pair, Facts, Facts]]:
    """Enter the folder `name` on both sides and return it ready to walk (see _pair_here);
    None, after telling `problem` and with both walks where they were, when one side
    cannot be entered or read."""
    path = join(a.path, name)
    entered = []
    try:
        for walk in (a, b):
            walk.down(name)
            entered.append(walk)
        return _pair_here(a, b, skip)
    except OSError as error:
        for walk in entered:
            walk.up()
        problem(path, error)
        return None


def _pair_here(a: OpenPath, b: OpenPath, skip: Skip) -> Tuple[_Pair, Facts, Facts]:
    """Return the current folders of `a` and `b` ready to walk, with their Facts (raises
    OSError)."""
    st_a, st_b = os.fstat(a.fd), os.fstat(b.fd)
    listing_a = _kept(list_folder(a.fd), a.path, skip)
    listing_b = _kept(list_folder(b.fd), b.path, skip)
    pair = _Pair(st_a.st_dev, st_b.st_dev, merge_listings(listing_a, listing_b))
    return pair, facts_from_stat(st_a), facts_from_stat(st_b)


def _kept(listing: List[Entry], folder: bytes, skip: Skip) -> List[Entry]:
    if skip is _never:
        return listing
    return [entry for entry in listing if not skip(join(folder, entry.name), entry.kind == FOLDER)]


def _changed(path: bytes, a: Facts, b: Facts, quick: bool) -> Iterator[Change]:
    what = differences(a, b, quick)
    marker = marker_for(what)
    if marker is not None:
        yield Change(marker, path, b.kind, b.size, old_size=a.size, what=what)


def _compare_entries(walks: Tuple[OpenPath, OpenPath], pair: _Pair, path: bytes,
                     a: Optional[Entry], b: Optional[Entry], quick: bool, skip: Skip,
                     problem: Problem) -> Iterator[Change]:
    """Yield what became of one name that is not a folder on both sides."""
    walk_a, walk_b = walks
    if a is not None and b is not None and a.kind == b.kind:
        if pair.dev_a == pair.dev_b and a.ino == b.ino:
            return
        try:
            facts_a, _ = read_facts(a.name, walk_a.fd)
            facts_b, _ = read_facts(b.name, walk_b.fd)
        except OSError as error:
            problem(path, error)
            return
        if facts_a.kind == facts_b.kind:
            yield from _changed(path, facts_a, facts_b, quick)
            return
    if a is not None:
        yield from _whole(REMOVED, walk_a, path, a, skip, problem)
    if b is not None:
        yield from _whole(ADDED, walk_b, path, b, skip, problem)


def _whole(marker: str, walk: OpenPath, path: bytes, entry: Entry, skip: Skip,
           problem: Problem) -> Iterator[Change]:
    """Yield the one Change for an entry (in the current folder of `walk`) added or removed
    as a whole."""
    if entry.kind == FOLDER:
        files, size, folders = _totals_below(walk, entry.name, path, skip, problem)
        yield Change(marker, path, FOLDER, size, files=files, folders=folders)
        return
    try:
        size = os.lstat(entry.name, dir_fd=walk.fd).st_size
    except OSError as error:
        problem(path, error)
        return
    yield Change(marker, path, entry.kind, size)


def folder_totals(root: bytes, path: bytes, skip: Optional[Skip] = None,
                  problem: Optional[Problem] = None) -> Tuple[int, int, int]:
    """Return (non-folder entries, their total size, folders including itself) below the
    folder root/path, walking it without keeping a list of its files."""
    report = problem or _raise
    try:
        walk = _open_at(root, path, keep_for(1))
    except OSError as error:
        report(path, error)
        return 0, 0, 1
    with walk:
        return _totals_here(walk, skip or _never, report)


def _totals_below(walk: OpenPath, name: bytes, path: bytes, skip: Skip,
                  problem: Problem) -> Tuple[int, int, int]:
    """folder_totals of the folder `name` in the current folder of `walk` (at `path`)."""
    try:
        walk.down(name)
    except OSError as error:
        problem(path, error)
        return 0, 0, 1
    totals = _totals_here(walk, skip, problem)
    walk.up()
    return totals


def _totals_here(walk: OpenPath, skip: Skip, problem: Problem) -> Tuple[int, int, int]:
    """folder_totals of the current folder of `walk`, which ends where it started."""
    files = size = 0
    folders = 1
    for listing in walk_tree(walk, problem):
        if skip is not _never:
            listing[:] = _kept(listing, walk.path, skip)
        for entry in listing:
            if entry.kind == FOLDER:
                folders += 1
                continue
            try:
                size += os.lstat(entry.name, dir_fd=walk.fd).st_size
                files += 1
            except OSError as error:
                problem(join(walk.path, entry.name), error)
    return files, size, folders


# ---------------------------------------------------------------- du

def measure_trees(roots: Sequence[bytes], ledger: SpaceLedger,
                  problem: Optional[Problem] = None) -> None:
    """Walk the trees `roots` (tree i counted as snapshot i of `ledger`) side by side and
    tell `ledger` about every folder and, path by path, every inode with the trees that
    hold a name of it there (blocks = st_blocks * 512, as du counts)."""
    report = problem or _raise
    with contextlib.ExitStack() as held:
        walks: Dict[int, OpenPath] = {}
        for tree, root in enumerate(roots):
            try:
                walks[tree] = held.enter_context(OpenPath.open(root, keep_for(len(roots))))
            except OSError as error:
                report(join(root, b""), error)
        _measure(roots, walks, ledger, report)


def _measure(roots: Sequence[bytes], walks: Dict[int, OpenPath], ledger: SpaceLedger,
             problem: Problem) -> None:
    stack = [_open_level(roots, walks, list(walks), None, ledger, problem)]
    while stack:
        names, inside = stack[-1]
        step = next(names, None)
        if step is None:
            stack.pop()
            if stack:
                for tree in inside:
                    walks[tree].up()
            continue
        name, folder_trees, others = step
        _count_names(roots, walks, name, others, ledger, problem)
        if folder_trees:
            stack.append(_open_level(roots, walks, folder_trees, name, ledger, problem))


def _open_level(roots: Sequence[bytes], walks: Dict[int, OpenPath], trees: Sequence[int],
                name: Optional[bytes], ledger: SpaceLedger,
                problem: Problem) -> Tuple[Iterator[Named], List[int]]:
    """Enter the folder `name` (None: stay) in each of `trees` and count it; return an
    iterator over the names in any of them (see Named) and the trees that are in it now."""
    listings, inside = [], []
    for tree in trees:
        walk = walks[tree]
        try:
            if name is not None:
                walk.down(name)
        except OSError as error:
            problem(join(roots[tree], join(walk.path, name)), error)
            continue
        try:
            st = os.fstat(walk.fd)
            listing = list_folder(walk.fd)
        except OSError as error:
            problem(join(roots[tree], walk.path), error)
            if name is not None:
                walk.up()
            continue
        inside.append(tree)
        ledger.add_folder(tree, st.st_blocks * BLOCK)
        listings.append([(entry.name, tree, st.st_dev, entry) for entry in listing])
    merged = heapq.merge(*listings)
    names = (_by_kind(name, list(group)) for name, group in itertools.groupby(merged, key=itemgetter(0)))
    return names, inside


def _by_kind(name: bytes, group: List[Tuple[bytes, int, int, Entry]]) -> Named:
    folders = [tree for _, tree, _, entry in group if entry.kind == FOLDER]
    others = [(tree, device, entry) for _, tree, device, entry in group if entry.kind != FOLDER]
    return name, folders, others


def _count_names(roots: Sequence[bytes], walks: Dict[int, OpenPath], name: bytes,
                 others: Sequence[Tuple[int, int, Entry]], ledger: SpaceLedger,
                 problem: Problem) -> None:
    """lstat each distinct inode among the entries `name` of the trees' current folders
    once and tell the ledger."""
    trees_by_inode: Dict[Tuple[int, int], List[int]] = {}
    for tree, device, entry in others:
        trees_by_inode.setdefault((device, entry.ino), []).append(tree)
    for trees in trees_by_inode.values():
        walk = walks[trees[0]]
        try:
            st = os.lstat(name, dir_fd=walk.fd)
        except OSError as error:
            problem(join(roots[trees[0]], join(walk.path, name)), error)
            continue
        ledger.add_names(st.st_dev << 64 | st.st_ino, st.st_nlink, st.st_blocks * BLOCK, trees)
