"""Walking snapshot trees for `vhpi diff` and `vhpi du`, cheaply and in bounded memory.

Both walks read folders with os.scandir, names as bytes, and never follow symlinks. A
folder's entries come with their kind and inode number at no cost (getdents), so:

* compare_trees (diff) calls lstat only when two entries are not the same inode: a file
  that a snapshot shares with the other through a hard link costs nothing beyond its
  name. Changes are yielded as they are found (depth first, in name order).
* measure_trees (du) walks all of a job's snapshots side by side, path by path, and
  lstats each distinct inode at a path once, however many snapshots share it.

Memory: the walks hold the listings of the folders on the current path from the top
(one per tree), never a list of all files. A folder that cannot be read, or an entry that
vanishes during the walk, is reported to `problem(path, error)` and skipped.
"""

from __future__ import annotations

import heapq
import itertools
import os
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from vhpi.decide.space_share import SpaceLedger
from vhpi.decide.tree_compare import (ADDED, FILE, FOLDER, OTHER, REMOVED, SYMLINK, Change,
                                      Facts, differences, facts_from_stat, marker_for,
                                      merge_listings)

Skip = Callable[[bytes, bool], bool]
Problem = Callable[[bytes, OSError], None]
BLOCK = 512


class Entry(NamedTuple):
    """One name in a folder, from the folder listing alone."""

    name: bytes
    kind: str
    ino: int


#: One name in the side-by-side walk: (path, the trees where it is a folder,
#: [(tree, device, entry)] for the trees where it is something else).
Named = Tuple[bytes, List[int], List[Tuple[int, int, Entry]]]


def _never(path: bytes, is_folder: bool) -> bool:
    return False


def join(folder: bytes, name: bytes) -> bytes:
    """Return folder/name, or name alone when folder is empty (the top)."""
    return folder + b"/" + name if folder else name


def read_folder(path: bytes) -> List[Entry]:
    """Return the entries of the folder `path`, sorted by name (raises OSError)."""
    with os.scandir(path) as listing:
        entries = [Entry(item.name, _kind(item), item.inode()) for item in listing]
    entries.sort()
    return entries


def _kind(item: os.DirEntry) -> str:
    try:
        if item.is_symlink():
            return SYMLINK
        if item.is_dir(follow_symlinks=False):
            return FOLDER
        return FILE if item.is_file(follow_symlinks=False) else OTHER
    except OSError:
        return OTHER


def read_facts(path: bytes) -> Tuple[Facts, os.stat_result]:
    """Return the Facts and lstat of `path`, reading a symlink's target (raises OSError)."""
    st = os.lstat(path)
    target = os.readlink(path) if facts_from_stat(st).kind == SYMLINK else None
    return facts_from_stat(st, target), st


# ---------------------------------------------------------------- diff

class _Pair(NamedTuple):
    path: bytes
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
    top, _, _ = _open_pair(root_a, root_b, b"", skip, None)
    stack = [top]
    while stack:
        step = next(stack[-1].names, None)
        if step is None:
            stack.pop()
            continue
        name, a, b = step
        pair = stack[-1]
        path = join(pair.path, name)
        if a is not None and b is not None and a.kind == b.kind == FOLDER:
            opened = _open_pair(root_a, root_b, path, skip, report)
            if opened is not None:
                yield from _changed(path, opened[1], opened[2], quick)
                stack.append(opened[0])
        else:
            yield from _compare_entries(root_a, root_b, pair, path, a, b, quick, skip, report)


def _raise(path: bytes, error: OSError) -> None:
    raise error


def _open_pair(root_a: bytes, root_b: bytes, path: bytes, skip: Skip,
               problem: Optional[Problem]) -> Optional[Tuple[_Pair, Facts, Facts]]:
    """Return the pair of folders at `path` ready to walk, with their Facts; None (after
    telling `problem`) when one cannot be read. Without `problem`, raise."""
    try:
        facts_a, st_a = read_facts(join(root_a, path))
        facts_b, st_b = read_facts(join(root_b, path))
        listing_a = _kept(read_folder(join(root_a, path)), path, skip)
        listing_b = _kept(read_folder(join(root_b, path)), path, skip)
    except OSError as error:
        if problem is None:
            raise
        problem(path, error)
        return None
    names = merge_listings(listing_a, listing_b)
    return _Pair(path, st_a.st_dev, st_b.st_dev, names), facts_a, facts_b


def _kept(listing: List[Entry], folder: bytes, skip: Skip) -> List[Entry]:
    if skip is _never:
        return listing
    return [entry for entry in listing if not skip(join(folder, entry.name), entry.kind == FOLDER)]


def _changed(path: bytes, a: Facts, b: Facts, quick: bool) -> Iterator[Change]:
    what = differences(a, b, quick)
    marker = marker_for(what)
    if marker is not None:
        yield Change(marker, path, b.kind, b.size, old_size=a.size, what=what)


