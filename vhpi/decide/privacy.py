"""Who may reach the backups: the pure rules.

Snapshots hold every file of the share, with the share's owners and modes: on a Pi with
other accounts, a guest who can enter the destination reads every photo and diary, an
account whose uid equals the laptop owner's can change a file in every snapshot at once
(they share the inode), and a device node or a setuid program from the share works for
whoever reaches it. So the destination folder itself is the owner's only (0700), as
rsnapshot's documentation asks of its snapshot root; a job may name a `snapshot_group`
whose members get read access (0750): they can then read every file of every snapshot,
whatever its own mode said on the laptop.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from enum import Enum
from typing import Optional, Sequence, Tuple

OWNER_ONLY = 0o700
OWNER_AND_GROUP = 0o750


def wanted_mode(shared_with_group: bool) -> int:
    """Return the mode the destination folder must have."""
    return OWNER_AND_GROUP if shared_with_group else OWNER_ONLY


def reach_problem(mode: int, shared_with_group: bool) -> Optional[str]:
    """Given the destination folder's mode and whether a snapshot_group is configured,
    return who else can enter it when that is more than allowed, else None."""
    others = mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IXOTH)
    group = mode & (stat.S_IWGRP if shared_with_group else (stat.S_IRGRP | stat.S_IWGRP | stat.S_IXGRP))
    if others:
        return "every account of this Pi can enter it"
    if group:
        return "its group can write there" if shared_with_group else "its group can enter it"
    return None


# ---------------------------------------------------------------- what `vhpi check` says


class Reach(Enum):
    """Who can reach the snapshots through the destination folder, as `vhpi check` judges it."""

    PRIVATE = "private"            # only its owner (and root)
    SHARED = "shared"              # also the configured snapshot_group, to read
    MISSING = "missing"            # no folder yet: the first run makes it private
    OTHERS = "others"              # every account (the "other" read or x bit)
    OTHER_GROUP = "other group"    # a group that is not the configured snapshot_group
    GROUP_WRITES = "group writes"  # the snapshot_group may also change the snapshots
    OPEN_BUT_EMPTY = "open but empty"  # others can enter, but nothing is backed up there yet

    @property
    def fails(self) -> bool:
        """True when `vhpi check` must FAIL on this."""
        return self in (Reach.OTHERS, Reach.OTHER_GROUP, Reach.GROUP_WRITES)


@dataclass(frozen=True)
class Owners:
    """The owner and group of a folder, as numbers and as names (the number when unnamed)."""

    uid: int
    gid: int
    user: str
    group: str


def _can_reach(mode: int, read: int, search: int) -> bool:
    return bool(mode & (read | search))


def reach_verdict(folder: str, mode: Optional[int], owners: Optional[Owners],
                  snapshot_group: Optional[str], snapshot_gid: Optional[int],
                  running_uid: int, holds_backups: bool = True) -> Tuple[Reach, str]:
    """Given the destination folder, its mode and owners (None when it does not exist),
    the configured snapshot_group (name and id; the id None when no such group), the uid
    vhpi runs as and whether the folder holds backups yet, return who can reach the
    snapshots and the words for `vhpi check`. A new, empty folder that vhpi can make
    private (the first run does) is OPEN_BUT_EMPTY, not a failure: a new user's first
    `vhpi check` after `mkdir` must not fail on what the first run fixes."""
    reach, words = _reach(folder, mode, owners, snapshot_group, snapshot_gid, running_uid)
    can_change = owners is not None and running_uid in (0, owners.uid)
    if reach.fails and not holds_backups and can_change:
        return Reach.OPEN_BUT_EMPTY, f"{words.split('; ')[0]}; nothing is backed up there yet, and the first run makes it private"
    return reach, words


def _reach(folder: str, mode: Optional[int], owners: Optional[Owners],
           snapshot_group: Optional[str], snapshot_gid: Optional[int],
           running_uid: int) -> Tuple[Reach, str]:
    group_named = snapshot_group is not None and snapshot_gid is not None
    wanted = f"{wanted_mode(group_named):04o}"
    if mode is None or owners is None:
        shared = f" with group {snapshot_group}" if group_named else ""
        return Reach.MISSING, (f"{folder} does not exist yet; the first run into it makes it "
                               f"{wanted}{shared}, for its owner only{' and the group to read' if shared else ''}")
    mode = stat.S_IMODE(mode)
    fix = _fix(folder, wanted, snapshot_group if group_named else None,
               None if running_uid in (0, owners.uid) else owners.user)
    text = f"{folder} is {mode:04o}"
    if _can_reach(mode, stat.S_IROTH, stat.S_IXOTH):
        return Reach.OTHERS, f"{text}: every account of this Pi can reach the snapshots; {fix}"
    group_reaches = _can_reach(mode, stat.S_IRGRP, stat.S_IXGRP)
    ours = group_named and owners.gid == snapshot_gid
    if group_reaches and not ours:
        return Reach.OTHER_GROUP, (f"{text}, group {owners.group}: every member of {owners.group} "
                                   f"can reach the snapshots; {fix}")
    if group_reaches and mode & stat.S_IWGRP:
        return Reach.GROUP_WRITES, (f"{text}: members of snapshot_group {owners.group} can change "
                                    f"and delete snapshots, not only read them; {fix}")
    if group_reaches:
        return Reach.SHARED, (f"{text}, group {owners.group}: only {_only(owners.user, owners.group)} "
                              f"can reach the snapshots (the group to read)")
    return Reach.PRIVATE, f"{text}: only {_only(owners.user, None)} can reach the snapshots"


def _fix(folder: str, wanted: str, group: Optional[str], other_owner: Optional[str]) -> str:
    """Given the folder, the mode it must get, the snapshot_group (or None) and its owner
    when that is not vhpi's user (who then cannot change it), return what makes it private:
    "a run makes it 0700, or now: chmod 700 F"."""
    if other_owner:
        # vhpi's user must own it: a chmod alone would lock vhpi out of a folder it only
        # writes through its group
        return (f"vhpi cannot change it (it belongs to {other_owner}); run: sudo chown "
                f"$(id -un){':' + group if group else ''} {folder} && sudo chmod {wanted[1:]} {folder}")
    now = f"chmod {wanted[1:]} {folder}"
    if group:
        now = f"chgrp {group} {folder} && {now}"
    return f"a run makes it {wanted}{f' with group {group}' if group else ''}, or now: {now}"


def _only(who: str, group: Optional[str]) -> str:
    """Return e.g. "alice (and root)", "root", "alice, root and the members of backup"."""
    if group:
        return f"{who}, root and the members of {group}" if who != "root" else f"root and the members of {group}"
    return "root" if who == "root" else f"{who} (and root)"


#: Mode bits that let other accounts read (group, other) or change (group, other) a file.
READ_BY_OTHERS = stat.S_IRGRP | stat.S_IROTH
WRITTEN_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


class ConfigExposure(Enum):
    """What other accounts can do with the config file, as `vhpi check` judges it."""

    FINE = "fine"
    SECRETS_READABLE = "secrets readable"  # a healthcheck URL or a hook others can read
    WRITABLE = "writable"                  # others can add a hook: commands run as vhpi's user

    @property
    def fails(self) -> bool:
        """True when `vhpi check` must FAIL on this."""
        return self is ConfigExposure.WRITABLE


def config_verdict(path: str, mode: int, group: str, secrets: Sequence[str]) -> Tuple[ConfigExposure, str]:
    """Given the config file, its mode and group name, and what secrets it holds (e.g.
    ["a healthcheck URL", "hooks"], empty for none), return what others can do with it and
    the words for `vhpi check` ('' when FINE)."""
    mode = stat.S_IMODE(mode)
    who = _readers(mode, group)
    if mode & WRITTEN_BY_OTHERS:
        writers = "every account of this Pi" if mode & stat.S_IWOTH else f"every member of group {group}"
        return ConfigExposure.WRITABLE, (f"{path} is {mode:04o}: {writers} can change it, and so "
                                         f"add a hook that vhpi runs as its own user; chmod 600 {path}")
    if secrets and mode & READ_BY_OTHERS:
        held, them = " and ".join(secrets), "them" if len(secrets) > 1 else "it"
        return ConfigExposure.SECRETS_READABLE, (f"{path} is {mode:04o} and holds {held}: {who} can "
                                                 f"read {them}; chmod 600 {path}")
    return ConfigExposure.FINE, ""


def _readers(mode: int, group: str) -> str:
    return "every account of this Pi" if mode & stat.S_IROTH else f"every member of group {group}"
