"""Matching paths against a job's exclude patterns the way rsync's `--exclude` does, so
that `vhpi diff ... source` leaves out what the backup leaves out.

The rules followed (rsync(1), "PATTERN MATCHING RULES"):

* a pattern starting with `/` is anchored at the top of the tree; any other pattern
  matches at the end of the path, on a `/` boundary (`b/c` matches `a/b/c`, not `ab/c`);
* a pattern ending in `/` matches folders only; `dir/***` matches the folder `dir` (and so,
  as for any excluded folder, everything below it);
* `*` matches anything but `/`, `**` anything, `?` one character but `/`, `[...]` a
  character class (`[!...]` negated), and a backslash makes the next character literal.

Not covered: filter rules given in rsync_options (`--filter`, `--exclude-from`, `-C`...),
include patterns, and per-folder merge files.
"""

from __future__ import annotations

import os
import re
from typing import Callable, Iterable, List, Optional, Pattern, Tuple

Rule = Tuple[Pattern, bool]


def compile_excludes(patterns: Iterable[str]) -> Callable[[bytes, bool], bool]:
    """Given exclude patterns, return excluded(path, is_folder) -> bool for relative paths
    (bytes, no leading or trailing slash)."""
    rules = [rule for rule in map(compile_pattern, patterns) if rule is not None]

    def excluded(path: bytes, is_folder: bool) -> bool:
        return any((is_folder or not folders_only) and regex.fullmatch(path)
                   for regex, folders_only in rules)

    return excluded


def compile_pattern(pattern: str) -> Optional[Rule]:
    """Return (regex over the whole relative path, matches folders only) for one pattern;
    None for an empty one."""
    text, folders_only = pattern, False
    if text.endswith("/***"):
        text, folders_only = text[:-4], True
    elif text.endswith("/"):
        text, folders_only = text.rstrip("/"), True
    anchored = text.startswith("/")
    text = text.lstrip("/")
    if not text:
        return None
    regex = translate(text)
    if not anchored:
        regex = "(?:.*/)?" + regex
    return re.compile(os.fsencode(regex), re.DOTALL), folders_only


def translate(text: str) -> str:
    """Return the regular expression (as text) for one rsync wildcard pattern."""
    parts: List[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if text.startswith("**", index):
            parts.append(".*")
            index += 2
            continue
        if char == "*":
            parts.append("[^/]*")
        elif char == "?":
            parts.append("[^/]")
        elif char == "[" and "]" in text[index + 2:]:
            end = text.index("]", index + 2)
            parts.append(_character_class(text[index + 1:end]))
            index = end
        elif char == "\\" and index + 1 < len(text):
            index += 1
            parts.append(re.escape(text[index]))
        else:
            parts.append(re.escape(char))
        index += 1
    return "".join(parts)


def _character_class(inside: str) -> str:
    negated = inside[:1] in ("!", "^")
    body = inside[1:] if negated else inside
    body = body.replace("\\", "\\\\").replace("[", "\\[")
    return "[" + ("^" if negated else "") + body + "]"
