"""Reading rsync's itemized change lines (`--out-format='<mark>%i %n'`) exactly.

rsync escapes unprintable bytes in names as a backslash, '#' and three octal digits (a
literal backslash before '#ddd' is escaped the same way), so every name, newlines and
invalid UTF-8 included, decodes back to its exact bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

#: Prefix of every line vhpi asks rsync to itemize, to tell them from rsync's other output.
ITEM_MARK = b"vhpi-item:"
_ESCAPE = re.compile(rb"\\#([0-7]{3})")
_CODE_WIDTH = 11


class UnsafeItemPath(ValueError):
    """An itemized path that would leave the destination tree (absolute, or with '..')."""


@dataclass(frozen=True)
class Item:
    """One itemized line.

    path:    the path relative to the transfer root, as bytes, without a trailing slash.
    deleted: rsync would delete it from the destination.
    is_dir:  it is a directory.
    exists:  it already exists in the destination (an update, not a creation).
    """

    path: bytes
    deleted: bool
    is_dir: bool
    exists: bool

    @property
    def replaces_shared_inode(self) -> bool:
        """True for an update of a non-directory: its inode may be shared with older snapshots."""
        return not self.deleted and not self.is_dir and self.exists


def decode_rsync_name(escaped: bytes) -> bytes:
    """Return the exact name bytes of a name as rsync prints it."""
    return _ESCAPE.sub(lambda match: bytes([int(match.group(1), 8)]), escaped)


def checked_relative_path(path: bytes) -> bytes:
    """Return `path` when it stays inside the transfer root, else raise UnsafeItemPath."""
    if path.startswith(b"/") or b".." in path.split(b"/"):
        raise UnsafeItemPath(f"rsync named a path outside the tree: {path!r}")
    return path


def parse_item_line(line: bytes) -> Optional[Item]:
    """Given one line of rsync's output (without newline), return its Item, or None when it is
    not an item line or an unchanged entry."""
    if not line.startswith(ITEM_MARK):
        return None
    body = line[len(ITEM_MARK):]
    code, name = body[:_CODE_WIDTH], body[_CODE_WIDTH + 1:]
    path = decode_rsync_name(name)
    if code.startswith(b"*deleting"):
        return Item(checked_relative_path(path.rstrip(b"/") or b"."), True, path.endswith(b"/"), True)
    update, kind, flags = code[:1], code[1:2], code[2:]
    if update == b"." and not flags.strip(b". "):
        return None
    is_dir = kind == b"d"
    exists = not flags.startswith(b"+")
    return Item(checked_relative_path(path.rstrip(b"/") or b"."), False, is_dir, exists)
