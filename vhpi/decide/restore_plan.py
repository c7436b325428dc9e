"""Pure decisions for `vhpi restore JOB SNAPSHOT PATH [--to DIR] [--overwrite]`: what PATH
means inside a snapshot, where the copy goes, whether it may go there, the rsync argv, and
what rsync's --stats say. No disk, no clock: the caller looks things up and passes them in.

How a restore writes (see vhpi.actions.restore):

* NEW: nothing is at the target. rsync copies the item into a hidden staging folder next
  to the target, which is renamed into place only when the copy is complete.
* REPLACE (--overwrite, a file or symlink over a file or symlink): the same, and the rename
  replaces the old one in one step.
* MERGE (--overwrite, a folder over a folder): rsync copies into the existing folder.
  Files the snapshot has replace those at the target; files only the target has are KEPT
  (no --delete): a restore never deletes anything.

rsync reads the snapshot and never writes it (no --link-dest: every restored file is a new
inode, so nothing restored can change a snapshot later).

What a restore refuses without --unsafe (unsafe_reason): device nodes (a character or
block device gives whoever may open it the disk or memory behind it), and regular files
that run with more rights than their caller (setuid, setgid, or carrying file capabilities
in the security.capability extended attribute). FIFOs, sockets and setgid folders are
restored as they are. Back in the source (no --to), the source must hold its .backup_valid
sentinel, as for a backup: an unmounted share is an empty folder on the SD card.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from vhpi.decide.paths import is_inside
from vhpi.decide.rsync_argv import RSYNC
from vhpi.decide.rsync_result import classify_exit, disk_full_in, parse_stats
from vhpi.decide.units import human_bytes

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2

NEW, REPLACE, MERGE = "new", "replace", "merge"

#: Entry kinds as `look` reports them (see resolve_in_snapshot).
FOLDER, FILE, SYMLINK, OTHER, MISSING = "folder", "file", "symlink", "other", "missing"

#: rsync options of a restore: everything about each file (owner when root, mode, times,
#: ACLs, extended attributes, symlinks as symlinks, hard links within the copy, holes).
RESTORE_OPTIONS = ("-aHAXS", "--numeric-ids", "--stats", "--no-human-readable")

#: How many symlinks one PATH may pass through (as the kernel's ELOOP limit).
MAX_SYMLINKS = 40

SNAPSHOT_DELETED = ("the snapshot was deleted by a backup run while restoring; choose a newer "
                    "one")
KEPT_EXTRAS = "files already there that the snapshot does not have were kept"
#: Unsafe entries a refusal names.
SHOWN_UNSAFE = 5
#: The extended attribute that holds a file's capabilities.
CAPABILITY_XATTR = "security.capability"


class RestoreRefused(Exception):
    """A restore that must not (or cannot) happen. The message is for the user; `code` is
    the exit code (1 refused or failed, 2 usage)."""

    def __init__(self, message: str, code: int = EXIT_REFUSED):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Entry:
    """What a path inside the snapshot is (never following a symlink): `kind` is one of
    FOLDER, FILE, SYMLINK, OTHER, MISSING; `link` is a symlink's target text."""

    kind: str
    link: Optional[str] = None


def split_restore_path(text: str) -> Tuple[str, ...]:
    """Given PATH as typed, return its names relative to the snapshot root: leading '/',
    empty and '.' parts dropped. Raises RestoreRefused (usage) for '..' parts and for a
    PATH that names no file or folder (the snapshot root itself)."""
    if "\0" in text:
        raise RestoreRefused("PATH must not contain a NUL character", EXIT_USAGE)
    parts = tuple(part for part in text.split("/") if part not in ("", "."))
    if ".." in parts:
        raise RestoreRefused(f"PATH {text!r} contains '..': name a file or folder inside the "
                             f"snapshot, relative to its root", EXIT_USAGE)
    if not parts:
        raise RestoreRefused(f"PATH {text!r} names the whole snapshot: name a file or folder "
                             f"inside it (restore its top-level folders one by one)", EXIT_USAGE)
    return parts


def resolve_in_snapshot(parts: Sequence[str], look: Callable[[Tuple[str, ...]], Entry]
                        ) -> Tuple[Tuple[str, ...], Entry]:
    """Given PATH's names (from split_restore_path) and `look`, which tells what the path
    made of the names it is given is (without following a symlink), return (the names of
    the same item with every symlink among its parent folders replaced by the folder it
    leads to, the item's Entry). The item itself is not followed: a symlink is restored as
    a symlink.

    Raises RestoreRefused when a parent leads outside the snapshot (an absolute symlink, or
    '..' above the root), is not a folder, or when something does not exist.
    """
    typed = "/".join(parts)
    resolved: list = []
    pending = list(parts[:-1])
    hops = 0
    while pending:
        name = pending.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            if not resolved:
                raise _outside(typed)
            resolved.pop()
            continue
        entry = look(tuple(resolved + [name]))
        if entry.kind == SYMLINK:
            hops += 1
            if entry.link is None or entry.link.startswith("/") or hops > MAX_SYMLINKS:
                raise _outside(typed)
            pending[:0] = entry.link.split("/")
            continue
        if entry.kind != FOLDER:
            raise _not_there(typed, "/".join(resolved + [name]), entry.kind)
        resolved.append(name)
    item = tuple(resolved) + (parts[-1],)
    entry = look(item)
    if entry.kind == MISSING:
        raise _not_there(typed, "/".join(item), MISSING)
    return item, entry


