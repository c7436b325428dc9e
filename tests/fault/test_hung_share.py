"""A share that stops answering: the source of the first job is a small FUSE file system
(tests/fault/fuse_share.py) whose daemon the test SIGSTOPs, a faithful stand-in for a dead
NFS server on a hard mount or a frozen sshfs: every process that touches it waits in the
kernel. The second job backs up a healthy local folder.

What must hold, wherever the share stops (before the run, in the dry run, while a copy
pass waits to start, between the passes): the first job gives up after its source_timeout
with a plain message naming the source, nothing is rotated, the second job gets its
snapshot, the run exits 1 (cron mails), no process vhpi started is left holding a lock, a
later run (with the share still hung) behaves the same instead of finding a stuck lock,
`vhpi status` and `vhpi check` answer within seconds, and once the share answers again
the next run catches up."""

import json
import time

import pytest

from tests.fault.fault_helpers import RsyncGate, paused_vhpi
from tests.fault.fuse_share import fuse_share  # noqa: F401  (a fixture)
from tests.integration.helpers import (lock_free, manifest, second_job, start_vhpi, vhpi,
                                       wait_or_kill_group, write_files, write_jobs)

TIMEOUT = 2
HOUR = 3600


@pytest.fixture
def two_jobs(world, fuse_share):  # noqa: F811
    """The world's source served through a FUSE share (its backing folder holds the
    files), plus a healthy second job; each has two snapshots already."""
    backing = world.root / "share-backing"
    backing.mkdir()
    (backing / ".backup_valid").write_text("")
    write_files(backing, {"docs/a.txt": "a", "docs/b.txt": "b", "top.txt": "t"}, mtime=1_700_000_000)
    (world.source / ".backup_valid").unlink()
    share = fuse_share(backing, world.source)
    other_source, other_dest = second_job(world)
    write_jobs(world, [("laptop", world.source, world.dest, {"hourly": 4}),
                       ("photos", other_source, other_dest, {"hourly": 4})],
               {"hourly": HOUR}, source_timeout=TIMEOUT)
    vhpi(world, at="-3h", code=0)
    vhpi(world, at="-2h", code=0)
    write_files(backing, {"docs/a.txt": "changed while the share was fine", "docs/new.txt": "n"},
                mtime=1_700_003_600)
    return world, share, backing, other_dest


def _hourly(dest) -> list:
    return sorted(p.name for p in dest.iterdir() if p.name.startswith("hourly."))


def _laptop_line(world) -> str:
    return [line for line in world.info_log.splitlines() if "job laptop:" in line][-1]


def _hung_run(world, share, where: str):
    """Run vhpi, the share stopping at `where`; return (exit code, seconds it took)."""
    started = time.monotonic()
    if where == "before the run":
        share.freeze()
        return vhpi(world, timeout=120).returncode, time.monotonic() - started
    if where == "a copy pass waiting":
        gate = RsyncGate(world, "--files-from")
        process = start_vhpi(world, env=gate.env)
        try:
            gate.wait_until_held()
            share.freeze()
            gate.open()
            return wait_or_kill_group(process, 120), time.monotonic() - started
        finally:
            gate.open()
    with paused_vhpi(world, where) as run:
        share.freeze()
        return run.resume(120), time.monotonic() - started


WHERE = ("before the run", "rsync-started:1", "a copy pass waiting", "unlinked")


@pytest.mark.parametrize("where", WHERE)
def test_a_share_that_stops_answering_fails_its_job_only(two_jobs, where, campaign):
    world, share, backing, other_dest = two_jobs
    laptop_before, photos_before = _hourly(world.dest), _hourly(other_dest)
    latest_before = manifest(world.dest / "hourly.0")

    code, took = _hung_run(world, share, where)
    campaign.add("hung-share cases")

    assert code == 1, world.info_log[-2000:]
    line = _laptop_line(world)
    assert f"source {world.source} stopped answering" in line and "source_timeout" in line, line
    assert "nothing was rotated" in line or "nothing was copied" in line or \
        line.count("FAILED") == 1, line
    assert took < 60, took
    assert _hourly(world.dest) == laptop_before
    assert manifest(world.dest / "hourly.0") == latest_before
    assert _hourly(other_dest) == [*photos_before, f"hourly.{len(photos_before)}"], \
        "the healthy job still got its snapshot"
    assert lock_free(world, world.dest, other_dest), "something of the run still holds a lock"

    # the next hour, the share still hung: the same again, no stuck lock in the way
    code = vhpi(world, at="+1h", timeout=120).returncode
    assert code == 1 and "stopped answering" in _laptop_line(world)
    assert len(_hourly(other_dest)) == len(photos_before) + 2

    share.thaw()
    vhpi(world, at="+2h", code=0)
    assert manifest(world.dest / "hourly.0") == manifest(backing)


def test_status_and_check_answer_at_once_on_a_hung_share(two_jobs, campaign):
    world, share, _, _ = two_jobs
    share.freeze()
    for command in ("status", "check"):
        started = time.monotonic()
        result = vhpi(world, command, timeout=60)
        took = time.monotonic() - started
        campaign.add("hung-share cases")
        assert took < 10, (command, took)
        assert f"source {world.source} stopped answering" in result.stdout, result.stdout
    data = json.loads(vhpi(world, "status", "--json", timeout=60).stdout)
    assert "stopped answering" in data["jobs"][0]["source_problem"]
    assert data["jobs"][1]["source_problem"] is None
