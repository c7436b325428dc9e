"""Copy passes that the share cannot lead out of itself.

rsync's copy pass gets the paths its dry run listed (--files-from) and resolves each one's
parent folders by name when it copies. A share that changes in between (a live one, or a
compromised laptop) can swap a listed folder for a symlink to /etc, /root or the backup
disk, and rsync would follow it. So a pinned pass never lets rsync look up a parent folder
of the share by name:

* Its child, before it becomes rsync (vhpi.act.processes.spawn's `prepare`), opens the
  source's top folder as fd ROOT_FD and then each listed entry's parent folder, one
  component at a time with O_NOFOLLOW|O_DIRECTORY, as fd parent_fd(i). A parent that can
  no longer be reached through real folders (swapped for a symlink, gone) is not opened.
* rsync reads from a shadow folder in vhpi's work folder that holds, for each parent
  c1/…/ck, real folders c1/…/c(k-1) and at ck a symlink to /proc/self/fd/<its fd>: the
  kernel resolves that link to the very folder the child opened, whatever happens to the
  path meanwhile. The entries of the top folder are read through /proc/self/fd/ROOT_FD/.
  One pass holds the entries whose parents have the same depth (the shadow's folders and
  links cannot nest), at most MAX_PARENTS parents.
* Only an entry's last component is looked up by name, and rsync lstats it: a symlink
  there is copied as a symlink. A parent that was not opened keeps /dev/null at its fd
  number (never a hole, which rsync's own next open would fill): its entries are "not a
  directory" for rsync, like files that vanished, and are caught up by the next run.

The receiving side writes to backup.latest by the entries' real relative paths (rsync 3.4
and newer refuse symlinks in them), which only vhpi and rsync ever change.
"""

from __future__ import annotations

import fcntl
import os
import resource
from typing import Callable, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from vhpi.act.birth_time import birth_time_ns
from vhpi.act.processes import FIRST_FREE_FD
from vhpi.decide.copy_check import FILE, SYMLINK, EntryFacts, facts_from_stat
from vhpi.decide.moves import SourceId, relative_device
from vhpi.act.tree_edit import remove_tree

#: The fd the source's top folder gets in a pinned pass's child.
ROOT_FD = FIRST_FREE_FD
#: At most this many parent folders per pass (each is an open fd in rsync).
MAX_PARENTS = 4000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def parent_fd(index: int) -> int:
    """Return the fd number of a pass's parent folder number `index`."""
    return ROOT_FD + 1 + index


def root_reader() -> str:
    """Return the path rsync reads the source's top folder through in a pinned pass."""
    return f"/proc/self/fd/{ROOT_FD}/"


def parent_of(entry: bytes) -> bytes:
    """Return the parent folder of a relative path (b'' for the top folder)."""
    return entry.rpartition(b"/")[0]


def depth_of(entry: bytes) -> int:
    """Return how many folders deep a relative path's parent lies (0: the top folder)."""
    return entry.count(b"/")


#: rsync skips a --files-from line that starts with one of these as a comment, --from0 or
#: not (3.2.7 and 3.5.0 alike): such an entry, removed from backup.latest to make room for
#: rsync, would silently never be copied ("#recycle/", ";notes").
_COMMENT_STARTS = (b"#", b";")


def list_line(entry: bytes) -> bytes:
    """Return how `entry` is written to a --files-from list so that rsync reads it as the
    path it is: `./` before one that rsync would read as a comment (rsync drops the `./`)."""
    return b"./" + entry if entry.startswith(_COMMENT_STARTS) else entry


def listed_entry(line: bytes) -> bytes:
    """Return the entry a line made by list_line names."""
    return line[2:] if line.startswith(b"./") else line


def read_list(path: str) -> Iterator[bytes]:
    """Yield the NUL-separated entries of a list file, reading it in chunks."""
    with open(path, "rb") as handle:
        pending = b""
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            pending += chunk
            *complete, pending = pending.split(b"\0")
            yield from complete


def read_pairs(path: str) -> Iterator[Tuple[bytes, bytes]]:
    """Yield the entries of a list file two by two (name, target)."""
    names = read_list(path)
    return zip(names, names)


