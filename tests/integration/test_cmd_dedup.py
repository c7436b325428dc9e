"""`vhpi dedup`: two jobs sharing a disk, real backups, real hard links (inodes checked); no
snapshot's names, content or metadata (folder mtimes included) change; files that differ in
any kept attribute stay apart; --dry-run changes nothing; the next backup run and the next
dedup find nothing to do."""

from __future__ import annotations

import json
import os
import sqlite3
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO as REPO_ROOT
from tests.integration.helpers import listing, manifest, second_job, vhpi, write_files, write_jobs

INTERVALS = {"hourly": 3600, "daily": 86400}
KEEP = {"hourly": 3, "daily": 2}
OLD = 1_700_000_000
#: dedup never starts a link batch around a full hour (a backup run may start then): run it
#: at a fixed time of day, ticking
AT = "2026-03-02 10:20:00"
BIG = os.urandom(200_000)


def snapshot_view(dest: Path) -> dict:
    """Every name below `dest` but vhpi's own folder, with what dedup must keep: kind, mode,
    owner, group, size, mtime (folders too) and content; not inode, link count or ctime."""
    found = {}
    content = manifest(dest)
    for relative, entry in listing(dest).items():
        if relative.split(b"/")[0] == b".vhpi":
            continue
        kind, _, mode, uid, gid, size, _, mtime, _ = entry
        found[relative] = (kind, mode, uid, gid, size, mtime, content[relative])
    return found


def assert_same_view(before: dict, after: dict) -> None:
    changed = {key: (before.get(key), after.get(key)) for key in set(before) | set(after)
               if before.get(key) != after.get(key)}
    assert not changed, list(changed.items())[:5]


@pytest.fixture
def two_jobs(world):
    """Two jobs whose destinations share the disk; the same video in both sources, and a
    second copy in another folder of the first; backed up once (hourly.0, daily.0)."""
    other_source, other_dest = second_job(world, {"b.txt": "b" * 5000})
    write_jobs(world, [("laptop", world.source, world.dest, KEEP),
                       ("desktop", other_source, other_dest, KEEP)], INTERVALS)
    write_files(world.source, {"video.mp4": BIG, "copy/video.mp4": BIG, "own.bin": os.urandom(9000),
                               "tiny.txt": "t"}, mtime=OLD)
    write_files(other_source, {"holiday.mp4": BIG, "tiny.txt": "t"}, mtime=OLD)
    vhpi(world, at=AT, code=0)
    world.other_source, world.other_dest = other_source, other_dest
    return world


def video_inodes(world) -> set:
    names = [world.dest / snap / "video.mp4" for snap in os.listdir(world.dest) if snap[0] != "."]
    names += [world.dest / snap / "copy/video.mp4" for snap in os.listdir(world.dest) if snap[0] != "."]
    names += [world.other_dest / snap / "holiday.mp4" for snap in os.listdir(world.other_dest)
              if snap[0] != "."]
    return {os.lstat(name).st_ino for name in names}


def test_dedup_on_two_jobs_sharing_a_disk_links_them_and_changes_no_snapshot(two_jobs):
    world = two_jobs
    assert len(video_inodes(world)) == 3
    before = [snapshot_view(world.dest), snapshot_view(world.other_dest)]
    result = vhpi(world, "dedup", "--json", at="2026-03-02 11:30:00", code=0)
    group, = json.loads(result.stdout)["groups"]
    assert group["jobs"] == ["laptop", "desktop"]
    # 3 inodes of the video, 3 names each (backup.latest, hourly.0, daily.0): the names of
    # 2 of them are re-pointed to the third
    assert (group["files_linked"], group["inodes_freed"]) == (6, 2)
    assert group["bytes_freed"] >= 2 * len(BIG)
    assert len(video_inodes(world)) == 1
    assert_same_view(before[0], snapshot_view(world.dest))
    assert_same_view(before[1], snapshot_view(world.other_dest))
    assert "dedup: jobs laptop, desktop: 6 files linked, 2 inodes" in world.info_log
    for dest in (world.dest, world.other_dest):
        leftovers = [n for n in os.listdir(dest / ".vhpi") if n.startswith("dedup")]
        assert leftovers == []
        assert (dest / ".vhpi" / "content.sqlite3").exists()


