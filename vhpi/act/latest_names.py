"""Making and linking names in backup.latest before and after rsync's copy passes, without
ever following a symlink and without touching an inode a snapshot shares: a folder is
made (or a non-folder in its place removed), a hard link adds a name to an inode (which
changes no content and no attribute of it); the folder that gets the new name keeps its
modification time, which rsync has set already."""

from __future__ import annotations

import os
import stat

from typing import Dict, Iterable, Optional, Tuple

from vhpi.act.tree_edit import _open_parent
from vhpi.decide.copy_check import EntryFacts, facts_from_stat

Times = Tuple[int, int]


def make_folder(root: str, relative: bytes) -> None:
    """Make the folder `relative` below `root` (mode 0700 until rsync gives it its own),
    unless one is there; a file or symlink in its place is removed first (only the name:
    the inode may be shared). Its parent folder must exist."""
    fd, name = _open_parent(root, relative)
    try:
        try:
            info = os.lstat(name, dir_fd=fd)
        except FileNotFoundError:
            info = None
        if info is not None and stat.S_ISDIR(info.st_mode):
            return
        if info is not None:
            os.unlink(name, dir_fd=fd)
        os.mkdir(name, 0o700, dir_fd=fd)
    finally:
        os.close(fd)


def link_name(root: str, name: bytes, target: bytes) -> bool:
    """Make `name` (below `root`) another name of the inode at `target`, replacing what
    `name` was; the folder of `name` keeps its times. Returns False (and changes nothing)
    when `target` is not there or is a folder."""
    target_fd, target_name = _open_parent(root, target)
    try:
        try:
            if stat.S_ISDIR(os.lstat(target_name, dir_fd=target_fd).st_mode):
                return False
        except FileNotFoundError:
            return False
        fd, last = _open_parent(root, name)
        try:
            times = os.stat(fd)
            try:
                os.unlink(last, dir_fd=fd)
            except FileNotFoundError:
                pass
            os.link(target_name, last, src_dir_fd=target_fd, dst_dir_fd=fd, follow_symlinks=False)
            os.utime(fd, ns=(times.st_atime_ns, times.st_mtime_ns))
        finally:
            os.close(fd)
    finally:
        os.close(target_fd)
    return True


def replace_with_copy(root: str, relative: bytes, temporary: str) -> None:
    """Make the regular file `relative` below `root` a new inode with the same content and
    modification time (written to `temporary` first, on the same file system, then renamed
    into place); its folder keeps its times."""
    import shutil
    fd, name = _open_parent(root, relative)
    try:
        folder = os.stat(fd)
        source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
        with os.fdopen(source, "rb") as reading, open(temporary, "wb") as writing:
            info = os.fstat(reading.fileno())
            shutil.copyfileobj(reading, writing, 1 << 20)
        os.utime(temporary, ns=(info.st_atime_ns, info.st_mtime_ns))
        os.rename(temporary, name, dst_dir_fd=fd)
        os.utime(fd, ns=(folder.st_atime_ns, folder.st_mtime_ns))
    finally:
        os.close(fd)


def folder_times(root: str, folders: Iterable[bytes]) -> Dict[bytes, Times]:
    """Return {folder: (atime_ns, mtime_ns)} of the `folders` (relative, b'' for `root`
    itself) that exist below `root` as real folders."""
    found = {}
    for folder in folders:
        try:
            info = _lstat_below(root, folder)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            found[folder] = (info.st_atime_ns, info.st_mtime_ns)
    return found


def restore_folder_times(root: str, times: Dict[bytes, Times]) -> None:
    """Give each folder of `times` (from folder_times) its times back: taking names out and
    putting new ones in changed them, though the source's folder did not change."""
    for folder, (atime, mtime) in times.items():
        try:
            fd = _open_folder(root, folder)
        except OSError:
            continue
        try:
            os.utime(fd, ns=(atime, mtime))
        finally:
            os.close(fd)


def _open_folder(root: str, folder: bytes) -> int:
    """Open the folder `folder` below `root` without following a symlink on the way."""
    if not folder:
        return os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    fd, name = _open_parent(root, folder)
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
    finally:
        os.close(fd)


def _lstat_below(root: str, relative: bytes) -> os.stat_result:
    if not relative:
        return os.lstat(root)
    fd, name = _open_parent(root, relative)
    try:
        return os.lstat(name, dir_fd=fd)
    finally:
        os.close(fd)


def entry_facts(root: str, relative: bytes) -> Optional[EntryFacts]:
    """Return what `relative` below `root` is (vhpi.decide.copy_check), None when missing."""
    try:
        fd, name = _open_parent(root, relative)
    except OSError:
        return None
    try:
        return facts_from_stat(os.lstat(name, dir_fd=fd), lambda: os.readlink(name, dir_fd=fd))
    except OSError:
        return None
    finally:
        os.close(fd)
