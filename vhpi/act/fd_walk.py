"""Walking folder trees of any depth: without recursion, relative to open folders, with a
bounded number of fds and memory that grows with the depth of the current path only.

Below a folder nested 10,000 deep the path from the top is far longer than PATH_MAX (4096
bytes): a system call given that path fails with ENAMETOOLONG, and a walk that recurses
once per level dies of RecursionError. So vhpi's walks

* keep their place in an OpenPath: the folders from a top folder down to the current one,
  each opened by name relative to its parent with O_DIRECTORY | O_NOFOLLOW (a symlink is
  never entered, whatever it points to);
* make their calls relative to the current folder's fd (dir_fd=..., or fchmod, fchown,
  futimens and f*xattr on the fd itself);
* keep per level only what is left to do there (e.g. the names still to visit), never a
  list of the whole tree.

Bounded fds: an OpenPath keeps the fds of its top `keep` levels and of the current folder
open. Entering a folder below those closes its parent's fd, after noting the parent's
(st_dev, st_ino); coming back up reopens the parent as '..' of the child and checks that it
is the same folder (FolderMoved if not: the tree was moved during the walk). A walk holds at
most keep + 1 fds however deep it goes, and a tree of ordinary depth never needs '..'.
"""

from __future__ import annotations

import errno
import os
from typing import Callable, Iterator, List, NamedTuple, Optional, Tuple, Union

from vhpi.decide.tree_compare import FILE, FOLDER, OTHER, SYMLINK

Name = Union[str, bytes]
Problem = Callable[[bytes, OSError], None]
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
#: Top levels whose fds one walk keeps open; walks side by side share it (see keep_for).
KEEP = 64


class FolderMoved(OSError):
    """The parent of the folder a walk leaves is not the folder it came down through."""


def keep_for(walks: int) -> int:
    """Return how many top levels each of `walks` walks side by side may keep open: all
    together hold at most KEEP + walks fds."""
    return KEEP // max(1, walks)


def join(folder: bytes, name: bytes) -> bytes:
    """Return folder/name, or name alone when folder is empty (the top)."""
    return folder + b"/" + name if folder else name


class OpenPath:
    """The open folders from a top folder down to the current one (see the module
    docstring). A context manager: leaving it closes every fd it holds."""

    def __init__(self, fd: int, keep: int = KEEP):
        """Start at the open folder `fd`, which is the OpenPath's to close from now on."""
        self._fds: List[Optional[int]] = [fd]
        self._ids: List[Optional[Tuple[int, int]]] = [None]
        self._keep = max(0, keep)
        self._path: Optional[bytes] = None
        #: The names from the top down to the current folder, as given to down().
        self.names: List[Name] = []

    @classmethod
    def open(cls, path: Name, keep: int = KEEP, follow: bool = True) -> "OpenPath":
        """Start at the folder `path`; a symlink there is followed only when `follow`."""
        flags = DIR_FLAGS if not follow else DIR_FLAGS & ~os.O_NOFOLLOW
        return cls(os.open(path, flags), keep)

    def __enter__(self) -> "OpenPath":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def fd(self) -> int:
        """The current folder's fd: valid until the walk moves."""
        fd = self._fds[-1] if self._fds else None
        if fd is None:
            raise OSError(errno.EBADF, "the walk lost its place (or was closed)")
        return fd

    @property
    def depth(self) -> int:
        """How many levels below the top the current folder is."""
        return len(self.names)

    @property
    def path(self) -> bytes:
        """The current folder's path from the top (b"" at the top), for messages and
        results; built on first use, then kept up to date as the walk moves."""
        if self._path is None:
            self._path = b"/".join(map(os.fsencode, self.names))
        return self._path

    def down(self, name: Name) -> None:
        """Enter the folder `name` in the current one. Raises OSError (e.g. ENOTDIR, or
        ELOOP for a symlink) and stays where it was when that cannot be done."""
        level = len(self._fds) - 1
        parent = self.fd
        if level >= self._keep and self._ids[level] is None:
            info = os.fstat(parent)
            self._ids[level] = (info.st_dev, info.st_ino)
        fd = os.open(name, DIR_FLAGS, dir_fd=parent)
        if level >= self._keep:
            self._fds[level] = None
            os.close(parent)
        self._fds.append(fd)
        self._ids.append(None)
        self.names.append(name)
        if self._path is not None:
            self._path = join(self._path, os.fsencode(name))

    def up(self) -> None:
        """Go back to the parent of the current folder (never above the top). Raises
        FolderMoved when the parent is no longer the folder the walk came through."""
        if not self.names:
            raise ValueError("the walk is at its top folder")
        child = self.fd
        self._fds.pop()
        self._ids.pop()
        name = self.names.pop()
        if self._path is not None:
            self._path = self._path[:-len(os.fsencode(name)) - 1] if self.names else b""
        try:
            if self._fds[-1] is None:
                self._fds[-1] = self._reopen_parent(child)
        finally:
            os.close(child)

    def _reopen_parent(self, child: int) -> int:
        """Open '..' of `child`: the current folder again, checked by (st_dev, st_ino)."""
        fd = os.open("..", DIR_FLAGS, dir_fd=child)
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) != self._ids[-1]:
            os.close(fd)
            raise FolderMoved(errno.ESTALE, "a folder was moved while vhpi walked through it",
                              os.fsdecode(self.path) or ".")
        return fd

    def close(self) -> None:
        """Close every fd the walk holds; it cannot be used afterwards."""
        fds, self._fds = self._fds, []
        for fd in fds:
            if fd is not None:
                os.close(fd)