def test_a_second_dedup_and_the_next_backup_run_find_nothing_to_do(two_jobs):
    world = two_jobs
    vhpi(world, "dedup", at="2026-03-02 11:30:00", code=0)
    again = json.loads(vhpi(world, "dedup", "--json", at="2026-03-02 11:31:00", code=0).stdout)
    assert again["groups"][0]["files_linked"] == 0
    latest = snapshot_view(world.dest / "backup.latest")
    vhpi(world, at="2026-03-02 12:20:00", code=0)
    assert "0 files (0 B) copied" in world.info_log.splitlines()[-2] + world.info_log.splitlines()[-1]
    assert_same_view(latest, snapshot_view(world.dest / "backup.latest"))
    assert len(video_inodes(world)) == 1  # the new hourly.0 links the kept inode too


def test_the_content_index_is_reused_by_the_next_dedup(world):
    other_source, other_dest = second_job(world)
    write_jobs(world, [("laptop", world.source, world.dest, KEEP),
                       ("desktop", other_source, other_dest, KEEP)], INTERVALS)
    # same size, mode and mtime, different bytes: hashed, never linked
    write_files(world.source, {"a.bin": b"a" * 8192}, mtime=OLD)
    write_files(other_source, {"b.bin": b"b" * 8192}, mtime=OLD)
    vhpi(world, at=AT, code=0)
    from_backup = json.loads(vhpi(world, "dedup", "--json", at=AT, code=0).stdout)["groups"][0]
    assert (from_backup["hashed"], from_backup["from_index"]) == (0, 2)  # the runs hashed them
    for dest in (world.dest, other_dest):  # a disk from before backup runs kept checksums
        for suffix in ("", "-wal", "-shm"):
            Path(f"{dest}/.vhpi/content.sqlite3{suffix}").unlink(missing_ok=True)
    first = json.loads(vhpi(world, "dedup", "--json", at=AT, code=0).stdout)["groups"][0]
    second = json.loads(vhpi(world, "dedup", "--json", at=AT, code=0).stdout)["groups"][0]
    assert (first["hashed"], first["from_index"], first["files_linked"]) == (2, 0, 0)
    assert (second["hashed"], second["from_index"], second["files_linked"]) == (0, 2, 0)


def _setfattr(path: Path, name: str, value: str) -> None:
    try:
        subprocess.run(["setfattr", "-n", name, "-v", value, str(path)], check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"cannot set an xattr here: {error}")


def test_files_that_differ_in_any_kept_attribute_stay_apart(world):
    data = os.urandom(10_000)
    names = ["same1", "same2", "mtime", "mode", "xattr", "owner"]
    write_files(world.source, {name: data for name in names}, mtime=OLD)
    os.utime(world.source / "mtime", ns=(OLD * 10**9, OLD * 10**9 + 1))
    os.chmod(world.source / "mode", 0o600)
    _setfattr(world.source / "xattr", "user.tag", "x")
    if os.geteuid() == 0:
        os.chown(world.source / "owner", 12345, 12345)
    vhpi(world, at=AT, code=0)
    before = snapshot_view(world.dest)
    vhpi(world, "dedup", at=AT, code=0)
    latest = world.dest / "backup.latest"
    inodes = {name: os.lstat(latest / name).st_ino for name in names}
    assert inodes["same1"] == inodes["same2"]
    others = [inodes[name] for name in names[2:]] + [inodes["same1"]]
    assert len(set(others)) == len(others) - (0 if os.geteuid() == 0 else 1)
    assert_same_view(before, snapshot_view(world.dest))


def _records(dest: Path) -> list:
    with sqlite3.connect(dest / ".vhpi" / "content.sqlite3") as index:
        return sorted(index.execute("SELECT * FROM inodes"))


