"""Reading the files `vhpi verify --source` compares: the regular files of a snapshot (a walk
without recursion), and each chosen file on both sides, as a Look (size, mtime, sha256 or
why not; vhpi.decide.source_compare).

Every path is opened relative to its top folder component by component: each folder with
O_DIRECTORY | O_NOFOLLOW, the file with O_NOFOLLOW (a symlink below the top is never
followed, whatever it points to), O_NONBLOCK (a FIFO or device put in a file's place never
blocks the open) and O_NOATIME where the kernel allows it. Nothing is ever written.

hash_share_files runs in a child (vhpi.act.processes.run_in_child): a share that hangs
holds only that child."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, TypeVar

from vhpi.act import content_index
from vhpi.act.birth_time import fd_birth_time_ns
from vhpi.act.dedup_content import open_file, sha256_of
from vhpi.act.fd_walk import FolderMoved, OpenPath, join, walk_tree
from vhpi.decide.source_compare import Look
from vhpi.decide.tree_compare import FILE

Answer = TypeVar("Answer")
#: Errors that mean "no regular file at this path": gone, or a folder on the way (or the
#: file itself) is now a symlink or a file.
ABSENT = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)


def regular_files(walk: OpenPath, problem: Callable[[bytes, OSError], None]) -> Iterator[bytes]:
    """Yield the path (from the walk's top, '/'-separated) of every regular file below the
    open folder `walk`; folders that cannot be read go to `problem(path, error)`."""
    for listing in walk_tree(walk, problem):
        for entry in listing:
            if entry.kind == FILE:
                yield join(walk.path, entry.name)


def _go_to(walk: OpenPath, parts: List[bytes]) -> None:
    """Move `walk` to the folder `parts` below its top: up to the part they share, then
    down (raises OSError; the walk is then somewhere on the way)."""
    shared = 0
    while shared < min(walk.depth, len(parts)) and walk.names[shared] == parts[shared]:
        shared += 1
    while walk.depth > shared:
        walk.up()
    for part in parts[walk.depth:]:
        walk.down(part)


def for_each_file(walk: OpenPath, paths: Sequence[bytes], look: Callable[[int, bytes], Answer],
                  failed: Callable[[OSError], Answer], reopen: Callable[[], OpenPath]) -> List[Answer]:
    """For each path (below the top of `walk`), return look(folder fd, file name) in its
    folder, or failed(error) when the folder cannot be reached. `reopen()` gives a fresh
    walk from the top when the old one lost its place (a folder moved: that path is tried
    once more); the caller closes the walk it passed in, this function the ones it opened."""
    answers: List[Answer] = []
    current = walk
    try:
        for path in paths:
            *parts, name = path.split(b"/")
            for attempt in (1, 2):
                try:
                    _go_to(current, parts)
                except FolderMoved as error:
                    if current is not walk:
                        current.close()
                    current = reopen()
                    if attempt == 2:
                        answers.append(failed(error))
                    continue
                except OSError as error:
                    answers.append(failed(error))
                else:
                    answers.append(look(current.fd, name))
                break
    finally:
        if current is not walk:
            current.close()
    return answers


# ---------------------------------------------------------------- the share (in a child)

def _problem(error: OSError, folder: bool = True) -> Look:
    """The Look of a file that could not be reached (`folder`: its folder) or read."""
    if error.errno == errno.ENOENT:
        return Look(error="no longer on the share", absent=True)
    if error.errno in ABSENT and folder:
        return Look(error="a folder on its way is no longer a folder on the share (a symlink "
                          "or a file now; not followed)", absent=True)
    if error.errno in ABSENT:
        return Look(error="no longer a regular file on the share (a symlink or another kind "
                          "now; not followed)", absent=True)
    return Look(error=error.strerror or str(error))


def _open_share_file(folder_fd: int, name: bytes) -> int:
    """Open the regular file `name` of the share's folder `folder_fd`; return the fd
    (raises OSError; ELOOP, via _problem "absent", for anything but a regular file: looked
    at before the open, so that no device node is ever opened)."""
    if not stat.S_ISREG(os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_mode):
        raise OSError(errno.ELOOP, "not a regular file")
    try:
        return open_file(folder_fd, name)
    except OSError as error:
        if error.errno == errno.EINVAL:  # swapped for another kind between the two looks
            raise OSError(errno.ELOOP, "not a regular file") from None
        raise


def _share_look(folder_fd: int, name: bytes) -> Look:
    """Return the Look of the share's file `name` in the open folder `folder_fd`."""
    try:
        fd = _open_share_file(folder_fd, name)
    except OSError as error:
        return _problem(error, folder=False)
    try:
        return _hashed(fd)
    except OSError as error:
        return Look(error=error.strerror or str(error))
    finally:
        os.close(fd)


def _hashed(fd: int) -> Look:
    """Return the Look of the open regular file `fd`: moving when its size or time changed
    while it was read (raises OSError)."""
    before = os.fstat(fd)
    digest, read = sha256_of(fd)
    after = os.fstat(fd)
    steady = read == after.st_size and \
        (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns)
    return Look(after.st_size, after.st_mtime_ns, digest if steady else None, moving=not steady)


def hash_share_files(source: str, paths: Sequence[bytes]) -> List[Look]:
    """In a child: return the Look of each path below the share's folder `source` (itself
    may be a symlink to the mount; nothing below it is followed)."""
    def reopen() -> OpenPath:
        return OpenPath.open(os.fsencode(source))

    with reopen() as walk:
        return for_each_file(walk, paths, _share_look, _problem, reopen)


# ---------------------------------------------------------------- the snapshot (here)

def hash_snapshot_files(walk: OpenPath, paths: Sequence[bytes], index,
                        reopen: Callable[[], OpenPath]) -> List[Tuple[Look, Optional[bytes]]]:
    """Return, for each path below the snapshot folder `walk`, its Look and the sha256 the
    content index `index` (None: there is none) holds for its inode, or None."""
    def look(folder_fd: int, name: bytes) -> Tuple[Look, Optional[bytes]]:
        try:
            fd = open_file(folder_fd, name)
        except OSError as error:
            return Look(error=error.strerror or str(error)), None
        try:
            found = _hashed(fd)
            if found.moving:
                return Look(error="it changed while it was read (a snapshot never should)"), None
            info = os.fstat(fd)
            facts = content_index.Facts(info.st_ino, info.st_size, info.st_mtime_ns,
                                        fd_birth_time_ns(fd))
            return found, _recorded(index, facts)
        except OSError as error:
            return Look(error=error.strerror or str(error)), None
        finally:
            os.close(fd)

    return for_each_file(walk, paths, look,
                         lambda error: (Look(error=error.strerror or str(error)), None), reopen)


def _recorded(index, facts: content_index.Facts) -> Optional[bytes]:
    """The sha256 the content index holds for the inode `facts` describe, or None (also
    when the index cannot be read just now)."""
    try:
        return content_index.look_up(index, facts)
    except sqlite3.Error:
        return None
