"""The tests' one look at processes through /proc: a process's state, process group,
command line and children, and every process there is."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, List, Optional


@dataclass(frozen=True)
class Proc:
    """One process as /proc shows it: its state letter (R, S, D, T, Z…), process group
    and command line (the words as bytes; [] for a kernel thread or a zombie)."""

    pid: int
    state: str
    pgid: int
    argv: List[bytes]

    def mentions(self, word: bytes) -> bool:
        """True when one of the command line's words holds `word`."""
        return any(word in part for part in self.argv)


def process(pid: int) -> Optional[Proc]:
    """Return process `pid`, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode("ascii", "replace")
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")[:-1]
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    return Proc(pid, fields[0], int(fields[2]), argv)


def process_state(pid: int) -> Optional[str]:
    """Return the state letter of process `pid`, None when it is gone."""
    found = process(pid)
    return None if found is None else found.state


def running(pid: int) -> bool:
    """True while process `pid` exists and has not ended (a zombie has)."""
    return process_state(pid) not in (None, "Z")


def thread_states(pid: int) -> List[str]:
    """Return the state letter of every thread of process `pid` ([] when it is gone)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    states = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as handle:
                text = handle.read().decode("ascii", "replace")
        except OSError:
            continue
        states.append(text[text.rfind(")") + 2:].split()[0])
    return states


def children(pid: int) -> List[int]:
    """Return the pids of the children of process `pid` ([] when it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:
        return []


def processes() -> Iterator[Proc]:
    """Yield every process there is (that is still there when looked at)."""
    for name in os.listdir("/proc"):
        if name.isdigit():
            found = process(int(name))
            if found is not None:
                yield found
