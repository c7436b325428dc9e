"""What the benchmark measures: constants shared by every module, and the cases."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Tuple

#: The repository root (bench/vhpibench/plan.py is three levels below it).
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED = 20240611
KEEP = 4                                                   # every interval, every tool
INTERVALS = {"hourly": 3600, "daily": 86400, "weekly": 604800}
RSYNC_OPTIONS = ("-aHAXS", "--delete", "--numeric-ids")    # vhpi's default, used by all
SAMPLE_FILES = 20                                          # files compared per check
IDLE_RUNS = 11
#: 10000,100000 was the goal, but took 19.7 minutes on a 2-core VM (the 100,000-file tree
#: alone 17); 10000,30000 stays well under 15. Ask for 100,000 with --sizes.
DEFAULT_SIZES = "10000,30000"
#: The case d target: vhpi at most this many times the floor when nothing expires.
FLOOR_TARGET = 1.1
#: The scan comparison's targets: vhpi at most this many times a plain rsync into an
#: existing tree (durable times), and a run with nothing due under this many seconds.
SCAN_TARGET = 1.10
IDLE_TARGET = 0.150
#: The moved-files target (issue 11): a rename or move costs at most this share of the
#: moved data in disk growth, and reads at most that much more from the share than a run
#: with nothing changed (which reads only the walk's metadata).
MOVED_TARGET = 0.01


@dataclass(frozen=True)
class Case:
    """One measured situation: which intervals are due, whether 1 % of the files change
    before each round, whether the oldest snapshot expires, and which tools take part."""

    key: str
    title: str
    intervals: Tuple[str, ...]
    change: bool
    expire: bool
    tools: Tuple[str, ...]


ALL_TOOLS = ("vhpi", "rsnapshot-cp", "rsnapshot-ld", "floor")
#: The tools of the scan comparison: vhpi, the least any rsync-based tool can do (a plain
#: rsync into an existing tree, no snapshot) and rsnapshot in its faster mode.
SCAN_TOOLS = ("vhpi", "rsync", "rsnapshot-cp")
CASES = (
    Case("a", "nothing changed, 1 interval due, oldest expires", ("hourly",), False, True, ALL_TOOLS),
    Case("b", "1 % of files changed, 1 interval due, oldest expires", ("hourly",), True, True, ALL_TOOLS),
    Case("c", "3 intervals due (hourly, daily, weekly), oldest expires", ("hourly", "daily", "weekly"),
         False, True, ALL_TOOLS),
    Case("d", "nothing changed, 1 interval due, nothing expires", ("hourly",), False, False,
         ("vhpi", "floor")),
)
#: The scan comparison, a table of its own: case a's situation, each run followed by sync
#: (timed apart, so that a run's own and its durable time both come from the same run).
SCAN_CASE = Case("scan", "nothing changed, 1 interval due, oldest expires; vhpi vs a plain rsync "
                 "into an existing tree and vs rsnapshot, each run followed by sync",
                 ("hourly",), False, True, SCAN_TOOLS)
#: The cases of the moved-files comparison (bench/vhpibench/moved.py), on a share of their own;
#: their failures are filed under SHARE in place of a tree's name.
MOVE_CASES = ("rename", "move")
SHARE = "share"
#: What --case accepts, in the order they run: the timed cases per tree, then the moved files.
CASE_KEYS = tuple(case.key for case in CASES) + (SCAN_CASE.key,) + MOVE_CASES
