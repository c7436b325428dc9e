"""Which program a hook's command line starts with (vhpi.actions.check.first_word)."""

import pytest

from vhpi.actions.check import first_word


@pytest.mark.parametrize("command, program", [
    ("wakeonlan 00:11:22 && sleep 60", "wakeonlan"),
    ("LANG=C FOO=bar mount /mnt/x", "mount"),
    ("'/opt/my tools/notify' --now", "/opt/my tools/notify"),
    ("# only a comment", None),
    ("unbalanced 'quote", None),
    ("X=1", None),
    ("if true; then :; fi", "if"),
])
def test_first_word(command, program):
    assert first_word(command) == program
