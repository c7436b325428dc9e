"""The generated source trees: their file names and contents, building them, and changing
a deterministic 1 % of their files before a round."""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from .plan import SAMPLE_FILES, SEED

FILES_PER_DIR = 100                                        # small files per leaf folder
DIRS_PER_TOP = 32                                          # leaf folders per top folder
LARGE_COUNT = 4
LARGE_BYTES = 32 << 20


@dataclass
class Tree:
    """One generated source tree: `count` files, either small ones in nested folders or
    LARGE_COUNT large ones. `version` counts the rounds of changes applied so far and
    `changed` holds the indices of the files the last round rewrote."""

    name: str
    path: str
    count: int
    large: bool
    version: int = 0
    changed: List[int] = field(default_factory=list)

    def relative(self, index: int) -> str:
        """Given a file index, return that file's path inside the tree."""
        if self.large:
            return f"large/file{index}.bin"
        leaf = index // FILES_PER_DIR
        return f"d{leaf // DIRS_PER_TOP:04d}/d{leaf % DIRS_PER_TOP:02d}/f{index:07d}.txt"

    def label(self) -> str:
        """Return a short human description for tables ('10,000 small', '4 × 32 MiB')."""
        if self.large:
            return f"{self.count} × {LARGE_BYTES >> 20} MiB"
        return f"{self.count:,} small"


def make_trees(sizes: Sequence[int], large: bool, work: str) -> List[Tree]:
    """Given the small-tree sizes, whether to add the large-file tree and the work folder,
    return the trees to benchmark (small ones in the given order, then the large one)."""
    trees = [Tree(f"small{size}", os.path.join(work, "src", f"small{size}"), size, False) for size in sizes]
    if large:
        trees.append(Tree("large", os.path.join(work, "src", "large"), LARGE_COUNT, True))
    return trees


def small_content(index: int, version: int) -> bytes:
    """Return the few dozen bytes of small file `index` at `version` (constant length)."""
    return f"vhpi bench file {index:07d} version {version:05d}\n".encode()


def large_content(index: int, version: int) -> bytes:
    """Return the pseudo-random LARGE_BYTES of large file `index` at `version`."""
    return random.Random(SEED * 1000 + index * 100 + version).randbytes(LARGE_BYTES)


def content(tree: Tree, index: int, version: int) -> bytes:
    """Return the bytes of file `index` of `tree` at `version`."""
    return large_content(index, version) if tree.large else small_content(index, version)


def changed_indices(count: int, large: bool, version: int) -> List[int]:
    """Given a tree's file count and kind and the change round `version` (1, 2, ...), return
    the indices that round rewrites: one large file in turn, or every small file whose index
    is congruent to version - 1 modulo 100 (another 1 % each round)."""
    if large:
        return [(version - 1) % count]
    return list(range((version - 1) % 100, count, 100))


def change_mtime(version: int) -> float:
    """Return the mtime given to the files of change round `version` (a fixed past time)."""
    return 1_600_000_000 + version * 60


def sampled_indices(tree: Tree) -> List[int]:
    """Return a deterministic sample of SAMPLE_FILES file indices plus the first five of the
    last changed ones, sorted, for the content checks."""
    picks = random.Random(SEED + tree.count).sample(range(tree.count), min(SAMPLE_FILES, tree.count))
    return sorted(set(picks) | set(tree.changed[:5]))


def write_file(tree: Tree, index: int, version: int, mtime: Optional[float] = None) -> None:
    """Write file `index` of `tree` at `version`, and set its mtime when one is given."""
    path = os.path.join(tree.path, tree.relative(index))
    with open(path, "wb") as handle:
        handle.write(content(tree, index, version))
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def generate_tree(tree: Tree) -> float:
    """Create the tree's folders and files (deterministic content, version 0) plus vhpi's
    `.backup_valid`; return the seconds it took. Files are created relative to an open
    folder descriptor, which is much faster than full paths on large trees."""
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
            fd = os.open(os.path.basename(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644,
                         dir_fd=folder_fd)
            os.write(fd, content(tree, index, 0))
            os.close(fd)
    finally:
        if folder_fd >= 0:
            os.close(folder_fd)
    open(os.path.join(tree.path, ".backup_valid"), "w").close()
    return time.perf_counter() - started


def change_one_percent(tree: Tree) -> None:
    """Start the next change round of `tree`: rewrite the content and set a new mtime of the
    files changed_indices chooses, and record them in tree.changed."""
    tree.version += 1
    chosen = changed_indices(tree.count, tree.large, tree.version)
    for index in chosen:
        write_file(tree, index, tree.version, change_mtime(tree.version))
    tree.changed = chosen
