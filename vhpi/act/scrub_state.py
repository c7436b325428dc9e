"""Where the scrub of a destination stands, in DEST/.vhpi/scrub.json (written whole and
atomically), with its listing DEST/.vhpi/scrub-listing.sqlite3 (vhpi.act.dedup_listing),
kept from step to step until the cycle ends:

    started     when the cycle began (its listing was started)
    listed      the snapshot folders listed so far, by their folder's inode (a rotation
                renames snapshots between steps)
    indexed     the listing is complete and indexed; total: its bytes (each inode once)
    cursor      the highest inode number verified; done: the bytes verified
    files, damaged   inodes verified and the paths found damaged in this cycle
    finished    when the cycle ended (every listed inode verified), else None
"""

from __future__ import annotations

import json
import os
from typing import Optional

from vhpi.act.files import write_json_atomically
from vhpi.decide.scrub_pace import new_cycle_due

FILE_NAME = "scrub.json"
LISTING = "scrub-listing.sqlite3"


def state_path(destination: str) -> str:
    """Return the scrub state file of the destination folder `destination`."""
    return os.path.join(destination, ".vhpi", FILE_NAME)


def new_cycle(now: float) -> dict:
    """Return the state of a cycle starting at `now`."""
    return {"started": now, "listed": [], "indexed": False, "total": 0, "cursor": 0,
            "done": 0, "files": 0, "damaged": [], "finished": None}


def read_scrub_state(destination: str) -> Optional[dict]:
    """Return the destination's scrub state, or None (none yet, or unreadable)."""
    try:
        with open(state_path(destination), encoding="utf-8") as handle:
            found = json.load(handle)
    except (OSError, ValueError):
        return None
    wanted = new_cycle(0.0)
    if not isinstance(found, dict) or set(wanted) - set(found):
        return None
    return found


def write_scrub_state(destination: str, state: dict) -> None:
    """Save the destination's scrub state."""
    write_json_atomically(state_path(destination), state)


def step_wanted(destination: str, period: float, now: float) -> bool:
    """True when the scrub of `destination` (period `period` s) has a step to take now: a
    cycle in progress, or a new one due (reads one small file: the hourly run stays fast)."""
    state = read_scrub_state(destination)
    if state is None:
        return os.path.isdir(os.path.join(destination, ".vhpi"))
    return state["finished"] is None or new_cycle_due(state["started"], state["finished"], period, now)
