"""vhpi's record of when each interval of a destination last got a snapshot.

Stored as DEST/.vhpi/state.json, so it travels with the backup disk:
    {"format": 1, "snapshots": {"daily": 1763856000.0, ...}}
"""

from __future__ import annotations

import json
import os
from typing import Dict, Optional

from vhpi.act.files import write_json_atomically
from vhpi.act.layout import Layout

FORMAT = 1


class StateError(Exception):
    """The state file exists but cannot be used; the message says why and what to do."""


def _times_from(data: object, path: str) -> Dict[str, float]:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StateError(f"{path} is not a vhpi state file of format {FORMAT}")
    times = data.get("snapshots")
    if not isinstance(times, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
            for k, v in times.items()):
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
    """Replace the state file atomically with `times` (creating DEST/.vhpi, one level only)."""
    if not os.path.isdir(layout.own):
        os.mkdir(layout.own)
    write_json_atomically(layout.state, {"format": FORMAT, "snapshots": times})
