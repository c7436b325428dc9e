"""Which folder holds a config's logs, lock and records (vhpi.decide.paths.state_folder),
and which folders' record of used destinations counts for it."""

import pytest

from vhpi.decide.paths import shared_state_folders, state_folder

HOME = "/home/pi"


def test_the_default_config_keeps_the_old_folder():
    assert state_folder(f"{HOME}/.very_hungry_pi/config.yaml", HOME) == f"{HOME}/.very_hungry_pi"


@pytest.mark.parametrize("config, prefix", [
    ("/etc/vhpi/laptop.yaml", "laptop-"),
    (f"{HOME}/.very_hungry_pi/other.yaml", "other-"),
    (f"{HOME}/.very_hungry_pi/sub/config.yaml", "config-"),
    ("/srv/we ird$name.yml", "we_ird_name-"),
])
def test_every_other_config_gets_a_folder_of_its_own(config, prefix):
    folder = state_folder(config, HOME)
    parent, _, name = folder.rpartition("/")
    assert parent == f"{HOME}/.very_hungry_pi/configs" and name.startswith(prefix), folder
    assert len(name) == len(prefix) + 8


def test_two_configs_of_the_same_name_do_not_share_a_folder():
    assert state_folder("/a/config.yaml", HOME) != state_folder("/b/config.yaml", HOME)
    assert state_folder("/a/config.yaml", HOME) == state_folder("/a/config.yaml", HOME)


@pytest.mark.parametrize("state, shared", [
    (f"{HOME}/.very_hungry_pi", [f"{HOME}/.very_hungry_pi"]),
    (f"{HOME}/.very_hungry_pi/configs/laptop-0a1b2c3d",
     [f"{HOME}/.very_hungry_pi/configs/laptop-0a1b2c3d", f"{HOME}/.very_hungry_pi"]),
    ("/var/lib/elsewhere/configs/x", ["/var/lib/elsewhere/configs/x"]),
])
def test_a_configs_folder_also_counts_the_shared_record(state, shared):
    assert shared_state_folders(state) == shared
