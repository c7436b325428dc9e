"""Checking the user's raw rsync options against what vhpi's snapshot layout can survive."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

#: Used when a job gives no `rsync_options`: archive mode plus hard links (-H), ACLs (-A),
#: extended attributes (-X) and sparse files (-S), which -a alone does not keep; --delete
#: makes backup.latest mirror the source; --numeric-ids keeps owners right on restore.
DEFAULT_RSYNC_OPTIONS = "-aHAXS --delete --numeric-ids"

_THROUGH_LINKS = "writes into existing files in place, and so through the hard links into every older snapshot"
_VHPI_OWNS = "vhpi sets this itself to keep its snapshot layout"

FORBIDDEN_LONG: Dict[str, str] = {
    "--inplace": _THROUGH_LINKS,
    "--append": _THROUGH_LINKS,
    "--append-verify": _THROUGH_LINKS,
    "--write-devices": _THROUGH_LINKS,
    "--link-dest": "vhpi makes the hard links itself; a second link tree would fight its rotation",
    "--compare-dest": "it leaves files out of backup.latest, so snapshots would be incomplete",
    "--copy-dest": _VHPI_OWNS,
    "--remove-source-files": "it deletes files from the source",
    "--remove-sent-files": "it deletes files from the source (old name of --remove-source-files)",
    "--dry-run": "use `vhpi --dry-run` instead",
    "--backup": "it scatters renamed copies through the snapshot",
    "--backup-dir": "it scatters renamed copies through the snapshot",
    "--suffix": "it belongs to --backup, which vhpi does not allow",
    "--relative": "it changes where files land inside backup.latest",
    "--files-from": _VHPI_OWNS,
    "--from0": _VHPI_OWNS,
    "--out-format": _VHPI_OWNS,
    "--log-format": _VHPI_OWNS,
    "--temp-dir": _VHPI_OWNS,
    "--partial-dir": _VHPI_OWNS,
    "--only-write-batch": "it writes nothing into the backup",
    "--write-batch": _VHPI_OWNS,
    "--read-batch": _VHPI_OWNS,
    "--list-only": "it copies nothing",
    "--rsh": "vhpi copies from a mounted or local folder, not over a remote shell",
    "--server": "it is internal to rsync",
    "--sender": "it is internal to rsync",
    "--daemon": "it is internal to rsync",
}
#: Short options and their long names, for the messages.
FORBIDDEN_SHORT: Dict[str, str] = {"n": "--dry-run", "b": "--backup", "R": "--relative",
                                   "0": "--from0", "T": "--temp-dir", "e": "--rsh"}
#: Short options whose argument follows them (in the same word or the next one).
SHORT_WITH_ARGUMENT = frozenset("eBTfM@")
#: Long options that take their argument as the next word when written without '='.
LONG_WITH_ARGUMENT = frozenset({
    "--exclude", "--include", "--filter", "--exclude-from", "--include-from", "--max-size",
    "--min-size", "--chmod", "--timeout", "--contimeout", "--bwlimit", "--rsync-path",
    "--log-file", "--log-file-format", "--password-file", "--usermap", "--groupmap",
    "--chown", "--max-delete", "--modify-window", "--info", "--debug", "--compress-level",
    "--compress-choice", "--skip-compress", "--block-size", "--checksum-choice",
    "--checksum-seed", "--iconv", "--outbuf", "--stop-after", "--stop-at", "--max-alloc",
    "--copy-as", "--remote-option", "--port", "--sockopts", "--protocol", "--address",
    "--early-input", "--link-dest", "--compare-dest", "--copy-dest", "--backup-dir",
    "--suffix", "--files-from", "--out-format", "--log-format", "--temp-dir", "--partial-dir",
    "--only-write-batch", "--write-batch", "--read-batch", "--rsh",
})
DELETE_OPTIONS = frozenset({"--delete", "--del", "--delete-before", "--delete-during",
                            "--delete-delay", "--delete-after", "--delete-excluded",
                            "--delete-missing-args"})


@dataclass(frozen=True)
class CheckedOptions:
    """The user's options split into words, with what is wrong with them and what to warn about."""

    words: Tuple[str, ...]
    problems: Tuple[str, ...]
    warnings: Tuple[str, ...]


def long_option_name(word: str) -> str:
    """Return `--name` of a long option word such as `--name=value`."""
    return word.split("=", 1)[0]


def short_option_letters(word: str) -> str:
    """Return the option letters of a bundle like `-aAHSvX`, stopping at one that takes an argument."""
    letters = []
    for letter in word[1:]:
        letters.append(letter)
        if letter in SHORT_WITH_ARGUMENT:
            break
    return "".join(letters)