def test_dry_run_changes_nothing(two_jobs):
    world = two_jobs
    before = [listing(world.dest), listing(world.other_dest)]
    records = [_records(world.dest), _records(world.other_dest)]
    result = vhpi(world, "dedup", "--dry-run", at="2026-03-02 11:30:00", code=0)
    assert "6 files would be linked, 2 inodes" in result.stdout
    after = [listing(world.dest), listing(world.other_dest)]
    for one, other in zip(before, after):
        one = {k: v for k, v in one.items() if not k.startswith(b".vhpi")}
        other = {k: v for k, v in other.items() if not k.startswith(b".vhpi")}
        assert one == other  # inodes, link counts and ctimes included
    assert records == [_records(world.dest), _records(world.other_dest)]
    for dest in (world.dest, world.other_dest):  # a disk without checksums: hashed, not recorded
        for suffix in ("", "-wal", "-shm"):
            Path(f"{dest}/.vhpi/content.sqlite3{suffix}").unlink(missing_ok=True)
    result = vhpi(world, "dedup", "--dry-run", at="2026-03-02 11:30:00", code=0)
    assert "6 files would be linked, 2 inodes" in result.stdout and " 0 hashed" not in result.stdout
    assert not (world.dest / ".vhpi" / "content.sqlite3").exists()


def test_dedup_of_one_job_takes_only_the_jobs_on_its_disk(two_jobs):
    world = two_jobs
    result = vhpi(world, "dedup", "desktop", "--json", at="2026-03-02 11:30:00", code=0)
    assert json.loads(result.stdout)["groups"][0]["jobs"] == ["laptop", "desktop"]
    bad = vhpi(world, "dedup", "nosuchjob", at="2026-03-02 11:30:00", code=2)
    assert "no job 'nosuchjob'" in bad.stderr and "Traceback" not in bad.stderr


def test_dedup_runs_at_idle_priority(two_jobs):
    world = two_jobs
    script = ("import os, sys, vhpi.act.idle_priority as p; done = p.go_idle(); "
              "print(os.nice(0), open('/proc/self/stat').read().split()[18]); "
              "import subprocess; print(subprocess.run(['ionice', '-p', str(os.getpid())], "
              "capture_output=True, text=True).stdout.strip())")
    result = subprocess.run([os.sys.executable, "-c", script], capture_output=True, text=True,
                            env=world.env(), check=True)
    nice, ionice = result.stdout.splitlines()
    assert nice.split()[0] == "19"
    assert ionice == "idle" or not ionice  # no ionice program: nothing to show


def test_dedup_waits_while_a_backup_run_holds_a_destination(two_jobs):
    """A destination locked (as a backup run locks it) gets no link until it is free."""
    from tests.integration.helpers import start_vhpi, wait_or_kill_group
    from vhpi.act.lock import try_lock_folder
    world = two_jobs
    fd = try_lock_folder(str(world.other_dest))
    try:
        process = start_vhpi(world, "dedup", at="2026-03-02 11:30:00")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (world.dest / ".vhpi" / "content.sqlite3").exists():
            time.sleep(0.05)
        time.sleep(1.0)  # listed and hashed by now; waiting for the lock
        assert process.poll() is None
        assert len(video_inodes(world)) == 3
    finally:
        os.close(fd)
    assert wait_or_kill_group(process) == 0
    assert len(video_inodes(world)) == 1


def test_a_backup_run_can_wait_for_a_dedup_batch_to_end(two_jobs):
    """wait_while_dedup_holds (for the backup run): a destination held by a dedup batch (here
    stopped in the middle of it) is waited for, and taken once the batch ends."""
    from tests.integration.helpers import start_vhpi, wait_or_kill_group
    from tests.procs import process_state
    from vhpi.act.dedup_lock import wait_while_dedup_holds
    world = two_jobs
    process = start_vhpi(world, "dedup", at="2026-03-02 11:30:00",
                         env={"VHPI_PAUSE_AT": "dedup-renamed:1"})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process_state(process.pid) != "T":
        time.sleep(0.05)
    assert process_state(process.pid) == "T"
    assert wait_while_dedup_holds(str(world.vhpi_home), str(world.dest), timeout=0.3) is None
    os.kill(process.pid, signal.SIGCONT)
    fd = wait_while_dedup_holds(str(world.vhpi_home), str(world.dest), timeout=20)
    assert fd is not None
    os.close(fd)
    assert wait_or_kill_group(process) == 0


