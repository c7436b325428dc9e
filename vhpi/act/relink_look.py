"""Finding, in a child process, how an expiring snapshot differs from backup.latest, while
rsync's dry run reads (vhpi.act.head_start): the child runs find_differences
(vhpi.act.relink) and writes the trie to a file, which the parent reads back once the
child has ended.

The file is a sequence of NUL-terminated tokens, in walk order: b"d" + name (enter that
folder), b"u" (back to the parent), b"x" (the current folder differs), and b"end" last: a
file without it (a child cut short) is not used. Names are bytes as the file system has
them (no name holds NUL or is empty), so any name comes back as it was.

The child is `python -c CHILD_CODE VHPI_PARENT MODEL TREE OUTPUT` (see child_argv), started
with the interpreter running vhpi and told where vhpi lives, however vhpi was installed.
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO, Iterator, List, Optional, Sequence

from vhpi.act.relink import DIFFERS, Differences, find_differences

END = b"end"
CHILD_CODE = ("import sys; sys.path.insert(0, sys.argv[1]); "
              "from vhpi.act.relink_look import main; sys.exit(main(sys.argv[2:]))")


def child_argv(model: str, tree: str, output: str) -> List[str]:
    """Return the command that writes the differences of `tree` from `model` to `output`."""
    vhpi_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return [sys.executable, "-I", "-S", "-c", CHILD_CODE, vhpi_parent, model, tree, output]


def tokens_of(differences: Differences) -> Iterator[bytes]:
    """Yield the tokens of a trie (without the final END), walking it without recursion."""
    if differences.get(DIFFERS):
        yield b"x"
    pending = [iter(differences.items())]
    while pending:
        item = next(pending[-1], None)
        if item is None:
            pending.pop()
            if pending:
                yield b"u"
            continue
        name, below = item
        if name == DIFFERS:
            continue
        yield b"d" + os.fsencode(name)
        if below.get(DIFFERS):
            yield b"x"
        pending.append(iter(below.items()))


def write_differences(differences: Differences, output: BinaryIO) -> None:
    """Write the trie's tokens and END to `output`."""
    for token in tokens_of(differences):
        output.write(token + b"\0")
    output.write(END + b"\0")


def read_differences(data: bytes) -> Optional[Differences]:
    """Return the trie the tokens in `data` describe; None when they are not a complete,
    well-formed sequence (a child cut short, a damaged file)."""
    tokens = data.split(b"\0")
    if tokens[-2:] != [END, b""]:
        return None
    root: Differences = {}
    path = [root]
    for token in tokens[:-2]:
        if token == b"x":
            path[-1][DIFFERS] = True
        elif token == b"u" and len(path) > 1:
            path.pop()
        elif token.startswith(b"d") and len(token) > 1:
            path.append(path[-1].setdefault(os.fsdecode(token[1:]), {}))
        else:
            return None
    return root


def main(arguments: Sequence[str]) -> int:
    """MODEL TREE OUTPUT: write the differences of TREE from MODEL to OUTPUT; exit code 0,
    or 1 (with the reason on stderr) when a folder could not be read."""
    model, tree, output = arguments
    try:
        differences = find_differences(model, tree)
        with open(output, "wb") as handle:
            write_differences(differences, handle)
    except OSError as error:
        print(f"vhpi: looking for differences failed: {error}", file=sys.stderr)
        return 1
    return 0