def passes(entries: Iterable[bytes], list_path: str) -> Iterator[Tuple[bytes, ...]]:
    """Given entries whose parents all have one depth (in rsync's order, which keeps a
    folder's entries together), write each pass's entries to `list_path` (NUL-separated)
    and yield the pass's parents (distinct; () for entries of the top folder), at most
    MAX_PARENTS a pass; run the pass before asking for the next one. Holds no more than
    one pass's parents in memory."""
    parents: dict = {}
    out = open(list_path, "wb")
    try:
        for entry in entries:
            parent = parent_of(entry)
            if parent not in parents and len(parents) >= MAX_PARENTS:
                out.close()
                yield _parents(parents)
                parents.clear()
                out = open(list_path, "wb")
            parents.setdefault(parent, None)
            out.write(list_line(entry) + b"\0")
        out.close()
        if parents:
            yield _parents(parents)
    finally:
        out.close()


def _parents(found: dict) -> Tuple[bytes, ...]:
    return () if list(found) == [b""] else tuple(found)


# ---------------------------------------------------------------- the shadow (vhpi's side)

def build_shadow(shadow: str, parents: Sequence[bytes]) -> None:
    """Make the folder `shadow` afresh for a pass over `parents` (see the top): folders for
    all but each parent's last component, and there a symlink to the parent's fd."""
    remove_tree(shadow)
    os.mkdir(shadow, 0o700)
    top = os.open(shadow, _DIR_FLAGS)
    try:
        made = set()
        for index, parent in enumerate(parents):
            *folders, last = parent.split(b"/")
            fd = _make_folders(top, folders, made)
            try:
                os.symlink(f"/proc/self/fd/{parent_fd(index)}".encode(), last, dir_fd=fd)
            finally:
                if fd != top:
                    os.close(fd)
    finally:
        os.close(top)


def _make_folders(top: int, folders: Sequence[bytes], made: set) -> int:
    """Open (making it as needed) the folder `folders` below the open folder `top`;
    return its fd (`top` itself for none)."""
    fd = top
    for depth in range(len(folders)):
        key = tuple(folders[:depth + 1])
        if key not in made:
            os.mkdir(folders[depth], 0o700, dir_fd=fd)
            made.add(key)
        inner = os.open(folders[depth], _DIR_FLAGS, dir_fd=fd)
        if fd != top:
            os.close(fd)
        fd = inner
    return fd


# ---------------------------------------------------------------- the child's side

def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def open_below(parent: bytes, stack: List[Tuple[bytes, int]], root_fd: int = ROOT_FD) -> Optional[int]:
    """Open `parent` below the open folder `root_fd` through real folders only, reusing
    the open folders in `stack` ((component, fd) from the top) that it shares with the
    previous parent; return the fd of `parent` (`root_fd` for b''), or None when it cannot
    be reached so. The caller closes the fds left in `stack`."""
    if not parent:
        while stack:
            os.close(stack.pop()[1])
        return root_fd
    parts = parent.split(b"/")
    shared = 0
    while shared < min(len(parts), len(stack)) and stack[shared][0] == parts[shared]:
        shared += 1
    while len(stack) > shared:
        os.close(stack.pop()[1])
    for part in parts[shared:]:
        try:
            fd = os.open(part, _DIR_FLAGS, dir_fd=stack[-1][1] if stack else root_fd)
        except OSError:
            return None
        stack.append((part, fd))
    return stack[-1][1]


def pin_parents(source: str, parents: Sequence[bytes], list_path: str,
                facts: Optional[str] = None) -> Callable[[], None]:
    """Return the `prepare` function for a pinned pass's child (see the top). With
    `facts`, it also writes there what each entry of the pass (read from `list_path`) is,
    seen through its pinned folder (see write_facts), for vhpi to check the copies and to
    link the names of hard-linked groups together."""
    def prepare() -> None:
        _raise_fd_limit(parent_fd(len(parents)) + 64)
        root = os.open(source, os.O_RDONLY | os.O_DIRECTORY)
        if root != ROOT_FD:
            os.dup2(root, ROOT_FD)
            os.close(root)
        os.set_inheritable(ROOT_FD, True)
        _hold_numbers(len(parents))
        stack: List[Tuple[bytes, int]] = []
        unreachable = []
        for index, parent in enumerate(parents):
            fd = open_below(parent, stack)
            if fd is None:
                unreachable.append(index)
            else:
                os.dup2(fd, parent_fd(index), inheritable=True)
        for _, fd in stack:
            os.close(fd)
        for index in unreachable:  # stays /dev/null: "not a directory", its entries vanished
            os.set_inheritable(parent_fd(index), True)
        if facts is not None:
            write_facts(facts, parents, set(unreachable), list_path)
    return prepare


