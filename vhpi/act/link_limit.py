"""A file unchanged across many snapshots has one inode with many names, and file systems
cap that number (ext4: 65,000; ext2/3: 32,000). At the cap `cp -al` fails with "Too many
links" (EMLINK). vhpi's answer: give backup.latest's name of such a file a fresh inode (a
plain copy with all its metadata), so older snapshots keep the old inode untouched and
new snapshots link to the new one."""

from __future__ import annotations

import logging
import os
import stat
from typing import Dict, Iterator, List, Tuple

from vhpi.act.fd_walk import OpenPath, join, walk_tree
from vhpi.act.processes import run_streaming
from vhpi.decide.tree_compare import FOLDER

LINK_LIMIT_MESSAGE = "Too many links"
UNSHARE_SCRATCH = "unshare.tmp"
#: ext4's limit, for file systems that do not say.
DEFAULT_LINK_LIMIT = 65000


def link_limit(path: str) -> int:
    """Return the most names one inode may have on the file system holding `path`."""
    try:
        return os.pathconf(path, "PC_LINK_MAX")
    except (OSError, ValueError):
        return DEFAULT_LINK_LIMIT


def names_over_link_limit(root: str, limit: int) -> Iterator[List[str]]:
    """Yield, per inode that `cp -al` of `root` could not link, every name it has below `root`.

    cp -al adds one name per name the inode has in the tree (rsync -H keeps hard-linked
    files linked), so an inode with n names in all and k below `root` fails when n + k
    exceeds the limit. Only inodes past half the limit can; only those are remembered.
    The walk works at any depth (vhpi.act.fd_walk) and, like os.walk, passes over folders
    it cannot read.
    """
    candidates: Dict[Tuple[int, int], List[str]] = {}
    totals: Dict[Tuple[int, int], int] = {}
    try:
        walk = OpenPath.open(root)
    except OSError:
        return
    with walk:
        for listing in walk_tree(walk, _pass_over):
            for entry in listing:
                if entry.kind == FOLDER:
                    continue
                info = os.lstat(entry.name, dir_fd=walk.fd)
                if not stat.S_ISDIR(info.st_mode) and info.st_nlink * 2 > limit:
                    key = (info.st_dev, info.st_ino)
                    candidates.setdefault(key, []).append(_below(root, walk.path, entry.name))
                    totals[key] = info.st_nlink
    for key, paths in candidates.items():
        if totals[key] + len(paths) > limit:
            yield paths


def _pass_over(path: bytes, error: OSError) -> None:
    pass


def _below(root: str, folder: bytes, name: bytes) -> str:
    """Return the path of `name` in the folder at `folder` below `root`."""
    return os.path.join(root, os.fsdecode(join(folder, name)))


def copy_to_fresh_inode(path: str, scratch: str) -> None:
    """Replace `path` by an exact copy (content, owner, mode, times, ACLs, xattrs) with a new
    inode; `scratch` is a free name on the same file system."""
    finished = run_streaming(("cp", "-a", "--preserve=all", "--", path, scratch), lambda line: None)
    if not finished.ok:
        raise OSError(f"cannot copy {path} to a fresh inode: {'; '.join(finished.tail[-2:])}")
    os.rename(scratch, path)


def _relink(source: str, path: str, scratch: str) -> None:
    """Make `path` another name of `source`'s inode, replacing it atomically."""
    os.link(source, scratch)
    os.rename(scratch, path)


def unshare_files_at_link_limit(latest: str, work: str, log: logging.Logger) -> int:
    """Give every inode in `latest` that cp -al could not link a fresh inode, keeping the
    names it has in `latest` together on the new one; return how many inodes."""
    limit = link_limit(latest)
    scratch = os.path.join(work, UNSHARE_SCRATCH)
    count = 0
    for first, *others in names_over_link_limit(latest, limit):
        log.debug("%s is at the file system's limit of %d names: copying it to a fresh inode",
                  first, limit)
        copy_to_fresh_inode(first, scratch)
        for other in others:
            _relink(first, other, scratch)
        count += 1
    return count
