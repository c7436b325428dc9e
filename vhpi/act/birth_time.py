"""A file's birth time (statx(2) STATX_BTIME), which Python's os.stat does not give on Linux.

An inode number is reused once its file is deleted; the birth time tells the new file from
the old one (ext4, xfs, btrfs and tmpfs keep it; NFS, sshfs and FAT mostly do not). None
when the file system or the C library cannot say.
"""

from __future__ import annotations

import os
import struct
from typing import Optional, Union

AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000
STATX_BTIME = 0x800
_STATX_SIZE = 256
#: offsets in struct statx: stx_mask (u32) at 0, stx_btime (tv_sec i64, tv_nsec u32) at 80
_MASK_AT, _BTIME_AT = 0, 80

_NOT_LOOKED_UP = object()
_statx = _NOT_LOOKED_UP


def _statx_function():
    """Return libc's statx (looked up once), or None when this C library has none
    (glibc < 2.28)."""
    global _statx
    if _statx is _NOT_LOOKED_UP:
        import ctypes  # only when a birth time is asked for: the hourly run may need none
        libc = ctypes.CDLL(None, use_errno=True)  # the C library Python runs on
        function = getattr(libc, "statx", None)
        if function is not None:
            function.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_void_p)
            function.restype = ctypes.c_int
        _statx = function
    return _statx


def birth_time_ns(name: Union[str, bytes], dir_fd: Optional[int] = None) -> Optional[int]:
    """Given a path (relative to the open folder `dir_fd` when given; symlinks are not
    followed), return its birth time in nanoseconds, or None when it is not known (raises
    OSError when the path cannot be looked at)."""
    return _birth_time(-100 if dir_fd is None else dir_fd, os.fsencode(name), AT_SYMLINK_NOFOLLOW)


def fd_birth_time_ns(fd: int) -> Optional[int]:
    """Return the birth time in nanoseconds of the open file `fd`, or None when unknown."""
    return _birth_time(fd, b"", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)


def _birth_time(dir_fd: int, path: bytes, flags: int) -> Optional[int]:
    """statx(dir_fd, path, flags, STATX_BTIME): the birth time in ns, or None (raises OSError)."""
    function = _statx_function()
    if function is None:
        return None
    import ctypes
    buffer = ctypes.create_string_buffer(_STATX_SIZE)
    if function(dir_fd, path, flags, STATX_BTIME, buffer) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number), os.fsdecode(path) or None)
    return _btime_of(buffer.raw)


def _btime_of(raw: bytes) -> Optional[int]:
    """Given a filled struct statx, return its birth time in ns (None when not in the mask)."""
    mask, = struct.unpack_from("=I", raw, _MASK_AT)
    if not mask & STATX_BTIME:
        return None
    seconds, nanoseconds = struct.unpack_from("=qI", raw, _BTIME_AT)
    return seconds * 1_000_000_000 + nanoseconds