# ---------------------------------------------------------------- listing and walking

class Entry(NamedTuple):
    """One name in a folder, from the folder listing alone."""

    name: bytes
    kind: str
    ino: int


def entry_kind(item: os.DirEntry) -> str:
    """Return FILE, FOLDER, SYMLINK or OTHER for a scandir entry (symlinks not followed;
    usually no system call: the listing tells the kind)."""
    try:
        if item.is_symlink():
            return SYMLINK
        if item.is_dir(follow_symlinks=False):
            return FOLDER
        return FILE if item.is_file(follow_symlinks=False) else OTHER
    except OSError:
        return OTHER


def list_folder(fd: int) -> List[Entry]:
    """Return the entries of the open folder `fd`, sorted by name (raises OSError)."""
    with os.scandir(fd) as listing:
        entries = [Entry(os.fsencode(item.name), entry_kind(item), item.inode()) for item in listing]
    entries.sort()
    return entries


def _raise(path: bytes, error: OSError) -> None:
    raise error


def walk_tree(walk: OpenPath, problem: Optional[Problem] = None) -> Iterator[List[Entry]]:
    """Yield the listing (see list_folder) of the current folder of `walk`, then of every
    folder below it, depth first: a folder, then each of its subfolders with all that is
    below it, in name order. While a listing is out, `walk` stands in its folder (walk.fd,
    walk.path); taking entries out of the list, as with os.walk, keeps the walk out of
    those folders. A folder that cannot be entered or listed is told to
    `problem(path, error)` (default: raise) and skipped. Run to the end, the walk is back
    where it started."""
    report = problem or _raise
    listing = _listing_here(walk, report)
    if listing is None:
        return
    yield listing
    pending = [_folders_in(listing)]
    while pending:
        name = next(pending[-1], None)
        if name is None:
            pending.pop()
            if pending:
                walk.up()
            continue
        try:
            walk.down(name)
        except OSError as error:
            report(join(walk.path, name), error)
            continue
        listing = _listing_here(walk, report)
        if listing is None:
            walk.up()
            continue
        yield listing
        pending.append(_folders_in(listing))


def _listing_here(walk: OpenPath, report: Problem) -> Optional[List[Entry]]:
    try:
        return list_folder(walk.fd)
    except OSError as error:
        report(walk.path, error)
        return None


def _folders_in(listing: List[Entry]) -> Iterator[bytes]:
    return iter([entry.name for entry in listing if entry.kind == FOLDER])
