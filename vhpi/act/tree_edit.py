"""Removing entries inside a tree without ever following a symlink out of it.

Every path component is opened with O_NOFOLLOW relative to its parent, so a symlink
planted in the tree cannot redirect a deletion to somewhere else; whole trees are deleted
by one walk relative to open folders (vhpi.act.fd_walk), so their depth does not matter.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import List, Optional, Tuple

from vhpi.act.fd_walk import DIR_FLAGS, Name, OpenPath


def _open_parent(root: str, relative: bytes) -> Tuple[int, bytes]:
    """Return (open fd of the parent folder, last name) of `relative` below `root`."""
    *folders, name = relative.split(b"/")
    fd = os.open(root, DIR_FLAGS)
    try:
        for folder in folders:
            if folder in (b"", b"."):
                continue
            next_fd = os.open(folder, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd, name


def remove_entry(root: str, relative: bytes, is_dir: bool) -> bool:
    """Remove the file, link or empty folder `relative` below `root`.

    Returns False when it was already gone or is a folder that is not empty (rsync leaves
    those too, e.g. when they hold excluded files); other errors are raised.
    """
    try:
        fd, name = _open_parent(root, relative)
    except FileNotFoundError:
        return False
    try:
        if is_dir:
            os.rmdir(name, dir_fd=fd)
        else:
            os.unlink(name, dir_fd=fd)
        return True
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
            return False
        if error.errno in (errno.EISDIR, errno.ENOTDIR, errno.EPERM):
            return _remove_other_kind(fd, name, is_dir)
        raise
    finally:
        os.close(fd)


def _remove_other_kind(fd: int, name: bytes, was_dir: bool) -> bool:
    """The entry changed kind since rsync looked: remove it as what it is now."""
    if was_dir:
        os.unlink(name, dir_fd=fd)
    else:
        os.rmdir(name, dir_fd=fd)
    return True


def remove_tree(path: str) -> None:
    """Delete a whole folder tree (symlinks inside are removed, never followed); a missing
    one is fine. Any depth works: see remove_folder."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        remove_folder(path)
    else:
        os.unlink(path)


def remove_folder(name: Name, dir_fd: Optional[int] = None) -> None:
    """Delete the folder `name` (in the open folder `dir_fd`, or a path) with all it holds.

    One walk without recursion, relative to open folders with a bounded number of fds
    (vhpi.act.fd_walk), so any depth works. A normal user can delete the read-only folders
    they own: each folder gets u+rwx just before it is emptied (root needs none of this)."""
    writable = os.geteuid() != 0
    with OpenPath(_open_to_empty(name, dir_fd, writable)) as walk:
        _empty(walk, writable)
    os.rmdir(name, dir_fd=dir_fd)


def _open_to_empty(name: Name, dir_fd: Optional[int], writable: bool) -> int:
    """Open the folder `name`; for a normal user, give it u+rwx first if it cannot be read."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        if not writable:
            raise
    _add_owner_rights(name, dir_fd)
    return os.open(name, DIR_FLAGS, dir_fd=dir_fd)


def _add_owner_rights(name: Name, dir_fd: Optional[int]) -> None:
    # by name: a folder that cannot be read cannot be opened to fchmod it; lstat first, so
    # only a folder (never a symlink's target) is changed
    info = os.lstat(name, dir_fd=dir_fd)
    if stat.S_ISDIR(info.st_mode):
        os.chmod(name, stat.S_IMODE(info.st_mode) | 0o700, dir_fd=dir_fd)


def _empty(walk: OpenPath, writable: bool) -> None:
    """Delete everything in the current folder of `walk`, which ends where it started."""
    pending = [iter(_remove_non_folders(walk.fd, writable))]
    while pending:
        name = next(pending[-1], None)
        if name is None:
            pending.pop()
            if pending:
                _leave_and_remove(walk)
            continue
        try:
            _enter(walk, name, writable)
        except FileNotFoundError:
            continue
        pending.append(iter(_remove_non_folders(walk.fd, writable)))


def _enter(walk: OpenPath, name: str, writable: bool) -> None:
    try:
        walk.down(name)
    except PermissionError:
        if not writable:
            raise
        _add_owner_rights(name, walk.fd)
        walk.down(name)


def _leave_and_remove(walk: OpenPath) -> None:
    """Go up from the (now empty) current folder and remove it."""
    name = walk.names[-1]
    walk.up()
    os.rmdir(name, dir_fd=walk.fd)


def _remove_non_folders(fd: int, writable: bool) -> List[str]:
    """Delete what is not a folder in the open folder `fd` (made u+rwx first for a normal
    user); return the names of its folders."""
    if writable:
        _make_writable(fd)
    folders = []
    with os.scandir(fd) as listing:
        for entry in listing:
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.name)
                continue
            try:
                os.unlink(entry.name, dir_fd=fd)
            except FileNotFoundError:
                pass
    return folders


def _make_writable(fd: int) -> None:
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    if mode & 0o700 != 0o700:
        os.chmod(fd, mode | 0o700)
