"""Is a job's destination really the mounted backup disk? And which ones has vhpi used before?

An unplugged USB disk leaves an empty mountpoint folder behind; writing there fills the
Pi's SD card. So a destination must hold the user's `.backup_destination` mark, and
vhpi remembers (in ~/.very_hungry_pi/destinations.json) every destination it has made
snapshots in, to say plainly when one of them has lost its mark or its state.
"""

from __future__ import annotations

import json
import os
import time
from typing import Dict, Optional

from vhpi.act.files import write_json_atomically
from vhpi.act.home_trouble import note
from vhpi.act.lock import held_briefly
from vhpi.act.run_records import RECORDS_LOCK
from vhpi.act.layout import DESTINATION_MARK, Layout
from vhpi.decide.paths import shared_state_folders

REGISTRY_NAME = "destinations.json"


def known_destinations(home: str) -> Dict[str, float]:
    """Return {destination path: time vhpi first made a snapshot there}, from the state
    folder `home` and the folders it shares that record with (vhpi.decide.paths); {} when
    unreadable."""
    known: Dict[str, float] = {}
    for folder in reversed(shared_state_folders(home)):
        known.update(_registry(folder))
    return known


def _registry(folder: str) -> Dict[str, float]:
    try:
        with open(os.path.join(folder, REGISTRY_NAME), encoding="utf-8") as handle:
            data = json.load(handle)
        return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def remember_destination(home: str, destination: str) -> None:
    """Record that vhpi has made snapshots in `destination` (once; later calls do nothing).
    Best effort: a HOME that cannot be written is noted (vhpi.act.home_trouble); the
    destination's own mark keeps guarding it meanwhile."""
    if destination in known_destinations(home):
        return
    path = os.path.join(home, REGISTRY_NAME)
    try:
        with held_briefly(os.path.join(home, RECORDS_LOCK)):  # overlapping runs: no lost update
            known = known_destinations(home)
            known.setdefault(destination, time.time())
            write_json_atomically(path, known)
    except OSError as error:
        note(path, error)


def on_root_file_system(path: str) -> bool:
    """True when `path` lies on the file system of `/` (on a Pi: the SD card)."""
    try:
        return os.stat(path).st_dev == os.stat("/").st_dev
    except OSError:
        return False


def destination_device(layout: Layout) -> int:
    """Return the device id of the destination folder, to notice later if it is unmounted."""
    return os.stat(layout.root).st_dev


def prepare_destination(layout: Layout) -> None:
    """Create vhpi's own folders in a checked destination. Only ever one level at a time
    (never makedirs), so a destination that vanishes mid-run gets nothing written under
    the empty mountpoint left behind: the writes fail instead."""
    for folder in (layout.own, layout.work):
        if not os.path.isdir(folder):
            os.mkdir(folder)


def destination_gone(layout: Layout, device: int) -> Optional[str]:
    """Return why the destination checked at the start of the job is no longer the same
    mounted disk (its mark gone, or another file system under the path), or None."""
    try:
        same_disk = os.stat(layout.root).st_dev == device and os.path.isfile(layout.mark)
    except OSError:
        same_disk = False
    if same_disk:
        return None
    return (f"destination {layout.root} vanished during the run (was the backup disk "
            f"unmounted?); nothing more was written")


def destination_problem(layout: Layout, used_before: bool) -> Optional[str]:
    """Return why `layout.root` must not be written to now, or None when it is fine."""
    root = layout.root
    if not os.path.isdir(root):
        return (f"destination {root} does not exist: is the backup disk mounted? "
                f"(vhpi never creates it; nothing was written)")
    if not os.path.isfile(layout.mark):
        if used_before:
            return (f"vhpi has made snapshots in {root} before, but its {DESTINATION_MARK} is "
                    f"missing: the backup disk is probably not mounted. Nothing was written.")
        if on_root_file_system(root):
            return (f"destination {root} is not marked as a backup destination, and it is on "
                    f"the root file system (the SD card), not on a disk of its own: if the "
                    f"backup disk is not mounted there, mount it. Only if this folder really is "
                    f"where the backups go, mark it once with: touch {layout.mark}")
        return (f"destination {root} is not marked as a backup destination. If it really is "
                f"on your backup disk, mark it once with: touch {layout.mark}")
    if not os.access(root, os.W_OK | os.X_OK):
        return f"destination {root} is not writable for this user (or is mounted read-only)"
    return None
