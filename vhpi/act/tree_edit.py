"""Removing entries inside a tree without ever following a symlink out of it.

Every path component is opened with O_NOFOLLOW relative to its parent, so a symlink
planted in the tree cannot redirect a deletion to somewhere else.
"""

from __future__ import annotations

import errno
import os
import shutil
from typing import Tuple

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _open_parent(root: str, relative: bytes) -> Tuple[int, bytes]:
    """Return (open fd of the parent folder, last name) of `relative` below `root`."""
    *folders, name = relative.split(b"/")
    fd = os.open(root, _DIR_FLAGS)
    try:
        for folder in folders:
            if folder in (b"", b"."):
                continue
            next_fd = os.open(folder, _DIR_FLAGS, dir_fd=fd)
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
    """Delete a whole folder tree (symlinks inside are removed, never followed); a missing one is fine."""
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            _make_writable_folders(path)
            shutil.rmtree(path)
        else:
            os.unlink(path)


def _make_writable_folders(path: str) -> None:
    """Give the owner write access to every folder below `path` so a normal user can delete
    snapshots of read-only folders (root needs none of this)."""
    if os.geteuid() == 0:
        return
    for folder, subfolders, _ in os.walk(path):
        for name in subfolders:
            full = os.path.join(folder, name)
            if not os.path.islink(full):
                os.chmod(full, os.lstat(full).st_mode | 0o700)
    os.chmod(path, os.lstat(path).st_mode | 0o700)
