"""Reading rsync's itemized change lines (`--out-format='<mark>%i %n%L'`) exactly.

rsync escapes unprintable bytes in names as a backslash, '#' and three octal digits (a
literal backslash before '#ddd' is escaped the same way), so every name, newlines and
invalid UTF-8 included, decodes back to its exact bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

#: Prefix of every line vhpi asks rsync to itemize, to tell them from rsync's other output.
ITEM_MARK = b"vhpi-item:"
_ESCAPE = re.compile(rb"\\#([0-7]{3})")
_CODE_WIDTH = 11


class UnsafeItemPath(ValueError):
    """An itemized path that would leave the destination tree (absolute, or with '..')."""


@dataclass(frozen=True)
class Item:
    """One itemized line.

    path:        the path relative to the transfer root, as bytes, without a trailing slash.
    deleted:     rsync would delete it from the destination.
    is_dir:      it is a directory.
    exists:      it already exists in the destination (an update, not a creation).
    link_target: for a new hard link (rsync -H), the path it is a link to.
    hard_link:   rsync -H reported it as a name of a hard-linked group (an `h` line): a new
                 name with link_target, or, without, a name of a group that changed.
    """

    path: bytes
    deleted: bool
    is_dir: bool
    exists: bool
    link_target: Optional[bytes] = None
    hard_link: bool = False

    @property
    def replaces_shared_inode(self) -> bool:
        """True for an update of a non-directory: its inode may be shared with older snapshots."""
        return not self.deleted and not self.is_dir and self.exists


#: A split of "name<arrow>target" into (name, target), both decoded.
LinkSplit = Tuple[bytes, bytes]
#: Chooses among the possible splits when a name itself contains the arrow.
SplitChooser = Callable[[bytes, List[LinkSplit]], LinkSplit]
_HARD_LINK_ARROW = b" => "
_SYMLINK_ARROW = b" -> "


def decode_rsync_name(escaped: bytes) -> bytes:
    """Return the exact name bytes of a name as rsync prints it."""
    return _ESCAPE.sub(lambda match: bytes([int(match.group(1), 8)]), escaped)


def checked_relative_path(path: bytes) -> bytes:
    """Return `path` when it stays inside the transfer root, else raise UnsafeItemPath."""
    if path.startswith(b"/") or b".." in path.split(b"/"):
        raise UnsafeItemPath(f"rsync named a path outside the tree: {path!r}")
    return path


def link_splits(text: bytes, arrow: bytes) -> List[LinkSplit]:
    """Return every way to read `text` (as rsync prints `%n%L`) as name + arrow + target."""
    splits = []
    start = text.find(arrow)
    while start != -1:
        splits.append((decode_rsync_name(text[:start]), decode_rsync_name(text[start + len(arrow):])))
        start = text.find(arrow, start + 1)
    return splits


def first_split(kind: bytes, splits: List[LinkSplit]) -> LinkSplit:
    """The default chooser: the first split (right unless a name contains the arrow)."""
    return splits[0]


def _name_and_target(update: bytes, kind: bytes, text: bytes,
                     choose: SplitChooser) -> Tuple[bytes, Optional[bytes]]:
    arrow = _HARD_LINK_ARROW if update == b"h" else _SYMLINK_ARROW if kind == b"L" else None
    splits = link_splits(text, arrow) if arrow else []
    if not splits:
        return decode_rsync_name(text), None
    name, target = splits[0] if len(splits) == 1 else choose(update + kind, splits)
    return name, target if update == b"h" else None


def _relative(path: bytes) -> bytes:
    return checked_relative_path(path.rstrip(b"/") or b".")


def parse_item_line(line: bytes, choose: SplitChooser = first_split) -> Optional[Item]:
    """Given one line of rsync's output (without newline), return its Item, or None when it is
    not an item line or an unchanged entry.

    vhpi's format is `%i %n%L`: symlinks end in " -> target" and new hard links in
    " => target". Those arrows are not escaped, so when a name itself contains one, `choose`
    (given the update+kind code and the candidate splits) picks the real split.
    """
    if not line.startswith(ITEM_MARK):
        return None
    body = line[len(ITEM_MARK):]
    code, text = body[:_CODE_WIDTH], body[_CODE_WIDTH + 1:]
    if code.startswith(b"*deleting"):
        path = decode_rsync_name(text)
        return Item(_relative(path), True, path.endswith(b"/"), True)
    update, kind, flags = code[:1], code[1:2], code[2:]
    if update == b"." and not flags.strip(b". "):
        return None
    path, target = _name_and_target(update, kind, text, choose)
    exists = not flags.startswith(b"+")
    return Item(_relative(path), False, kind == b"d", exists,
                None if target is None else _relative(target), update == b"h")