def test_dedup_works_below_folders_deeper_than_path_max(world):
    """A duplicate 400 folders down in a snapshot (a path of about 5,200 bytes, past
    PATH_MAX; made by hand, as rsync stops at 4,096) is found, linked, and its folders keep
    their times."""
    data = os.urandom(6000)
    write_files(world.source, {"top.bin": data}, mtime=OLD)
    vhpi(world, at=AT, code=0)
    fd = os.open(world.dest / "hourly.0", os.O_RDONLY)
    try:
        for _ in range(400):
            os.mkdir("d" * 12, dir_fd=fd)
            inner = os.open("d" * 12, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open("deep.bin", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as handle:
            handle.write(data)
        os.utime("deep.bin", (OLD, OLD), dir_fd=fd)
    finally:
        os.close(fd)
    before = snapshot_view(world.dest)
    group = json.loads(vhpi(world, "dedup", "--json", at=AT, code=0).stdout)["groups"][0]
    assert (group["files_linked"], group["inodes_freed"]) == (1, 1)
    assert_same_view(before, snapshot_view(world.dest))
    assert os.lstat(world.dest / "hourly.0" / "top.bin").st_nlink == 4


#: The two calls the backup run makes for dedup (vhpi.actions.backup): wait for a dedup
#: batch instead of skipping the job, and repair what a killed dedup left first.
WIRED = all(name in (REPO_ROOT / "vhpi" / "actions" / "backup.py").read_text()
            for name in ("wait_while_dedup_holds", "repair_after_dedup"))
needs_wiring = pytest.mark.skipif(not WIRED, reason="the backup run does not call dedup's "
                                  "wait_while_dedup_holds and repair_after_dedup yet")


@needs_wiring
def test_a_backup_run_waits_for_a_dedup_batch_instead_of_skipping(two_jobs):
    from tests.integration.helpers import start_vhpi, wait_or_kill_group
    from tests.procs import process_state
    world = two_jobs
    dedup = start_vhpi(world, "dedup", at="2026-03-02 11:30:00",
                       env={"VHPI_PAUSE_AT": "dedup-renamed:1"})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process_state(dedup.pid) != "T":
        time.sleep(0.05)
    backup = start_vhpi(world, at="2026-03-02 12:20:00")
    time.sleep(1.0)
    assert backup.poll() is None  # waiting for the batch
    os.kill(dedup.pid, signal.SIGCONT)
    assert wait_or_kill_group(backup) == 0
    assert wait_or_kill_group(dedup) == 0
    assert "skipped" not in world.info_log
    assert sorted(os.listdir(world.dest)) == [".backup_destination", ".vhpi", "backup.latest",
                                             "daily.0", "hourly.0", "hourly.1"]


@needs_wiring
def test_a_backup_run_after_a_killed_dedup_puts_the_folder_times_back_first(two_jobs):
    from tests.integration.helpers import start_vhpi, wait_or_kill_group
    world = two_jobs
    before = snapshot_view(world.dest)
    dedup = start_vhpi(world, "dedup", at="2026-03-02 11:30:00",
                       env={"VHPI_CRASH_AT": "dedup-renamed:2"})
    assert wait_or_kill_group(dedup) == -signal.SIGKILL
    vhpi(world, at="2026-03-02 12:20:00", code=0)
    after = snapshot_view(world.dest)
    for name in ("hourly.0", "daily.0"):  # hourly.0 is hourly.1 now
        old = {k: v for k, v in before.items() if k.split(b"/")[0] == name.encode()}
        new_name = b"hourly.1" if name == "hourly.0" else name.encode()
        new = {name.encode() + k[len(new_name):]: v for k, v in after.items()
               if k.split(b"/")[0] == new_name}
        assert_same_view(old, new)
    assert not (world.dest / ".vhpi" / "dedup-journal.json").exists()
