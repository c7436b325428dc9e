"""vhpi's record of when each interval of a destination last got a snapshot.

Stored as DEST/.vhpi/state.json, so it travels with the backup disk:
    {"format": 1, "snapshots": {"daily": 1763856000.0, ...}}
"""

from __future__ import annotations

import json
import math
from typing import Dict, Optional

from vhpi.act.files import write_json_atomically
from vhpi.act.layout import Layout

FORMAT = 1


class StateError(Exception):
    """The state file exists but cannot be used; the message says why and what to do."""


#: Times vhpi accepts in its records: from the epoch to the year 5000.
LATEST_BELIEVABLE_TIME = 95_617_584_000


def _is_time(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and 0 <= value <= LATEST_BELIEVABLE_TIME)


def _times_from(data: object, path: str) -> Dict[str, float]:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StateError(f"{path} is not a vhpi state file of format {FORMAT}")
    times = data.get("snapshots")
    if not isinstance(times, dict) or not all(
            isinstance(k, str) and _is_time(v) for k, v in times.items()):
        raise StateError(f"{path} has no valid 'snapshots' record")
    return {name: float(when) for name, when in times.items()}


def read_snapshot_times(layout: Layout) -> Optional[Dict[str, float]]:
    """Return {interval: time of its newest snapshot}, or None when there is no state file.

    Raises StateError when the file is damaged (truncated, not JSON, wrong shape).
    """
    try:
        with open(layout.state, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise StateError(f"cannot read {layout.state}: {error}")
    try:
        data = json.loads(text)
    except ValueError as error:
        raise StateError(f"{layout.state} is damaged ({error})")
    return _times_from(data, layout.state)


def write_snapshot_times(layout: Layout, times: Dict[str, float]) -> None:
    """Replace the state file atomically with `times` (DEST/.vhpi must exist: vhpi never
    creates folders it might write into an empty mountpoint)."""
    write_json_atomically(layout.state, {"format": FORMAT, "snapshots": times})
