"""The advice for a destination whose records are lost never starts records on a folder
that is probably not the backup disk (vhpi.decide.destination_hints)."""

import pytest

from vhpi.decide.destination_hints import lost_records_message


@pytest.mark.parametrize("has_snapshots, on_root_fs, trust_clock, mount", [
    (True, True, True, False),     # snapshots there: it is the disk, only the records are lost
    (True, False, True, False),
    (False, True, False, True),    # an empty marked folder on the SD card: mount the disk
    (False, False, True, True),    # empty, on a disk of its own: maybe a new disk on purpose
])
def test_trust_clock_only_where_the_folder_is_a_backup_disk(has_snapshots, on_root_fs, trust_clock, mount):
    message = lost_records_message("/media/backup/pi", "/media/backup/pi/.vhpi/state.json",
                                   has_snapshots, on_root_fs)
    assert ("--trust-clock" in message) is trust_clock, message
    assert ("ount the backup disk" in message) is mount, message
    assert "Nothing was written" in message
