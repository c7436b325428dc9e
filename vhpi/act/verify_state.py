"""What vhpi remembers of verifies, per destination, in DEST/.vhpi/verify.json (written
whole and atomically), for `vhpi status`:

    last_full   the last verify that covered every snapshot (`vhpi verify JOB`, or a scrub
                cycle that ended): {"at", "files", "bytes", "damaged", "paths", "by"}
    damage      the damage the last verify of any kind found and a later full one has not
                found clean again: {"at", "damaged", "paths", "by"} or absent

`by` is "verify" or "scrub". A damaged or unreadable file reads as no record."""

from __future__ import annotations

import json
import os
from typing import List, Optional

from vhpi.act.files import write_json_atomically

FILE_NAME = "verify.json"
#: Damaged paths kept per record (the command's output has them all).
KEPT_PATHS = 20


def state_path(destination: str) -> str:
    """Return the verify record file of the destination folder `destination`."""
    return os.path.join(destination, ".vhpi", FILE_NAME)


def read_verify_state(destination: str) -> dict:
    """Return the destination's verify records ({} when none or unreadable)."""
    try:
        with open(state_path(destination), encoding="utf-8") as handle:
            found = json.load(handle)
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def note_verify(destination: str, at: float, by: str, full: bool, files: int, size: int,
                damaged_paths: List[str]) -> None:
    """Record a verify that ended at `at` (by "verify" or "scrub"; `full`: it covered every
    snapshot) with its figures and the paths of what it found damaged."""
    state = read_verify_state(destination)
    paths = damaged_paths[:KEPT_PATHS]
    if full:
        state["last_full"] = {"at": at, "files": files, "bytes": size, "by": by,
                              "damaged": len(damaged_paths), "paths": paths}
    if damaged_paths:
        state["damage"] = {"at": at, "damaged": len(damaged_paths), "paths": paths, "by": by}
    elif full:
        state.pop("damage", None)
    write_json_atomically(state_path(destination), state)


def known_damage(destination: str) -> Optional[dict]:
    """Return the damage record of the destination (see the docstring), or None."""
    damage = read_verify_state(destination).get("damage")
    return damage if isinstance(damage, dict) else None