def _hold_numbers(count: int) -> None:
    """Put /dev/null on the fd numbers of `count` parents, so that the folders opened on
    the way to them get other numbers until each is put in its place."""
    opened = os.open(os.devnull, os.O_RDONLY)
    placeholder = fcntl.fcntl(opened, fcntl.F_DUPFD_CLOEXEC, parent_fd(count))
    os.close(opened)
    for index in range(count):
        os.dup2(placeholder, parent_fd(index), inheritable=False)
    os.close(placeholder)


class PinnedEntry(NamedTuple):
    """One entry of a pinned pass as its child saw it: its facts, and for a regular file
    its identity on the share (vhpi.decide.moves.SourceId) and how many names it has."""

    entry: bytes
    facts: EntryFacts
    identity: Optional[SourceId]
    links: int

    @property
    def group(self) -> Optional[bytes]:
        """`device inode` of a regular file with more than one name, else None."""
        if self.identity is None or self.links < 2:
            return None
        return b"%d %d" % (self.identity.device, self.identity.inode)


_FIELDS = 9


def write_facts(path: str, parents: Sequence[bytes], unreachable: set, list_path: str) -> None:
    """Write to `path`, for each entry listed in `list_path` whose parent was reached, a
    record of NUL-terminated fields: entry, kind, size, mtime_ns, and for regular files
    device (0: the source's own), inode, names, birth time (else empty), then symlink
    target (read back by read_facts)."""
    index_of = {parent: index for index, parent in enumerate(parents)}
    top_device = os.fstat(ROOT_FD).st_dev
    with open(list_path, "rb") as listed, open(path, "wb") as out:
        for line in listed.read().split(b"\0")[:-1]:
            entry = listed_entry(line)
            parent, _, name = entry.rpartition(b"/")
            index = index_of.get(parent)
            if parents and (index is None or index in unreachable):
                continue
            fd = parent_fd(index) if parents else ROOT_FD
            try:
                info = os.lstat(name, dir_fd=fd)
                facts = facts_from_stat(info, lambda: os.readlink(name, dir_fd=fd))
                birth = birth_time_ns(name, dir_fd=fd) if facts.kind == FILE else None
            except OSError:
                continue
            out.write(b"\0".join(_fact_fields(entry, facts, info, birth, top_device)) + b"\0")


def _fact_fields(entry: bytes, facts: EntryFacts, info: os.stat_result, birth: Optional[int],
                 top_device: int) -> Tuple[bytes, ...]:
    is_file = facts.kind == FILE
    return (entry, facts.kind.encode(), b"%d" % facts.size, b"%d" % facts.mtime_ns,
            b"%d" % relative_device(info.st_dev, top_device) if is_file else b"",
            b"%d" % info.st_ino if is_file else b"",
            b"%d" % info.st_nlink if is_file else b"",
            b"%d" % birth if birth is not None else b"",
            facts.target or b"")


def read_facts(path: str) -> Iterator[PinnedEntry]:
    """Yield a PinnedEntry for each record of a file write_facts made."""
    with open(path, "rb") as handle:
        fields = handle.read().split(b"\0")
    for start in range(0, len(fields) - 1, _FIELDS):
        entry, kind, size, mtime, device, inode, links, birth, target = fields[start:start + _FIELDS]
        facts = EntryFacts(kind.decode(), int(size), int(mtime),
                           target if kind == SYMLINK.encode() else None)
        identity = (SourceId(int(device), int(inode), int(birth) if birth else None, int(size),
                             int(mtime)) if device else None)
        yield PinnedEntry(entry, facts, identity, int(links) if links else 0)
