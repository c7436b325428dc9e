"""`vhpi verify --source` on a share that stops answering: the share is a FUSE file system
(tests/fault/fuse_share.py) whose lookups of one file never come back (the reading child
then waits in the kernel even after SIGKILL, as on a dead NFS hard mount), or whose daemon
is frozen before verify starts. verify must give up after the
job's source_timeout with a plain message, exit 1, write nothing, and print no traceback."""

from __future__ import annotations

import time

import pytest

from tests.fault.fuse_share import fuse_share  # noqa: F401  (a fixture)
from tests.integration.helpers import (listing, start_vhpi, vhpi, wait_or_kill_group,
                                       write_config, write_files)

TIMEOUT = 2
FILES = {"docs/a.txt": "a\n", "docs/b.txt": "b\n", "docs/slow.txt": "slow\n", "top.txt": "t\n"}


@pytest.fixture
def share_world(world, fuse_share):  # noqa: F811
    """A snapshot made from the backing folder directly, then the job's source switched to
    the FUSE mount of that folder, whose lookups of slow.txt hang."""
    backing = world.root / "share-backing"
    backing.mkdir()
    (backing / ".backup_valid").write_text("")
    write_files(backing, FILES, mtime=1_700_000_000)
    write_config(world, name="home", rsync_src=str(backing))
    vhpi(world, code=0)
    (world.source / ".backup_valid").unlink()
    share = fuse_share(backing, world.source, slow_names=["slow.txt"])
    write_config(world, name="home", source_timeout=TIMEOUT)
    return world, share


@pytest.mark.parametrize("where", ["while reading", "before verify"])
def test_a_share_that_stops_answering_is_reported_after_its_timeout(share_world, where, campaign):
    world, share = share_world
    if where == "before verify":
        share.freeze()
    before = listing(world.dest / "hourly.0")
    started = time.monotonic()

    out = world.root / "verify.out"   # a file, not a pipe: a reader the kernel will not let
    process = start_vhpi(world, "verify", "--source", "home", "--all", log_to=out)  # die keeps it
    code = wait_or_kill_group(process, 60)

    took = time.monotonic() - started
    campaign.add("hung-share cases")
    said = out.read_text()
    assert code == 1, said
    assert "Traceback" not in said
    assert "stopped answering" in said and str(world.source) in said, said
    if where == "while reading":
        assert said.startswith("job home: compared 0 of 5 files of hourly.0"), said
        assert "source_timeout is 2 s" in said
    assert took < 30, took
    assert listing(world.dest / "hourly.0") == before
