"""The measurements of one benchmark run, as plain data (filled by measuring and memory,
read by report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .trees import Tree


@dataclass
class Results:
    """Everything measured, by tree name, case key and tool name."""

    trees: List[Tree] = field(default_factory=list)
    #: tree name -> seconds it took to generate
    generation: Dict[str, float] = field(default_factory=dict)
    #: (tree name, case key, tool name) -> seconds of the measured rounds
    seconds: Dict[Tuple[str, str, str], List[float]] = field(default_factory=dict)
    #: (tree name, case key) -> vhpi's (own KiB, largest child KiB) per measured round
    memory: Dict[Tuple[str, str], List[Tuple[int, int]]] = field(default_factory=dict)
    #: (tree name, case key or 'setup' or 'idle', tool name) -> what went wrong
    failures: Dict[Tuple[str, str, str], str] = field(default_factory=dict)
    #: tree name -> median seconds of a vhpi run with nothing due
    idle: Dict[str, float] = field(default_factory=dict)
    #: (tree label, run description) -> (vhpi KiB, rsync KiB) from the memory runs
    peaks: Dict[Tuple[str, str], Tuple[Optional[int], Optional[int]]] = field(default_factory=dict)
