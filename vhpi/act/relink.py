"""Turning an expiring snapshot into the new one: the cheap way to "delete the oldest, then
cp -al backup.latest".

`relink_tree(model, tree)` makes `tree` an exact hard-linked copy of `model`, as `cp -al`
would, but touches only what differs: an entry whose inode already is the model's stays,
every other non-folder is unlinked and linked anew (never changed in place: inodes are
shared with other snapshots), extra entries are removed, and each folder gets the model's
owner, mode, extended attributes (ACLs included) and modification time (with the access
time), each only where it differs: a folder already like the model's is not written at
all, so an unchanged tree leaves nothing for sync to write back. Unchanged files cost one
readdir entry, no system call of their own; a folder whose listing (names, and the inode
of every non-folder) equals the model's is compared in one step. Symlinks are never
followed; names that are not UTF-8 are kept as they are (as str with surrogate escapes,
back to the same bytes).

`find_differences(model, tree)` only reads both trees and returns the folders where they
differ (with those above them), and `relink_known(model, tree, differences)` then visits
only those: the walk can run while rsync's dry run reads, before the expiring snapshot may
be touched (vhpi.act.head_start), leaving little to do once the transfer is done.

Any depth works: both trees are walked side by side without recursion, every call relative
to an open folder (dir_fd=..., or fchown, fchmod, f*xattr and futimens on the folder's fd),
with a bounded number of fds (vhpi.act.fd_walk).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from vhpi.act.fd_walk import DIR_FLAGS, OpenPath, keep_for
from vhpi.act.tree_edit import remove_folder


@dataclass
class RelinkCounts:
    """How much of the tree had to change."""

    kept: int = 0
    linked: int = 0
    removed: int = 0


#: What a listing holds for a folder instead of an inode: folders are compared by content.
FOLDER = -1


def _copy_xattrs(model: int, tree: int) -> None:
    """Give the open folder `tree` exactly the extended attributes of the open folder
    `model`, writing only those that differ."""
    try:
        names = os.listxattr(model)
        present = os.listxattr(tree)
        if not names and not present:
            return
        wanted = {name: os.getxattr(model, name) for name in names}
        have = {name: os.getxattr(tree, name) for name in present if name in wanted}
    except OSError as error:
        if error.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return
        raise
    for name in present:
        if name not in wanted:
            os.removexattr(tree, name)
    for name, value in wanted.items():
        if have.get(name) != value:
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
    """copy_folder_metadata for open folders: fstat, then fchown, fchmod, f*xattr and
    futimens where the folder differs from the model (a write changes the folder's ctime,
    which sync must then write back)."""
    info, mine = os.fstat(model), os.fstat(tree)
    owner_differs = (mine.st_uid, mine.st_gid) != (info.st_uid, info.st_gid)
    if owner_differs:
        try:
            os.chown(tree, info.st_uid, info.st_gid)
        except PermissionError:
            pass  # a normal user cannot give folders away; theirs stay theirs, as with cp -a
    # a change of owner may clear set-id bits: the mode is set again after one
    if owner_differs or stat.S_IMODE(mine.st_mode) != stat.S_IMODE(info.st_mode):
        os.chmod(tree, stat.S_IMODE(info.st_mode))
    _copy_xattrs(model, tree)
    if mine.st_mtime_ns != info.st_mtime_ns:
        os.utime(tree, ns=(info.st_atime_ns, info.st_mtime_ns))


def _listing(folder: int) -> Dict[str, int]:
    """Return {name: what it is compared by} of the open folder's entries: its inode, or
    FOLDER (type and inode come with the listing: no system call per entry)."""
    with os.scandir(folder) as listing:
        return {entry.name: FOLDER if entry.is_dir(follow_symlinks=False) else entry.inode()
                for entry in listing}


def _sync_entries(model: int, tree: int, counts: RelinkCounts) -> List[Tuple[str, bool]]:
    """Make the entries of the open folder `tree` those of the open folder `model`, except
    inside their folders; return (name, made now) of each folder, to be brought in line
    next (one made now is empty)."""
    wanted_ids, present_ids = _listing(model), _listing(tree)
    if present_ids == wanted_ids:  # the usual case: nothing to change here
        folders = [(name, False) for name, identity in wanted_ids.items() if identity == FOLDER]
        counts.kept += len(wanted_ids) - len(folders)
        return folders
    kept_dirs, kept_files = set(), set()
    for name, identity in present_ids.items():
        twin = wanted_ids.get(name)
        if twin == identity:
            (kept_dirs if identity == FOLDER else kept_files).add(name)
            continue
        if identity == FOLDER:
            remove_folder(name, tree)
        else:
            os.unlink(name, dir_fd=tree)
        counts.removed += 1
    counts.kept += len(kept_files)
    folders = []
    for name, identity in wanted_ids.items():
        if name in kept_files:
            continue
        if identity == FOLDER:
            if name not in kept_dirs:
                os.mkdir(name, dir_fd=tree)
            folders.append((name, name not in kept_dirs))
        else:
            os.link(name, name, src_dir_fd=model, dst_dir_fd=tree, follow_symlinks=False)
            counts.linked += 1
    return folders


def relink_tree(model: str, tree: str) -> RelinkCounts:
    """Make folder `tree` an exact hard-linked copy of folder `model`; return what changed.

    Both trees are walked side by side without recursion, relative to open folders with a
    bounded number of fds (vhpi.act.fd_walk), so any depth works; a folder gets its
    metadata once everything in it is done."""
    return relink_known(model, tree, FULL)


# ---------------------------------------------------------------- differences found ahead

#: In a Differences trie, the key that marks a folder whose own entries or metadata differ
#: (no name in a folder is empty).
DIFFERS = ""
#: Instead of a trie: the whole tree below is brought in line (relink_tree).
FULL = None
#: {name of a subfolder: its trie, DIFFERS: True}: the folders where a tree differs from
#: its model, with every folder above them (see find_differences).
Differences = Dict[str, Any]


def _xattrs(folder: int) -> Dict[str, bytes]:
    """Return the extended attributes of the open folder (none where unsupported)."""
    try:
        return {name: os.getxattr(folder, name) for name in os.listxattr(folder)}
    except OSError as error:
        if error.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise


def _metadata_differs(model: int, tree: int) -> bool:
    """True when the open folder `tree` lacks something _copy_metadata would give it."""
    info, mine = os.fstat(model), os.fstat(tree)
    return ((mine.st_uid, mine.st_gid, stat.S_IMODE(mine.st_mode), mine.st_mtime_ns)
            != (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode), info.st_mtime_ns)
            or _xattrs(model) != _xattrs(tree))


def _compare_folder(model: int, tree: int) -> Tuple[bool, List[str]]:
    """Return whether the open folder `tree` differs from `model` itself (its entries or
    metadata), and the folders both have, to be compared next."""
    wanted, present = _listing(model), _listing(tree)
    both = [name for name, identity in wanted.items() if identity == FOLDER and present.get(name) == FOLDER]
    return wanted != present or _metadata_differs(model, tree), both


def _mark(nodes: List[Optional[Differences]], names: List[str]) -> None:
    """Mark the current folder (the last of `nodes`) as differing, making the trie nodes of
    the path down to it that are not there yet (each level's node, or None)."""
    level = len(nodes) - 1
    while nodes[level] is None:
        level -= 1
    for below in range(level + 1, len(nodes)):
        nodes[below] = nodes[below - 1].setdefault(names[below - 1], {})
    nodes[-1][DIFFERS] = True


def find_differences(model: str, tree: str) -> Differences:
    """Walk folder `model` and folder `tree` side by side, only reading; return the trie of
    the folders where `tree` differs from `model` (their entries: names, kinds, the inode
    of every non-folder; or their owner, mode, extended attributes or modification time),
    with every folder above them: what relink_known must visit. Folders only one side has
    are not entered (relink_known makes or removes them whole). No recursion, bounded fds."""
    root: Differences = {}
    keep = keep_for(2)
    with OpenPath.open(model, keep) as source, OpenPath.open(tree, keep) as target:
        differs, both = _compare_folder(source.fd, target.fd)
        if differs:
            root[DIFFERS] = True
        nodes: List[Optional[Differences]] = [root]
        pending = [iter(both)]
        while pending:
            name = next(pending[-1], None)
            if name is None:
                pending.pop()
                if pending:
                    nodes.pop()
                    source.up()
                    target.up()
                continue
            source.down(name)
            target.down(name)
            nodes.append(None)
            differs, both = _compare_folder(source.fd, target.fd)
            if differs:
                _mark(nodes, source.names)
            pending.append(iter(both))
    return root


def _folders_to_visit(model: int, tree: int, node: Optional[Differences], counts: RelinkCounts,
                      top: bool = False) -> List[Tuple[str, Optional[Differences]]]:
    """Bring the entries of the open folder `tree` in line with `model` where `node` says
    they differ (FULL: whatever they are; the top folder always); return the folders to
    visit next, each with its part of the trie (FULL for one made now)."""
    if node is FULL:
        return [(name, FULL) for name, _ in _sync_entries(model, tree, counts)]
    if top or node.get(DIFFERS):
        return [(name, FULL if made else node[name])
                for name, made in _sync_entries(model, tree, counts) if made or name in node]
    return [(name, below) for name, below in node.items() if name != DIFFERS]


def relink_known(model: str, tree: str, differences: Optional[Differences]) -> RelinkCounts:
    """Make folder `tree` an exact hard-linked copy of folder `model`, visiting only the
    folders `differences` (from find_differences on the same two trees, neither changed
    since) names, and the top folder, which may be new; FULL visits every folder (that is
    relink_tree). A folder gets its metadata once everything in it is done."""
    counts = RelinkCounts()
    keep = keep_for(2)
    with OpenPath.open(model, keep) as source, OpenPath.open(tree, keep) as target:
        pending = [iter(_folders_to_visit(source.fd, target.fd, differences, counts, top=True))]
        while pending:
            item = next(pending[-1], None)
            if item is not None:
                name, below = item
                source.down(name)
                target.down(name)
                pending.append(iter(_folders_to_visit(source.fd, target.fd, below, counts)))
                continue
            pending.pop()
            _copy_metadata(source.fd, target.fd)
            if pending:
                source.up()
                target.up()
    return counts
