"""Trouble in one job stays in that job: an unexpected error (a bug, a file system that
misbehaves) is the job's FAILED line with its reason (the traceback goes to debug.log, never
to the user), `vhpi status` shows it, and the next job runs; a leftover that cannot be
deleted is set aside with a warning instead of failing every later run; a folder nested
1,000 deep (a 2,000-byte path, past Python's recursion limit; rsync 3.5.0 itself gives up
at 1,024 levels, 3.2.7 goes on) is backed up run after run; and a
`.backup_valid` that is not a regular file (a FIFO would make every run wait for ever) is
refused at once."""

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import needs_root
from tests.integration.helpers import (debug_log, manifest, second_job, vhpi, walk, work_leftovers,
                                       write_files, write_jobs)

HOUR = 3600


def _two_jobs(world) -> Path:
    other_source, other_dest = second_job(world)
    write_files(world.source, {"a.txt": "a", "sub/c.txt": "c"})
    write_jobs(world, [("laptop", world.source, world.dest, {"hourly": 3}),
                       ("photos", other_source, other_dest, {"hourly": 3})], {"hourly": HOUR})
    return other_dest


def _lines(world, job: str) -> list:
    return [line for line in world.info_log.splitlines() if f"job {job}:" in line]


@pytest.mark.parametrize("point", ["recovered", "unlinked", "copied", "ready", "state-written"])
def test_an_unexpected_error_fails_its_job_only(world, point, campaign):
    other_dest = _two_jobs(world)
    vhpi(world, at="-2h", code=0)
    write_files(world.source, {"a.txt": "changed"}, mtime=1_800_000_000)

    result = vhpi(world, env={"VHPI_FAIL_AT": f"{point}:1"}, code=1)
    campaign.add("hostile inputs")

    line = _lines(world, "laptop")[-1]
    assert " ERROR " in line and "FAILED: unexpected error (InjectedFault: injected at " \
        f"{point} (VHPI_FAIL_AT)); nothing more was rotated. The details are in debug.log" in line, line
    assert "Traceback" not in result.stderr + result.stdout + world.info_log
    assert "Traceback (most recent call last)" in debug_log(world)
    assert "unexpected error (InjectedFault" in result.stderr, "cron mails it"
    assert _lines(world, "photos")[-1].endswith("due hourly; done: 0 files (0 B) copied, 0 B "
                                               "sent, 0 deleted, rsync 0.0 s") or \
        "done:" in _lines(world, "photos")[-1]
    assert sorted(p.name for p in other_dest.iterdir() if p.name.startswith("hourly.")) == [
        "hourly.0", "hourly.1"], "the next job still ran"
    status = json.loads(vhpi(world, "status", "--json", code=1).stdout)
    laptop = next(job for job in status["jobs"] if job["job"] == "laptop")
    assert laptop["last_run"]["outcome"] == "failed"
    # without the fault the next run finishes the job
    vhpi(world, at="+2h", code=0)
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert work_leftovers(world) == []


@needs_root("chattr +i makes a leftover folder that even root cannot delete")
def test_a_leftover_that_cannot_be_deleted_is_set_aside_not_failing_every_run(world, campaign):
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, at="-2h", code=0)
    stuck = world.dest / ".vhpi" / "work" / "building.hourly" / "deep"
    write_files(stuck, {"immutable.txt": "cannot be deleted"})
    if subprocess.run(["chattr", "+i", str(stuck / "immutable.txt")]).returncode != 0:
        pytest.skip("this file system has no immutable flag")
    try:
        for offset in ("+0", "+2h"):
            result = vhpi(world, at=offset, code=0)
            assert "Traceback" not in result.stderr
        campaign.add("hostile inputs")
        warnings = [line for line in world.info_log.splitlines() if "cannot delete" in line]
        assert len(warnings) == 2, world.info_log
        assert "Operation not permitted" in warnings[0] and "Delete it by hand: rm -rf " in warnings[0]
        assert "set-aside.building.hourly@" in warnings[0]
        assert sorted(os.listdir(world.dest / ".vhpi" / "work"))[-1].startswith("set-aside.")
        assert manifest(world.dest / "hourly.0") == manifest(world.source)
    finally:
        for folder, _, names in walk(world.dest / ".vhpi"):
            for name in names:
                subprocess.run(["chattr", "-i", os.path.join(folder, name)], capture_output=True)
    vhpi(world, at="+4h", code=0)  # deletable again: the set-aside tree goes
    assert not [name for name in os.listdir(world.dest / ".vhpi" / "work") if name.startswith("set-aside.")]


def _nest(root, depth: int, name: bytes = b"d") -> bytes:
    """Make `depth` nested folders below `root` (with folder fds: the path is long);
    return the relative path of the deepest."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open(b"bottom.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as out:
            out.write(b"at the bottom")
    finally:
        os.close(fd)
    return b"/".join([name] * depth)


@pytest.fixture
def removed_after(world):
    """Delete the world with `rm -rf` afterwards: pytest's own clean-up of old test folders
    (shutil.rmtree) would die of the deep tree in a later session."""
    yield world
    subprocess.run(["rm", "-rf", "--", str(world.source), str(world.dest)])


def test_a_folder_nested_1000_deep_is_backed_up_run_after_run(removed_after, campaign):
    world = removed_after
    write_files(world.source, {"a.txt": "a"})
    deep = _nest(world.source, 1000)
    assert len(deep) == 1999
    vhpi(world, at="-4h", code=0)
    for offset in ("-2h", "+0"):  # the second run recycles, the third links anew
        write_files(world.source, {"a.txt": f"state at {offset}"}, mtime=time.time())
        result = vhpi(world, at=offset, code=0)
        assert "Traceback" not in result.stderr
    campaign.add("deep-tree cases")
    for snapshot in ("hourly.0", "hourly.1", "hourly.2"):
        with open(os.path.join(os.fsencode(world.dest / snapshot), deep, b"bottom.txt"), "rb") as handle:
            assert handle.read() == b"at the bottom"
    subprocess.run(["rm", "-rf", "--", str(world.source / "d")], check=True)
    vhpi(world, at="+2h", code=0)
    vhpi(world, at="+4h", code=0)  # the oldest deep snapshot is recycled and relinked away
    assert not (world.dest / "hourly.0" / "d").exists()
    assert work_leftovers(world) == []


SENTINELS = {
    "fifo": lambda path: os.mkfifo(path),
    "folder": lambda path: os.mkdir(path),
    "symlink": lambda path: os.symlink("/etc/hostname", path),
    "device": lambda path: os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3)),
}


@pytest.mark.parametrize("kind", list(SENTINELS))
def test_a_sentinel_that_is_not_a_regular_file_is_refused_at_once(world, kind, campaign):
    if kind == "device" and os.geteuid() != 0:
        pytest.skip("needs root: mknod")
    write_files(world.source, {"a.txt": "a"})
    (world.source / ".backup_valid").unlink()
    SENTINELS[kind](world.source / ".backup_valid")
    started = time.monotonic()
    vhpi(world, timeout=30, code=1)
    took = time.monotonic() - started
    campaign.add("hostile inputs")
    assert took < 10, took
    line = _lines(world, "dest")[-1]
    assert "FAILED" in line and ".backup_valid is " in line and "not a regular file" in line, line
    assert world.snapshots() == []
    check = vhpi(world, "check", timeout=30, code=1)
    assert "not a regular file" in check.stdout