def _compare_entries(root_a: bytes, root_b: bytes, pair: _Pair, path: bytes,
                     a: Optional[Entry], b: Optional[Entry], quick: bool, skip: Skip,
                     problem: Problem) -> Iterator[Change]:
    """Yield what became of one name that is not a folder on both sides."""
    if a is not None and b is not None and a.kind == b.kind:
        if pair.dev_a == pair.dev_b and a.ino == b.ino:
            return
        try:
            facts_a, _ = read_facts(join(root_a, path))
            facts_b, _ = read_facts(join(root_b, path))
        except OSError as error:
            problem(path, error)
            return
        if facts_a.kind == facts_b.kind:
            yield from _changed(path, facts_a, facts_b, quick)
            return
    if a is not None:
        yield from _whole(REMOVED, root_a, path, a, skip, problem)
    if b is not None:
        yield from _whole(ADDED, root_b, path, b, skip, problem)


def _whole(marker: str, root: bytes, path: bytes, entry: Entry, skip: Skip,
           problem: Problem) -> Iterator[Change]:
    """Yield the one Change for an entry added or removed as a whole."""
    if entry.kind == FOLDER:
        files, size, folders = folder_totals(root, path, skip, problem)
        yield Change(marker, path, FOLDER, size, files=files, folders=folders)
        return
    try:
        size = os.lstat(join(root, path)).st_size
    except OSError as error:
        problem(path, error)
        return
    yield Change(marker, path, entry.kind, size)


def folder_totals(root: bytes, path: bytes, skip: Optional[Skip] = None,
                  problem: Optional[Problem] = None) -> Tuple[int, int, int]:
    """Return (non-folder entries, their total size, folders including itself) below the
    folder root/path, walking it without keeping a list of its files."""
    report = problem or _raise
    skip = skip or _never
    files = size = folders = 0
    pending = [path]
    while pending:
        folder = pending.pop()
        folders += 1
        try:
            listing = _kept(read_folder(join(root, folder)), folder, skip)
        except OSError as error:
            report(folder, error)
            continue
        for entry in listing:
            inner = join(folder, entry.name)
            if entry.kind == FOLDER:
                pending.append(inner)
                continue
            try:
                size += os.lstat(join(root, inner)).st_size
                files += 1
            except OSError as error:
                report(inner, error)
    return files, size, folders


# ---------------------------------------------------------------- du

def measure_trees(roots: Sequence[bytes], ledger: SpaceLedger,
                  problem: Optional[Problem] = None) -> None:
    """Walk the trees `roots` (tree i counted as snapshot i of `ledger`) side by side and
    tell `ledger` about every folder and, path by path, every inode with the trees that
    hold a name of it there (blocks = st_blocks * 512, as du counts)."""
    report = problem or _raise
    stack = [_open_trees(roots, b"", range(len(roots)), ledger, report)]
    while stack:
        step = next(stack[-1], None)
        if step is None:
            stack.pop()
            continue
        path, folder_trees, others = step
        _count_names(roots, path, others, ledger, report)
        if folder_trees:
            stack.append(_open_trees(roots, path, folder_trees, ledger, report))


def _open_trees(roots: Sequence[bytes], path: bytes, trees: Sequence[int], ledger: SpaceLedger,
                problem: Problem) -> Iterator[Named]:
    """Count the folder `path` of each of `trees`, then return an iterator over the names
    in any of them: (path, trees where it is a folder, [(tree, device, entry)] for the
    others)."""
    listings = []
    for tree in trees:
        try:
            st = os.lstat(join(roots[tree], path))
            listing = read_folder(join(roots[tree], path))
        except OSError as error:
            problem(join(roots[tree], path), error)
            continue
        ledger.add_folder(tree, st.st_blocks * BLOCK)
        listings.append([(entry.name, tree, st.st_dev, entry) for entry in listing])
    merged = heapq.merge(*listings)
    return (_by_kind(join(path, name), list(group))
            for name, group in itertools.groupby(merged, key=lambda item: item[0]))


def _by_kind(path: bytes, group: List[Tuple[bytes, int, int, Entry]]) -> Named:
    folders = [tree for _, tree, _, entry in group if entry.kind == FOLDER]
    others = [(tree, device, entry) for _, tree, device, entry in group if entry.kind != FOLDER]
    return path, folders, others


def _count_names(roots: Sequence[bytes], path: bytes, others: Sequence[Tuple[int, int, Entry]],
                 ledger: SpaceLedger, problem: Problem) -> None:
    """lstat each distinct inode among the names at `path` once and tell the ledger."""
    trees_by_inode: Dict[Tuple[int, int], List[int]] = {}
    for tree, device, entry in others:
        trees_by_inode.setdefault((device, entry.ino), []).append(tree)
    for trees in trees_by_inode.values():
        full = join(roots[trees[0]], path)
        try:
            st = os.lstat(full)
        except OSError as error:
            problem(full, error)
            continue
        ledger.add_names(st.st_dev << 64 | st.st_ino, st.st_nlink, st.st_blocks * BLOCK, trees)
