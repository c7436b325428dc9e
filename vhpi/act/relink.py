"""Turning an expiring snapshot into the new one: the cheap way to "delete the oldest, then
cp -al backup.latest".

`relink_tree(model, tree)` makes `tree` an exact hard-linked copy of `model`, as `cp -al`
would, but touches only what differs: an entry whose inode already is the model's stays,
every other non-folder is unlinked and linked anew (never changed in place: inodes are
shared with other snapshots), extra entries are removed, and each folder gets the model's
owner, mode, extended attributes (ACLs included) and times. Unchanged files cost one
readdir entry, no system call of their own. Names are handled as bytes; symlinks are
never followed.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from vhpi.act.tree_edit import remove_tree


@dataclass
class RelinkCounts:
    """How much of the tree had to change."""

    kept: int = 0
    linked: int = 0
    removed: int = 0


def _copy_xattrs(model: bytes, tree: bytes) -> None:
    try:
        wanted = {name: os.getxattr(model, name, follow_symlinks=False)
                  for name in os.listxattr(model, follow_symlinks=False)}
        present = os.listxattr(tree, follow_symlinks=False)
    except OSError as error:
        if error.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return
        raise
    for name in present:
        if name not in wanted:
            os.removexattr(tree, name, follow_symlinks=False)
    for name, value in wanted.items():
        os.setxattr(tree, name, value, follow_symlinks=False)


def copy_folder_metadata(model: bytes, tree: bytes) -> None:
    """Give folder `tree` the owner, mode, extended attributes and times of folder `model`."""
    info = os.lstat(model)
    try:
        os.chown(tree, info.st_uid, info.st_gid, follow_symlinks=False)
    except PermissionError:
        pass  # a normal user cannot give folders away; theirs stay theirs, as with cp -a
    os.chmod(tree, stat.S_IMODE(info.st_mode))
    _copy_xattrs(model, tree)
    os.utime(tree, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)


def _sync_folder(model: bytes, tree: bytes, counts: RelinkCounts) -> None:
    # one scandir per side; DirEntry caches the type and inode, so an unchanged file
    # costs no system call of its own
    wanted = {entry.name: entry for entry in os.scandir(model)}
    kept_dirs, kept_files = set(), set()
    for entry in os.scandir(tree):
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
            remove_tree(entry.path)
        else:
            os.unlink(entry.path)
        counts.removed += 1
    counts.kept += len(kept_files)
    for name, entry in wanted.items():
        if name in kept_files:
            continue
        target = os.path.join(tree, name)
        if entry.is_dir(follow_symlinks=False):
            if name not in kept_dirs:
                os.mkdir(target)
            _sync_folder(entry.path, target, counts)
        else:
            os.link(entry.path, target, follow_symlinks=False)
            counts.linked += 1
    copy_folder_metadata(model, tree)


def relink_tree(model: str, tree: str) -> RelinkCounts:
    """Make folder `tree` an exact hard-linked copy of folder `model`; return what changed."""
    counts = RelinkCounts()
    _sync_folder(os.fsencode(model), os.fsencode(tree), counts)
    return counts
