"""Pure decisions for `vhpi diff`: merging two sorted folder listings, telling from two
entries' stat facts what changed, tallying the changes, and writing paths and summaries
for people and for JSON. No disk: vhpi.act.tree_walk reads the trees.

What counts as a change (per path, both sides of the same kind):

* `M` (content): a file's size or mtime, a symlink's target, a device's number. Folders
  are never `M`: their size and mtime change whenever an entry in them does, which the
  entries themselves already show.
* `m` (metadata only): the permission bits, or the owner or group (not compared against
  the source, see `differences`).
* Different kinds (a folder that became a file, a file that became a symlink...): the old
  entry removed (`-`) and the new one added (`+`).

No file content is read: like rsync's quick check, a rewrite that keeps both size and
mtime is not seen.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple, TypeVar

from vhpi.decide.units import human_bytes

FILE, FOLDER, SYMLINK, OTHER = "file", "folder", "symlink", "other"
ADDED, REMOVED, CHANGED, METADATA = "+", "-", "M", "m"
#: Differences that make a change `M`; any other difference makes it `m`.
CONTENT_FIELDS = frozenset({"size", "mtime", "target", "device"})


def kind_of_mode(mode: int) -> str:
    """Return the kind (FILE, FOLDER, SYMLINK or OTHER) of an st_mode."""
    if stat.S_ISREG(mode):
        return FILE
    if stat.S_ISDIR(mode):
        return FOLDER
    if stat.S_ISLNK(mode):
        return SYMLINK
    return OTHER


@dataclass(frozen=True)
class Facts:
    """What `vhpi diff` compares of one entry. mode: the permission bits only; target: a
    symlink's target (None for the other kinds); rdev: a device's number (0 otherwise)."""

    kind: str
    size: int
    mtime_ns: int
    mode: int
    uid: int
    gid: int
    target: Optional[bytes] = None
    rdev: int = 0


def facts_from_stat(st: os.stat_result, target: Optional[bytes] = None) -> Facts:
    """Return the Facts of an lstat result (and a symlink's target, read by the caller)."""
    kind = kind_of_mode(st.st_mode)
    is_device = stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
    rdev = st.st_rdev if is_device else 0
    return Facts(kind, st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                 target, rdev)


def differences(a: Facts, b: Facts, quick: bool) -> Tuple[str, ...]:
    """Return the names of what differs between two entries of the same kind: "size",
    "mtime", "target", "device", "mode", "owner", "group".

    quick (a comparison with the source, where rsync may not have been able to set the
    owner): mtimes compare in whole seconds, as rsync's quick check does by default, and
    owner and group are left out. Symlinks compare by target only and folders by their
    metadata only (see the module docstring)."""
    found = []
    if a.kind in (FILE, OTHER):
        if a.size != b.size:
            found.append("size")
        if _mtime(a, quick) != _mtime(b, quick):
            found.append("mtime")
    if a.target != b.target:
        found.append("target")
    if a.rdev != b.rdev:
        found.append("device")
    if a.kind != SYMLINK and a.mode != b.mode:
        found.append("mode")
    if not quick:
        found.extend(name for name, x, y in (("owner", a.uid, b.uid), ("group", a.gid, b.gid))
                     if x != y)
    return tuple(found)


def _mtime(facts: Facts, quick: bool) -> int:
    return facts.mtime_ns // 1_000_000_000 if quick else facts.mtime_ns


def marker_for(what: Sequence[str]) -> Optional[str]:
    """Return CHANGED when `what` names a content difference, METADATA for metadata only,
    None when nothing differs."""
    if not what:
        return None
    return CHANGED if CONTENT_FIELDS.intersection(what) else METADATA


Listed = TypeVar("Listed")


def merge_listings(a: Sequence[Listed], b: Sequence[Listed]
                   ) -> Iterator[Tuple[bytes, Optional[Listed], Optional[Listed]]]:
    """Given two listings sorted by their entries' `.name`, yield (name, entry in a or None,
    entry in b or None) for every name in either, in name order."""
    i = j = 0
    while i < len(a) or j < len(b):
        name_a = a[i].name if i < len(a) else None
        name_b = b[j].name if j < len(b) else None
        if name_b is None or (name_a is not None and name_a < name_b):
            yield name_a, a[i], None
            i += 1
        elif name_a is None or name_b < name_a:
            yield name_b, None, b[j]
            j += 1
        else:
            yield name_a, a[i], b[j]
            i, j = i + 1, j + 1


@dataclass(frozen=True)
class Change:
    """One line of a diff.

    marker: ADDED, REMOVED, CHANGED or METADATA. path: relative to the tree, as bytes,
    without a trailing slash. size: a file's size (in B, or in A when removed); for an
    added or removed folder, the bytes of all the files below it. files and folders: for
    an added or removed folder, how many non-folder entries and folders (itself included)
    it holds. old_size and what: for CHANGED and METADATA, the size in A and the names
    of what differs (see `differences`)."""

    marker: str
    path: bytes
    kind: str
    size: int
    files: int = 0
    folders: int = 0
    old_size: Optional[int] = None
    what: Tuple[str, ...] = field(default=())


@dataclass
class DiffTally:
    """Counts of a diff so far. added and removed count non-folder entries, those inside
    added or removed folders included; *_bytes are their sizes; changed_delta is the
    total size difference of the CHANGED files."""

    added: int = 0
    added_bytes: int = 0
    added_folders: int = 0
    removed: int = 0
    removed_bytes: int = 0
    removed_folders: int = 0
    changed: int = 0
    changed_delta: int = 0
    metadata_only: int = 0

    def count(self, change: Change) -> None:
        """Add one change to the counts."""
        if change.marker in (ADDED, REMOVED):
            files = change.files if change.kind == FOLDER else 1
            prefix = "added" if change.marker == ADDED else "removed"
            setattr(self, prefix, getattr(self, prefix) + files)
            setattr(self, f"{prefix}_bytes", getattr(self, f"{prefix}_bytes") + change.size)
            setattr(self, f"{prefix}_folders", getattr(self, f"{prefix}_folders") + change.folders)
        elif change.marker == CHANGED:
            self.changed += 1
            self.changed_delta += change.size - (change.old_size or 0)
        else:
            self.metadata_only += 1

    def as_dict(self) -> Dict[str, int]:
        """Return the counts as a dict (the JSON "summary")."""
        return dict(vars(self))


def signed_bytes(count: int) -> str:
    """Return a size difference with its sign, e.g. '+1.2 KiB', '-4 B', '+0 B'."""
    return ("+" if count >= 0 else "") + human_bytes(count)


def format_summary(tally: DiffTally) -> str:
    """Return the summary line, e.g. '3 added (12.0 KiB), 1 removed (4 B), 2 changed
    (+1.2 KiB), 1 metadata only; folders: 1 added, 0 removed'."""
    text = (f"{tally.added} added ({human_bytes(tally.added_bytes)}), "
            f"{tally.removed} removed ({human_bytes(tally.removed_bytes)}), "
            f"{tally.changed} changed ({signed_bytes(tally.changed_delta)})")
    if tally.metadata_only:
        text += f", {tally.metadata_only} metadata only"
    if tally.added_folders or tally.removed_folders:
        text += f"; folders: {tally.added_folders} added, {tally.removed_folders} removed"
    return text


def format_change(change: Change) -> str:
    """Return the line for one change: marker, path (folders with a trailing '/'), and for
    an added or removed folder what it holds, e.g. '+ photos/ (3 files, 12.0 KiB)'."""
    line = f"{change.marker} {printable_path(change.path)}"
    if change.kind != FOLDER:
        return line
    line += "/"
    if change.marker in (ADDED, REMOVED):
        files = f"{change.files} file{'' if change.files == 1 else 's'}"
        line += f" ({files}, {human_bytes(change.size)})"
    return line


def change_as_json(change: Change) -> Dict[str, Any]:
    """Return one change as a JSON-ready dict: path, kind, size, plus files and folders for
    a folder added or removed, or old_size, what and metadata_only for a change. Paths
    that are not UTF-8 keep their bytes as lone surrogates (see `json_path`)."""
    entry: Dict[str, Any] = {"path": json_path(change.path), "kind": change.kind,
                             "size": change.size}
    if change.marker in (ADDED, REMOVED):
        if change.kind == FOLDER:
            entry.update(files=change.files, folders=change.folders)
    else:
        entry.update(old_size=change.old_size, what=list(change.what),
                     metadata_only=change.marker == METADATA)
    return entry


def json_path(path: bytes) -> str:
    """Return a path for JSON: its UTF-8 text; bytes that are not UTF-8 become lone
    surrogates U+DC80..U+DCFF (Python's surrogateescape: os.fsencode gives the bytes back;
    with ensure_ascii they are written as \\udcXX)."""
    return path.decode("utf-8", "surrogateescape")


_SIMPLE = frozenset(range(0x20, 0x7F)) - {ord("\\")}
_NAMED_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def printable_path(path: bytes) -> str:
    """Return a path as one line of printable text: a backslash is doubled, newline, tab and
    CR become \\n, \\t, \\r, a byte that is not UTF-8 becomes \\xNN, other control and
    format characters \\uNNNN (\\UNNNNNNNN above U+FFFF). Every name maps to a different text."""
    if all(byte in _SIMPLE for byte in path):
        return path.decode("ascii")
    return "".join(_printable_char(char) for char in path.decode("utf-8", "surrogateescape"))


def _printable_char(char: str) -> str:
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return char