def _outside(typed: str) -> RestoreRefused:
    return RestoreRefused(f"{typed!r} leads outside the snapshot (through a symlink); nothing "
                          f"was restored")


def _not_there(typed: str, where: str, kind: str) -> RestoreRefused:
    if kind == MISSING:
        return RestoreRefused(f"{typed!r} is not in this snapshot ({where!r} does not exist)")
    return RestoreRefused(f"{typed!r} is not in this snapshot ({where!r} is not a folder)")


def restore_target(parts: Sequence[str], source: str, to_dir: Optional[str]) -> str:
    """Given PATH's names as typed, the job's source folder and --to DIR (None when not
    given), return where the item goes: DIR/<its base name>, or its place in the source."""
    if to_dir is not None:
        return os.path.join(to_dir, parts[-1])
    return os.path.join(source, *parts)


def refuse_destination(target_folder: str, destinations: Iterable[str]) -> None:
    """Given the real path of the folder the copy goes into and the real paths of the
    configured destinations, raise RestoreRefused when it lies inside one of them."""
    for destination in destinations:
        if is_inside(target_folder, destination):
            raise RestoreRefused(f"{target_folder} is inside the backup destination "
                                 f"{destination}: vhpi never writes there; choose another --to")


def refuse_target_folder(folder: str, real: Optional[str], destinations: Iterable[str],
                         source: Tuple[str, str], chosen: bool) -> None:
    """Given the folder the item goes into, its real path (None when it is not an existing
    folder), the real paths of the configured destinations, the job's source (as configured,
    real path) and whether --to chose the folder, raise RestoreRefused when it does not exist, lies in a
    backup destination, or (back in the source) leads outside the source through a
    symlink."""
    if real is None:
        raise RestoreRefused(f"the folder {folder} does not exist; restore the folder that "
                             f"held it, or choose another place with --to DIR")
    refuse_destination(real, destinations)
    if not chosen and not is_inside(real, source[1]):
        raise RestoreRefused(f"{folder} leads outside the job's source {source[0]} (through "
                             f"a symlink); choose the place with --to DIR")


def source_refusal(problem: str) -> RestoreRefused:
    """Given why the job's source must not be written now (vhpi.act.source), return the
    refusal of a restore back into it."""
    return RestoreRefused(f"{problem.rstrip('.')}. A restore into the source needs it "
                          f"mounted, with its .backup_valid: nothing was restored. To restore "
                          f"elsewhere, use --to DIR")


def choose_write(target: str, item_kind: str, existing_kind: str, overwrite: bool) -> str:
    """Given the target path, the kind of the item restored, the kind of what is at the
    target now (MISSING when nothing) and --overwrite, return NEW, REPLACE or MERGE.

    Raises RestoreRefused when something is there without --overwrite, or when a folder and
    a non-folder would replace one another (vhpi does not delete a folder, nor put one in
    place of a file: move it away first)."""
    if existing_kind == MISSING:
        return NEW
    if not overwrite:
        raise RestoreRefused(f"{target} already exists; nothing was changed. Add --overwrite "
                             f"to replace it, or choose another place with --to DIR")
    if (item_kind == FOLDER) != (existing_kind == FOLDER):
        raise RestoreRefused(f"{target} is a {existing_kind} and the snapshot holds a "
                             f"{item_kind}; nothing was changed. Move {target} away first, or "
                             f"choose another place with --to DIR")
    return MERGE if item_kind == FOLDER else REPLACE


def staging_name(pid: int) -> str:
    """Return the name of the hidden folder (next to the target) a restore of process `pid`
    copies into before the result is renamed into place."""
    return f".vhpi-restore.{pid}"


def snapshot_reader_path(pid: int, fd: int) -> str:
    """Return the path through which another process (rsync) reads the folder that process
    `pid` holds open as `fd`: it stays the same folder while a backup run renames it."""
    return f"/proc/{pid}/fd/{fd}"


def restore_argv(item: str, into_folder: str) -> Tuple[str, ...]:
    """Given the item's path (no trailing slash: a symlink is copied as a symlink, a folder
    as the folder) and the folder to copy it into, return rsync's argv."""
    return (RSYNC, *RESTORE_OPTIONS, "--", item.rstrip("/") or "/", into_folder.rstrip("/") + "/")


