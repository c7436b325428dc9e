"""Reading the files `vhpi dedup` compares: open a name of the listing (every folder on the
way opened relative to its parent, never through a symlink: any depth), its sha256 and the
digest of its extended attributes, and a byte-for-byte comparison of two files.

Files are opened with O_NOATIME where the kernel allows it (the owner, or root), so that
hashing a snapshot does not even move its files' access times.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from typing import Optional, Tuple

from vhpi.act.dedup_repair import open_folder  # noqa: F401  (callers open names with it)

CHUNK = 1 << 20
#: O_NONBLOCK: a FIFO that took a listed file's name meanwhile must not block the open
#: (it changes nothing for a regular file)
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
NOATIME = getattr(os, "O_NOATIME", 0)


def open_file(folder_fd: int, name: bytes) -> int:
    """Open the regular file `name` in the open folder `folder_fd` for reading, without
    moving its access time where allowed; return the fd (raises OSError)."""
    try:
        fd = os.open(name, FILE_FLAGS | NOATIME, dir_fd=folder_fd)
    except PermissionError:
        fd = os.open(name, FILE_FLAGS, dir_fd=folder_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", os.fsdecode(name))
    return fd


def sha256_of(fd: int) -> Tuple[bytes, int]:
    """Return (sha256, bytes read) of the open file `fd`, read from its start."""
    digest = hashlib.sha256()
    total = 0
    os.lseek(fd, 0, os.SEEK_SET)
    while True:
        chunk = os.read(fd, CHUNK)
        if not chunk:
            return digest.digest(), total
        digest.update(chunk)
        total += len(chunk)


def attrs_digest(fd: int) -> bytes:
    """Return a digest of every extended attribute (name and value; ACLs are the
    system.posix_acl_* ones) of the open file `fd`; the same digest for none at all and for
    a file system without xattrs."""
    digest = hashlib.sha256()
    try:
        names = sorted(os.listxattr(fd))
        for name in names:
            value = os.getxattr(fd, name)
            digest.update(b"%d:%s=%d:" % (len(name), os.fsencode(name), len(value)) + value)
    except OSError as error:
        if error.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    return digest.digest()


def same_bytes(first: int, second: int) -> bool:
    """True when the open files `first` and `second` hold exactly the same bytes."""
    os.lseek(first, 0, os.SEEK_SET)
    os.lseek(second, 0, os.SEEK_SET)
    while True:
        one, other = os.read(first, CHUNK), os.read(second, CHUNK)
        while len(other) < len(one):  # a short read: read on until the lengths agree
            more = os.read(second, len(one) - len(other))
            if not more:
                break
            other += more
        while len(one) < len(other):
            more = os.read(first, len(other) - len(one))
            if not more:
                break
            one += more
        if one != other:
            return False
        if not one:
            return True


def unchanged(fd: int, ino: int, size: int, mtime_ns: int) -> Optional[os.stat_result]:
    """Return the fstat of `fd` when it still is inode `ino` with that size and mtime, else None."""
    info = os.fstat(fd)
    if (info.st_ino, info.st_size, info.st_mtime_ns) != (ino, size, mtime_ns):
        return None
    return info
