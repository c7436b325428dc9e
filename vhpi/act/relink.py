"""Turning an expiring snapshot into the new one: the cheap way to "delete the oldest, then
cp -al backup.latest".

`relink_tree(model, tree)` makes `tree` an exact hard-linked copy of `model`, as `cp -al`
would, but touches only what differs: an entry whose inode already is the model's stays,
every other non-folder is unlinked and linked anew (never changed in place: inodes are
shared with other snapshots), extra entries are removed, and each folder gets the model's
owner, mode, extended attributes (ACLs included) and times. Unchanged files cost one
readdir entry, no system call of their own. Symlinks are never followed; names that are
not UTF-8 are kept as they are (as str with surrogate escapes, back to the same bytes).

Any depth works: both trees are walked side by side without recursion, every call relative
to an open folder (dir_fd=..., or fchown, fchmod, f*xattr and futimens on the folder's fd),
with a bounded number of fds (vhpi.act.fd_walk).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from typing import List

from vhpi.act.fd_walk import DIR_FLAGS, OpenPath, keep_for
from vhpi.act.tree_edit import remove_folder


@dataclass
class RelinkCounts:
    """How much of the tree had to change."""

    kept: int = 0
    linked: int = 0
    removed: int = 0


def _copy_xattrs(model: int, tree: int) -> None:
    """Give the open folder `tree` exactly the extended attributes of the open folder `model`."""
    try:
        wanted = {name: os.getxattr(model, name) for name in os.listxattr(model)}
        present = os.listxattr(tree)
    except OSError as error:
        if error.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return
        raise
    for name in present:
        if name not in wanted:
            os.removexattr(tree, name)
    for name, value in wanted.items():
        os.setxattr(tree, name, value)


def copy_folder_metadata(model: bytes, tree: bytes) -> None:
    """Give folder `tree` the owner, mode, extended attributes and times of folder `model`."""
    model_fd = os.open(model, DIR_FLAGS)
    try:
        tree_fd = os.open(tree, DIR_FLAGS)
        try:
            _copy_metadata(model_fd, tree_fd)
        finally:
            os.close(tree_fd)
    finally:
        os.close(model_fd)


def _copy_metadata(model: int, tree: int) -> None:
    """copy_folder_metadata for open folders: fstat, fchown, fchmod, f*xattr, futimens."""
    info = os.fstat(model)
    try:
        os.chown(tree, info.st_uid, info.st_gid)
    except PermissionError:
        pass  # a normal user cannot give folders away; theirs stay theirs, as with cp -a
    os.chmod(tree, stat.S_IMODE(info.st_mode))
    _copy_xattrs(model, tree)
    os.utime(tree, ns=(info.st_atime_ns, info.st_mtime_ns))


def _sync_entries(model: int, tree: int, counts: RelinkCounts) -> List[str]:
    """Make the entries of the open folder `tree` those of the open folder `model`, except
    inside their folders; return the names of the folders, to be brought in line next."""
    # one scandir per side; DirEntry caches the type and inode, so an unchanged file
    # costs no system call of its own
    with os.scandir(model) as listing:
        wanted = {entry.name: entry for entry in listing}
    kept_dirs, kept_files = set(), set()
    with os.scandir(tree) as listing:
        for entry in listing:
            twin = wanted.get(entry.name)
            is_dir = entry.is_dir(follow_symlinks=False)
            if twin is not None and twin.is_dir(follow_symlinks=False) == is_dir:
                if is_dir:
                    kept_dirs.add(entry.name)
                    continue
                if twin.inode() == entry.inode():
                    kept_files.add(entry.name)
                    continue
            if is_dir:
                remove_folder(entry.name, tree)
            else:
                os.unlink(entry.name, dir_fd=tree)
            counts.removed += 1
    counts.kept += len(kept_files)
    folders = []
    for name, entry in wanted.items():
        if name in kept_files:
            continue
        if entry.is_dir(follow_symlinks=False):
            if name not in kept_dirs:
                os.mkdir(name, dir_fd=tree)
            folders.append(name)
        else:
            os.link(name, name, src_dir_fd=model, dst_dir_fd=tree, follow_symlinks=False)
            counts.linked += 1
    return folders


def relink_tree(model: str, tree: str) -> RelinkCounts:
    """Make folder `tree` an exact hard-linked copy of folder `model`; return what changed.

    Both trees are walked side by side without recursion, relative to open folders with a
    bounded number of fds (vhpi.act.fd_walk), so any depth works; a folder gets its
    metadata once everything in it is done."""
    counts = RelinkCounts()
    keep = keep_for(2)
    with OpenPath.open(model, keep) as source, OpenPath.open(tree, keep) as target:
        pending = [iter(_sync_entries(source.fd, target.fd, counts))]
        while pending:
            name = next(pending[-1], None)
            if name is not None:
                source.down(name)
                target.down(name)
                pending.append(iter(_sync_entries(source.fd, target.fd, counts)))
                continue
            pending.pop()
            _copy_metadata(source.fd, target.fd)
            if pending:
                source.up()
                target.up()
    return counts