@dataclass(frozen=True)
class RestoreCounts:
    """What rsync --stats says it copied: entries by kind and the total size of the files."""

    files: int = 0
    folders: int = 0
    symlinks: int = 0
    others: int = 0
    size: int = 0


_KINDS = re.compile(r"(reg|dir|link|dev|special): ([\d,]+)")


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def parse_restore_stats(lines: Iterable[str]) -> RestoreCounts:
    """Given rsync's output lines (--stats, --no-human-readable), return the RestoreCounts."""
    lines = [line.strip() for line in lines]
    stats = parse_stats(lines)
    kinds = next(({kind: _number(count) for kind, count in _KINDS.findall(line)}
                  for line in lines if line.startswith("Number of files:")), {})
    if "Number of files" in stats and not kinds:
        kinds = {"reg": stats["Number of files"]}  # "Number of files: 1" with no breakdown
    size = stats.get("Total file size", 0)
    return RestoreCounts(kinds.get("reg", 0), kinds.get("dir", 0), kinds.get("link", 0),
                         kinds.get("dev", 0) + kinds.get("special", 0), size)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def describe_counts(counts: RestoreCounts) -> str:
    """Return e.g. '12 files, 3 folders, 1 symlink, 4.5 MiB' (kinds with none left out,
    except files)."""
    words = [_plural(counts.files, "file")]
    for count, word in ((counts.folders, "folder"), (counts.symlinks, "symlink"),
                        (counts.others, "special file")):
        if count:
            words.append(_plural(count, word))
    return ", ".join(words + [human_bytes(counts.size)])


def summary_line(typed: str, job: str, snapshot: str, taken: Optional[str], target: str,
                 counts: RestoreCounts, mode: str) -> str:
    """Return the one line a successful restore prints: what (PATH as typed), from which
    job and snapshot (with its time as text when known), where to, and how much."""
    when = f", taken {taken}," if taken else ""
    kept = f"; {KEPT_EXTRAS}" if mode == MERGE else ""
    return (f"restored {typed} from {snapshot} of job {job}{when} to {target}: "
            f"{describe_counts(counts)}{kept}")


def rsync_problem(code: int, lines: Sequence[str]) -> str:
    """Given rsync's exit code (not 0) and its last lines, return what went wrong."""
    if disk_full_in(lines):
        return f"the disk restored to is full (rsync code {code})"
    return classify_exit(code, lines).problem or f"rsync failed with code {code}"


def readable_message(line: str, reader_path: str, snapshot_path: str) -> str:
    """Return an rsync message with the /proc path it was given replaced by the snapshot's
    own path."""
    return line.replace(reader_path, snapshot_path)


# ---------------------------------------------------------------- unsafe entries

def unsafe_reason(mode: int, has_capabilities: bool) -> Optional[str]:
    """Given an entry's st_mode and whether it carries file capabilities, return what makes
    restoring it dangerous ('a block device', 'a setuid file', ...), or None when nothing
    does (folders, symlinks, FIFOs, sockets, plain files)."""
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if not stat.S_ISREG(mode):
        return None
    rights = [word for bit, word in ((mode & stat.S_ISUID, "setuid"),
                                     (mode & stat.S_ISGID, "setgid")) if bit]
    if rights and has_capabilities:
        return f"a {' and '.join(rights)} file with file capabilities"
    if rights:
        return f"a {' and '.join(rights)} file"
    return "a file with file capabilities" if has_capabilities else None


def unsafe_entries(records: Iterable[Tuple[str, int, bool]]) -> Tuple[List[Tuple[str, str]], int]:
    """Given (path, st_mode, has capabilities) records of what a restore would copy, return
    (the first SHOWN_UNSAFE unsafe ones as (path, reason), how many there are in all)."""
    shown: List[Tuple[str, str]] = []
    total = 0
    for path, mode, has_capabilities in records:
        reason = unsafe_reason(mode, has_capabilities)
        if reason is None:
            continue
        total += 1
        if len(shown) < SHOWN_UNSAFE:
            shown.append((path, reason))
    return shown, total


def unsafe_refusal(shown: Sequence[Tuple[str, str]], total: int) -> Optional[RestoreRefused]:
    """Given unsafe_entries' answer, return the refusal of the restore (None when nothing
    is unsafe)."""
    if total == 0:
        return None
    names = "".join(f"\n  {path}: {reason}" for path, reason in shown)
    more = f"\n  and {total - len(shown)} more" if total > len(shown) else ""
    what, them, were = ("an entry", "it", "it was") if total == 1 else (f"{total} entries",
                                                                          "them", "they were")
    return RestoreRefused(f"what would be restored holds {what} that hand{'s' if total == 1 else ''} "
                          f"more rights to whoever can reach {them} (a device node opens a disk "
                          f"or memory; a setuid, setgid or capability file runs with more rights "
                          f"than its caller); nothing was restored. Add --unsafe to restore "
                          f"{them} as {were}{names}{more}")