def check_rsync_options(text: str) -> CheckedOptions:
    """Given the job's `rsync_options` string, return its words and every problem found."""
    try:
        words = tuple(shlex.split(text))
    except ValueError as error:
        return CheckedOptions((), (f"cannot split into words: {error}",), ())
    problems: List[str] = []
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
            continue
        if word == "--":
            problems.append("'--' ends rsync's options and starts paths; give paths as rsync_src and rsync_dest")
            break
        if word.startswith("--"):
            name = long_option_name(word)
            if name in FORBIDDEN_LONG:
                problems.append(f"{name} is not allowed: {FORBIDDEN_LONG[name]}")
            skip_next = name in LONG_WITH_ARGUMENT and "=" not in word
        elif word.startswith("-") and len(word) > 1:
            letters = short_option_letters(word)
            for letter in letters:
                if letter in FORBIDDEN_SHORT:
                    long_name = FORBIDDEN_SHORT[letter]
                    problems.append(f"-{letter} ({long_name}) is not allowed: {FORBIDDEN_LONG[long_name]}")
            skip_next = letters[-1:] in SHORT_WITH_ARGUMENT and word.endswith(letters[-1])
        else:
            problems.append(f"{word!r} is not an option; give source and destination as rsync_src and rsync_dest")
    warnings = ()
    if not deletes_extraneous(words):
        warnings = ("no --delete: files deleted from the source stay in every new snapshot",)
    return CheckedOptions(words, tuple(problems), warnings)


def without_delete_options(words: Tuple[str, ...]) -> Tuple[str, ...]:
    """Return the option words minus the --delete family (vhpi applies deletions itself)."""
    return tuple(w for w in words if long_option_name(w) not in DELETE_OPTIONS)


def deletes_extraneous(words: Tuple[str, ...]) -> bool:
    """True when the options make rsync delete files that are not in the source."""
    return any(long_option_name(w) in DELETE_OPTIONS for w in words)


def _last_says(words: Tuple[str, ...], on_short: str, on_long: Tuple[str, ...],
               off_long: Tuple[str, ...]) -> Optional[bool]:
    """Return what the last word that sets or clears one option says (True: set), or None
    when none does: `on_short` letters in short bundles, `on_long` / `off_long` words."""
    said: Optional[bool] = None
    for word in words:
        if word.startswith("--"):
            name = long_option_name(word)
            if name in on_long:
                said = True
            elif name in off_long:
                said = False
        elif word.startswith("-") and any(letter in on_short for letter in short_option_letters(word)):
            said = True
    return said


def keeps_times(words: Tuple[str, ...]) -> bool:
    """True when the options make rsync give copies their source's modification time
    (-t, or -a which implies it, unless a later --no-times / --no-t takes it back)."""
    return bool(_last_says(words, "ta", ("--times", "--archive"), ("--no-times", "--no-t")))


def follows_symlinks(words: Tuple[str, ...]) -> bool:
    """True when the options make rsync copy what (some) symlinks point to instead of the
    symlinks (-L, -k, --copy-links, --copy-unsafe-links, --copy-dirlinks)."""
    return bool(_last_says(words, "Lk", ("--copy-links", "--copy-unsafe-links",
                                         "--copy-dirlinks"), ()))


#: The options that add filter rules. The top folder's pass gets none of the job's: rsync
#: takes the first rule that matches, so an include (`+ name` among the excludes,
#: --include, --filter, -F reading a .rsync-filter the share holds) before TOP_LEVEL_ENTRIES
#: would let that pass set attributes on a top-level inode that snapshots share (and a
#: '!' rule would clear TOP_LEVEL_ENTRIES). No filter rule can leave out the top folder.
FILTER_OPTIONS = frozenset({"--exclude", "--include", "--filter", "--exclude-from",
                            "--include-from", "--cvs-exclude"})
FILTER_LETTERS = "CFf"


def without_filter_options(words: Sequence[str]) -> Tuple[str, ...]:
    """Return the rsync option words without those that add filter rules (FILTER_OPTIONS,
    -C, -F and -f with its argument, also inside bundles such as -aF); every other option
    keeps its argument."""
    kept: List[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word.startswith("--"):
            name = long_option_name(word)
            follows = name in LONG_WITH_ARGUMENT and "=" not in word
            if name in FILTER_OPTIONS:
                index += follows
                continue
            kept.append(word)
        elif word.startswith("-") and len(word) > 1:
            letters = short_option_letters(word)
            attached = word[1 + len(letters):]
            follows = letters[-1:] in SHORT_WITH_ARGUMENT and not attached
            if letters.endswith("f"):  # --filter: its rule goes too
                letters, attached = letters[:-1], ""
                index += follows
                follows = False
            letters = "".join(letter for letter in letters if letter not in FILTER_LETTERS)
            if letters or attached:
                kept.append("-" + letters + attached)
        else:
            kept.append(word)
            continue
        if follows and index < len(words):
            kept.append(words[index])
            index += 1
    return tuple(kept)
