"""A file unchanged across many snapshots has one inode with many names, and file systems
cap that number (ext4: 65,000; ext2/3: 32,000). At the cap `cp -al` fails with "Too many
links" (EMLINK). vhpi's answer: give backup.latest's name of such a file a fresh inode (a
plain copy with all its metadata), so older snapshots keep the old inode untouched and
new snapshots link to the new one."""

from __future__ import annotations

import logging
import os
import stat
from typing import Iterator, Sequence

from vhpi.act.processes import run_streaming

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


def files_at_link_limit(root: str, limit: int) -> Iterator[str]:
    """Yield every non-folder below `root` whose inode cannot take one more name."""
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if not stat.S_ISDIR(info.st_mode) and info.st_nlink >= limit:
                yield path


def copy_to_fresh_inode(path: str, scratch: str, keep_fds: Sequence[int] = ()) -> None:
    """Replace `path` by an exact copy (content, owner, mode, times, ACLs, xattrs) with a new
    inode; `scratch` is a free name on the same file system."""
    code, tail = run_streaming(("cp", "-a", "--preserve=all", "--", path, scratch), lambda line: None,
                               keep_fds)
    if code != 0:
        raise OSError(f"cannot copy {path} to a fresh inode: {'; '.join(tail[-2:])}")
    os.rename(scratch, path)


def unshare_files_at_link_limit(latest: str, work: str, log: logging.Logger,
                                keep_fds: Sequence[int] = ()) -> int:
    """Give every file in `latest` that is at the link limit a fresh inode; return how many."""
    limit = link_limit(latest)
    count = 0
    for path in files_at_link_limit(latest, limit):
        log.debug("%s has %d names, the file system's limit: copying it to a fresh inode", path, limit)
        copy_to_fresh_inode(path, os.path.join(work, UNSHARE_SCRATCH), keep_fds)
        count += 1
    return count
