"""rsync failing: a file the backup user cannot read (run as user nobody, which also proves
vhpi works without root), and a destination disk that fills up."""

import os
import subprocess

import pytest

from tests.integration.helpers import (NOBODY, assert_same_listing, debug_log, describe, job_line,
                                       listing, manifest, numbers, python_for_nobody, snapshot_dirs,
                                       vhpi, without_link_counts, work_leftovers, write_files)

AS_NOBODY = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")


def _chown_nobody(*paths):
    for path in paths:
        os.lchown(path, NOBODY, NOBODY)


def test_as_a_normal_user_an_unreadable_file_fails_the_job_without_rotating(nobody_world):
    world = nobody_world
    python, env = python_for_nobody()
    if python is None:
        pytest.skip("no python that user nobody can run with vhpi's dependencies")
    write_files(world.source, {"a.txt": "a", "dir/b.txt": "b"})
    _chown_nobody(world.source / "a.txt", world.source / "dir", world.source / "dir/b.txt")

    result = vhpi(world, prefix=AS_NOBODY, python=python, env=env, code=0)
    assert result.stdout == result.stderr == ""
    assert world.snapshots() == ["daily.0", "hourly.0"]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert os.stat(world.dest / "hourly.0" / "a.txt").st_uid == NOBODY
    debug = debug_log(world)
    assert "pythonping (raw ICMP socket) is not usable here" in debug, debug
    assert ("host check of 127.0.0.1 used a TCP probe" in debug
            or "host check of 127.0.0.1 used system ping command: answered" in debug), debug

    write_files(world.source, {"secret.txt": "root only", "a.txt": "a, changed"})
    os.chmod(world.source / "secret.txt", 0o000)  # owned by root, unreadable for nobody
    before = {"snapshots": snapshot_dirs(world),
              "hourly.0": listing(world.dest / "hourly.0"), "daily.0": listing(world.dest / "daily.0")}

    result = vhpi(world, at="+2h", prefix=AS_NOBODY, python=python, env=env, code=1)

    line = job_line(world)
    assert "FAILED" in line and "rsync failed with code 23" in line, describe(result, world)
    assert "nothing was rotated" in line
    # the failure names the file and the reason, and says where rsync's messages are
    assert "could not be copied: secret.txt (Permission denied)" in line, line
    assert "debug.log" in line, line
    assert "code 23" in result.stderr and "Traceback" not in result.stderr
    assert snapshot_dirs(world) == before["snapshots"]
    for name in ("hourly.0", "daily.0"):  # backup.latest let go of a.txt: only its link count moved
        assert_same_listing(without_link_counts(before[name]),
                            without_link_counts(listing(world.dest / name)))
    assert "secret.txt" in debug_log(world) and "Permission denied" in debug_log(world)

    os.unlink(world.source / "secret.txt")
    vhpi(world, at="+2h", prefix=AS_NOBODY, python=python, env=env, code=0)
    assert numbers(world, "hourly") == [0, 1]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)


def test_a_full_disk_fails_the_job_and_the_next_run_recovers(small_disk_world):
    world = small_disk_world
    write_files(world.source, {"small.txt": "small", "big.bin": os.urandom(3 << 20)})

    result = vhpi(world, code=1)  # the very first run: nothing may appear
    assert "disk is full" in job_line(world), job_line(world)
    assert "disk is full" in result.stderr and "Traceback" not in result.stderr + world.info_log
    assert world.snapshots() == [] and numbers(world, "hourly") == []

    (world.source / "big.bin").unlink()
    vhpi(world, code=0)
    assert world.snapshots() == ["daily.0", "hourly.0"]
    before = {"snapshots": snapshot_dirs(world),
              "hourly.0": listing(world.dest / "hourly.0"), "daily.0": listing(world.dest / "daily.0")}

    write_files(world.source, {"big-again.bin": os.urandom(3 << 20), "small.txt": "small, v2"})
    result = vhpi(world, at="+2h", code=1)
    assert "disk is full" in job_line(world) and "nothing was rotated" in job_line(world)
    assert "Traceback" not in result.stderr + world.info_log
    assert snapshot_dirs(world) == before["snapshots"]
    for name in ("hourly.0", "daily.0"):  # only link counts of files latest let go of may move
        assert_same_listing(without_link_counts(before[name]),
                            without_link_counts(listing(world.dest / name)))

    (world.source / "big-again.bin").unlink()
    vhpi(world, at="+2h", code=0)
    assert numbers(world, "hourly") == [0, 1]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert manifest(world.dest / "hourly.1") == manifest(world.dest / "daily.0")
    assert work_leftovers(world) == []


def _remount(world, options):
    subprocess.run(["mount", "-o", f"remount,{options}", str(world.dest)], check=True)


def test_running_out_of_inodes_while_linking_a_snapshot(small_disk_world):
    world = small_disk_world
    write_files(world.source, {f"folder{n:02}/file.txt": f"{n}" for n in range(40)})
    vhpi(world, code=0)
    before = {name: without_link_counts(listing(world.dest / name)) for name in world.snapshots()}
    used = os.statvfs(world.dest).f_files - os.statvfs(world.dest).f_ffree
    # room for the transfer (a new file, vhpi's lists, the content index's -wal and -shm
    # and the list of new files), not for 41 new folders of a snapshot
    _remount(world, f"nr_inodes={used + 15}")
    write_files(world.source, {"folder00/new.txt": "new"})

    result = vhpi(world, at="+2h", code=1)

    line = job_line(world)
    assert "disk is full" in line and "while linking the hourly snapshot" in line, line
    assert "Traceback" not in result.stderr + world.info_log
    assert work_leftovers(world) == [], "the partial building tree must be removed"
    # the partial tree cp left held links to these files: only link counts and ctimes moved
    assert {name: without_link_counts(listing(world.dest / name)) for name in world.snapshots()} == before

    _remount(world, "nr_inodes=10000")
    vhpi(world, at="+2h", code=0)
    assert numbers(world, "hourly") == [0, 1]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)


def test_a_read_only_destination_is_refused(small_disk_world):
    world = small_disk_world
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, code=0)
    before = listing(world.dest)
    _remount(world, "ro")
    try:
        result = vhpi(world, at="+2h", code=1)
    finally:
        _remount(world, "rw")
    assert "read-only" in job_line(world) and "read-only" in result.stderr
    assert "Traceback" not in result.stderr
    assert_same_listing(before, listing(world.dest))
