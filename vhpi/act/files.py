"""Small durable file operations: atomic JSON writes, folder fsyncs, flushing one file
system."""

from __future__ import annotations

import json
import os
from typing import Any


def sync_file_system(path: str) -> None:
    """Flush everything written to the file system holding `path` to its disk (syncfs(2);
    os.sync() where libc has none)."""
    try:
        import ctypes
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (ImportError, OSError, AttributeError):
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def fsync_folder(path: str) -> None:
    """Flush a folder's entries (renames, new names) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomically(path: str, data: Any) -> None:
    """Replace `path` with `data` as JSON so that a crash leaves the old or the new file, whole.

    The temporary name is fixed (callers hold vhpi's locks), so one a crash left behind is
    simply overwritten by the next write instead of piling up."""
    temporary = f"{path}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    fsync_folder(os.path.dirname(path) or ".")
