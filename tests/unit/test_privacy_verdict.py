"""The pure verdicts of `vhpi check` on who can reach the snapshots (the destination
folder's mode, owner and group) and on a config file others can read or change."""

import stat

import pytest

from vhpi.decide.privacy import ConfigExposure, Owners, Reach, config_verdict, reach_verdict

ALICE = Owners(uid=1000, gid=1000, user="alice", group="alice")
BACKUP_GID = 990
SHARED = Owners(uid=1000, gid=BACKUP_GID, user="alice", group="backup")
DIR = stat.S_IFDIR


@pytest.mark.parametrize("mode, owners, group, gid, uid, reach", [
    (0o700, ALICE, None, None, 1000, Reach.PRIVATE),
    (0o700, ALICE, None, None, 0, Reach.PRIVATE),
    (0o2700, ALICE, None, None, 1000, Reach.PRIVATE),       # setgid alone opens nothing
    (0o720, ALICE, None, None, 1000, Reach.PRIVATE),        # group w without x enters nothing
    (0o755, ALICE, None, None, 1000, Reach.OTHERS),
    (0o701, ALICE, None, None, 1000, Reach.OTHERS),         # x alone: known paths can be opened
    (0o704, ALICE, None, None, 1000, Reach.OTHERS),         # r alone: the names can be read
    (0o775, SHARED, "backup", BACKUP_GID, 1000, Reach.OTHERS),
    (0o750, ALICE, None, None, 1000, Reach.OTHER_GROUP),
    (0o710, ALICE, None, None, 1000, Reach.OTHER_GROUP),
    (0o750, ALICE, "backup", BACKUP_GID, 1000, Reach.OTHER_GROUP),  # not chgrp'd yet
    (0o750, SHARED, "backup", None, 1000, Reach.OTHER_GROUP),       # no such group any more
    (0o750, SHARED, "backup", BACKUP_GID, 1000, Reach.SHARED),
    (0o770, SHARED, "backup", BACKUP_GID, 1000, Reach.GROUP_WRITES),
    (0o700, SHARED, "backup", BACKUP_GID, 1000, Reach.PRIVATE),     # a run opens it to the group
    (None, None, None, None, 1000, Reach.MISSING),
])
def test_reach(mode, owners, group, gid, uid, reach):
    found, words = reach_verdict("/d", None if mode is None else DIR | mode, owners, group, gid, uid)
    assert found is reach, words
    assert found.fails == (reach in (Reach.OTHERS, Reach.OTHER_GROUP, Reach.GROUP_WRITES))


def test_private_says_the_mode_and_who():
    assert reach_verdict("/d", DIR | 0o700, ALICE, None, None, 1000) == (
        Reach.PRIVATE, "/d is 0700: only alice (and root) can reach the snapshots")
    root = Owners(0, 0, "root", "root")
    assert reach_verdict("/d", DIR | 0o700, root, None, None, 0)[1] == "/d is 0700: only root can reach the snapshots"


def test_others_names_the_mode_and_the_fix():
    assert reach_verdict("/d", DIR | 0o755, ALICE, None, None, 1000) == (
        Reach.OTHERS, "/d is 0755: every account of this Pi can reach the snapshots; a run makes it "
                      "0700, or now: chmod 700 /d")


def test_a_folder_of_another_user_needs_sudo():
    words = reach_verdict("/d", DIR | 0o755, ALICE, None, None, 1001)[1]
    # vhpi's user must own it: a chmod alone would lock vhpi out of a folder it writes
    # through its group
    assert words.endswith("vhpi cannot change it (it belongs to alice); run: "
                          "sudo chown $(id -un) /d && sudo chmod 700 /d")
    # a new, empty folder of another user stays a failure: the first run cannot fix it
    assert reach_verdict("/d", DIR | 0o755, ALICE, None, None, 1001, holds_backups=False)[0] is Reach.OTHERS
    assert reach_verdict("/d", DIR | 0o755, ALICE, None, None, 1000, holds_backups=False)[0] is Reach.OPEN_BUT_EMPTY


def test_another_group_is_named():
    words = reach_verdict("/d", DIR | 0o750, Owners(1000, 100, "alice", "users"), None, None, 1000)[1]
    assert words == ("/d is 0750, group users: every member of users can reach the snapshots; "
                     "a run makes it 0700, or now: chmod 700 /d")


def test_the_snapshot_group_is_fine_and_its_fix_has_chgrp():
    assert reach_verdict("/d", DIR | 0o750, SHARED, "backup", BACKUP_GID, 1000) == (
        Reach.SHARED, "/d is 0750, group backup: only alice, root and the members of backup can "
                      "reach the snapshots (the group to read)")
    words = reach_verdict("/d", DIR | 0o750, ALICE, "backup", BACKUP_GID, 1000)[1]
    assert words.endswith("a run makes it 0750 with group backup, or now: chgrp backup /d && chmod 750 /d")


def test_a_missing_folder_is_made_private_by_the_first_run():
    assert reach_verdict("/d", None, None, None, None, 0) == (
        Reach.MISSING, "/d does not exist yet; the first run into it makes it 0700, for its owner only")


@pytest.mark.parametrize("mode, secrets, exposure", [
    (0o600, ["a healthcheck URL"], ConfigExposure.FINE),
    (0o400, ["hooks"], ConfigExposure.FINE),
    (0o644, [], ConfigExposure.FINE),
    (0o640, [], ConfigExposure.FINE),
    (0o644, ["a healthcheck URL"], ConfigExposure.SECRETS_READABLE),
    (0o640, ["hooks"], ConfigExposure.SECRETS_READABLE),
    (0o604, ["a healthcheck URL", "hooks"], ConfigExposure.SECRETS_READABLE),
    (0o664, [], ConfigExposure.WRITABLE),
    (0o602, ["hooks"], ConfigExposure.WRITABLE),
])
def test_config(mode, secrets, exposure):
    found, words = config_verdict("/c.yaml", stat.S_IFREG | mode, "staff", secrets)
    assert found is exposure
    assert (words == "") == (exposure is ConfigExposure.FINE)
    assert found.fails == (exposure is ConfigExposure.WRITABLE)


def test_config_words():
    assert config_verdict("/c.yaml", 0o644, "staff", ["a healthcheck URL"])[1] == (
        "/c.yaml is 0644 and holds a healthcheck URL: every account of this Pi can read it; chmod 600 /c.yaml")
    assert config_verdict("/c.yaml", 0o640, "staff", ["a healthcheck URL", "hooks"])[1] == (
        "/c.yaml is 0640 and holds a healthcheck URL and hooks: every member of group staff can "
        "read them; chmod 600 /c.yaml")
    assert config_verdict("/c.yaml", 0o666, "staff", [])[1] == (
        "/c.yaml is 0666: every account of this Pi can change it, and so add a hook that vhpi runs "
        "as its own user; chmod 600 /c.yaml")
