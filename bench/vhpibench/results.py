"""The measurements of one benchmark run, as plain data (filled by measuring and memory,
read by report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .plan import CASES
from .trees import Tree


@dataclass
class MovedRun:
    """One tool's run in a moved-files case (bench/vhpibench/moved.py), in bytes: what its
    destination grew by (the blocks of inodes that were not there before, and the backup
    disk's used space), what it read from the share's device, the same two figures of its
    run with nothing changed before (a snapshot's own folders, the walk's reads), and what
    its rsync passes copied (None: unknown); and its seconds with a cold page cache."""

    new_inodes: int
    disk_growth: int
    read: int
    new_inodes_unchanged: int
    read_unchanged: int
    copied: Optional[int]
    seconds: float


@dataclass
class Results:
    """Everything measured, by tree name, case key and tool name."""

    trees: List[Tree] = field(default_factory=list)
    #: the keys of the timed cases that were run on each tree (--case), in order
    cases: Tuple[str, ...] = tuple(case.key for case in CASES)
    #: tree name -> seconds it took to generate
    generation: Dict[str, float] = field(default_factory=dict)
    #: (tree name, case key, tool name) -> seconds of the measured rounds
    seconds: Dict[Tuple[str, str, str], List[float]] = field(default_factory=dict)
    #: (tree name, case key, tool name) -> seconds of the sync(2) right after each measured
    #: round's run, in the same order as `seconds` (run + sync: the durable time)
    sync_seconds: Dict[Tuple[str, str, str], List[float]] = field(default_factory=dict)
    #: (tree name, case key) -> vhpi's (own KiB, largest child KiB) per measured round
    memory: Dict[Tuple[str, str], List[Tuple[int, int]]] = field(default_factory=dict)
    #: (tree name, case key or 'setup' or 'idle', tool name) -> what went wrong
    failures: Dict[Tuple[str, str, str], str] = field(default_factory=dict)
    #: tree name -> median seconds of a vhpi run with nothing due
    idle: Dict[str, float] = field(default_factory=dict)
    #: moved-files case key -> (files moved or renamed, their bytes)
    moved_data: Dict[str, Tuple[int, int]] = field(default_factory=dict)
    #: (moved-files case key, tool name) -> that tool's MovedRun
    moved: Dict[Tuple[str, str], MovedRun] = field(default_factory=dict)
    #: moved-files case key -> why it was not run (not root, no loop devices)
    skipped: Dict[str, str] = field(default_factory=dict)
    #: (tree label, run description) -> (vhpi KiB, rsync KiB) from the memory runs
    peaks: Dict[Tuple[str, str], Tuple[Optional[int], Optional[int]]] = field(default_factory=dict)
