"""Keeping the backups and vhpi's own files to the account that runs vhpi (see
vhpi.decide.privacy): the destination folder gets its mode (and the snapshot group) on
every run that backs up (once the source check has shown it is not the source through a
symlink), DEST/.vhpi and ~/.very_hungry_pi are 0700."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from typing import Optional, Tuple

from vhpi.act.layout import Layout
from vhpi.decide.privacy import OWNER_ONLY, Owners, wanted_mode


def group_id(name: Optional[str]) -> Optional[int]:
    """Return the id of the group called `name` (None for no name); raises KeyError when
    there is no such group."""
    return None if name is None else grp.getgrnam(name).gr_gid


def keep_private(layout: Layout, group: Optional[str]) -> Optional[str]:
    """Give the destination folder its mode (0700, or 0750 with `group` as its group) and
    DEST/.vhpi 0700, when they differ; return a warning when that cannot be done (a folder
    of another user, an unknown group or one vhpi's user is not in: the folder then stays
    0700), else None. Costs one stat each when all is right."""
    user = _user_name(os.geteuid())
    try:
        gid = group_id(group)
    except KeyError:
        gid, warning = None, f"snapshot_group {group!r} does not exist; {layout.root} stays 0700"
    else:
        warning = None
    try:
        if gid is not None and not _set_group(layout.root, gid):
            gid, warning = None, (f"cannot give {layout.root} the snapshot_group {group} ({user} is not "
                                  f"a member of it): it stays 0700, for {user} only; run: "
                                  f"sudo chgrp {group} {layout.root}")
        _set_mode(layout.root, wanted_mode(gid is not None))
    except PermissionError:
        owner, mode = (f"{user}:{group}", wanted_mode(True)) if gid is not None else (user, OWNER_ONLY)
        warning = (f"cannot make {layout.root} private (it belongs to another user): every account "
                   f"that can enter it can read the snapshots; run: sudo chown {owner} {layout.root}"
                   f" && sudo chmod {mode:o} {layout.root}")
    try:
        if os.path.isdir(layout.own):
            _set_mode(layout.own, OWNER_ONLY)
    except PermissionError:
        pass
    return warning


def _set_group(path: str, gid: int) -> bool:
    """Give `path` the group `gid`; False when vhpi's user owns it but is not in the group
    (raises PermissionError when it belongs to another user)."""
    info = os.stat(path)
    if info.st_gid == gid:
        return True
    try:
        os.chown(path, -1, gid)
    except PermissionError:
        if info.st_uid == os.geteuid():
            return False
        raise
    return True


def _set_mode(path: str, mode: int) -> None:
    if stat.S_IMODE(os.stat(path).st_mode) != mode:
        os.chmod(path, mode)


def keep_home_private(home: str) -> None:
    """Make vhpi's own folder 0700 (best effort: a folder that cannot be changed is left)."""
    try:
        if stat.S_IMODE(os.stat(home).st_mode) != OWNER_ONLY:
            os.chmod(home, OWNER_ONLY)
    except OSError:
        pass


# ---------------------------------------------------------------- read-only looks (vhpi check)


def gid_or_none(name: Optional[str]) -> Optional[int]:
    """Return the id of the group called `name`, or None for no name or no such group."""
    try:
        return group_id(name)
    except KeyError:
        return None


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def mode_and_owners(path: str) -> Tuple[Optional[int], Optional[Owners]]:
    """Given a path, return its mode and owners (following symlinks), or (None, None) when
    it does not exist. Changes nothing; raises OSError when it cannot be looked at."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None, None
    return info.st_mode, Owners(info.st_uid, info.st_gid, _user_name(info.st_uid), _group_name(info.st_gid))


def running_uid() -> int:
    """Return the effective uid vhpi runs as."""
    return os.geteuid()


def holds_backups(layout: Layout) -> bool:
    """True when the destination holds anything of vhpi's: backup.latest, DEST/.vhpi or a
    folder that may be a snapshot (anything but the mark and hidden names); an unreadable
    folder counts as holding backups (the careful answer)."""
    try:
        names = os.listdir(layout.root)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return any(not name.startswith(".") or name == ".vhpi" for name in names)
