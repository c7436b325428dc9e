"""The backup disk fills up in a run that links moved files: while rsync checks the linked
names (the copy lists are written then) and after room was made (the copies of names with
new attributes are read from the backup disk then). The store of moved files and the work
files of the moves must never turn a full disk into anything worse: the job fails with
"disk is full" (or succeeds), no snapshot changes, and the next run finishes the backup."""

from __future__ import annotations

import os

import pytest

from tests.conftest import needs_root
from tests.fault.fault_helpers import (assert_history_kept, dest_on_tmpfs, fill_disk, free_disk,
                                       mounts, paused_vhpi, snapshot_record)
from tests.integration.helpers import debug_log, job_line, manifest, vhpi, write_config, write_files

pytestmark = needs_root("mounts a small tmpfs as the backup disk")
_ = mounts  # the fixture


#: The check pass starts (the moves are linked; the copy lists are written next); room was
#: made (the copy of the name with new attributes is read from the backup disk next).
EXPECTED = {"rsync-started:2": "moved files: not linked this time",
            "unlinked": "could not be copied from the backup disk"}


@pytest.mark.parametrize("point", list(EXPECTED))
def test_a_full_disk_in_a_run_that_links_moves(world, mounts, point, campaign):
    dest_on_tmpfs(world, mounts, size="8m", nr_inodes=2000)
    write_config(world, snapshots={"hourly": 3})
    write_files(world.source, {f"a/f{n}.bin": os.urandom(20000) for n in range(20)})
    vhpi(world, at="-2h", code=0)
    os.rename(world.source / "a", world.source / "b")
    os.chmod(world.source / "b/f0.bin", 0o600)  # one with new attributes: copied from the disk
    before = snapshot_record(world)
    with paused_vhpi(world, point) as run:
        fill_disk(world.dest, "both")
        code = run.resume()
    campaign.add("disk-full cases")

    line = job_line(world)
    assert code in (0, 1), (code, run.output())
    if code == 1:
        assert "disk is full" in line, line
    assert "Traceback" not in run.output() + world.info_log
    assert EXPECTED[point] in debug_log(world)
    assert_history_kept(world, before, may_drop=("hourly.2",), campaign=campaign)

    free_disk(world.dest)
    vhpi(world, at="+1h", code=0)
    assert "FAILED" not in job_line(world)
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert_history_kept(world, before, may_drop=("hourly.2",), campaign=campaign)
