"""Checksums at backup time and `vhpi verify [JOB] [SNAPSHOT] [--json]`, run for real:
snapshots made by real vhpi runs at faked times (real rsync, real hard links), the content
index read back with sqlite3, bitrot made by flipping a byte of a snapshot's file and
putting its modification time back."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import World
from tests.integration.helpers import (assert_same_listing, ino, listing, vhpi, write_config,
                                       write_files)
from tests.integration.hook_helpers import recorder
from tests.integration.hook_helpers import write_config as write_hooked_config
from tests.integration.test_healthcheck import NO_PROXY, calls, server  # noqa: F401  (fixture)

OLD = 1_600_000_000
FILES = {"docs/a.txt": "one\n" * 300, "docs/b.txt": "bee\n" * 200, "docs/sub/c.bin": b"\x01" * 70_000,
         "music/song.ogg": os.urandom(200_000), "empty.txt": ""}


def _history(world: World) -> World:
    """Runs at +0, +2h (a.txt rewritten, new.txt added) and +26h (b.txt made 0600: a new
    inode with the same bytes in the newer snapshots)."""
    write_config(world, name="home")
    write_files(world.source, FILES, mtime=OLD)
    vhpi(world, code=0)
    write_files(world.source, {"docs/a.txt": "two\n" * 300, "new.txt": "new\n"}, mtime=OLD + 60)
    vhpi(world, at="+2h", code=0)
    os.chmod(world.source / "docs/b.txt", 0o600)
    vhpi(world, at="+26h", code=0)
    return world


@pytest.fixture
def history(tmp_path):
    return _history(World(tmp_path))


def records(world) -> dict:
    """{inode: sha256 hex} of the destination's content index."""
    with sqlite3.connect(world.dest / ".vhpi" / "content.sqlite3") as index:
        return {row[0]: bytes(row[1]).hex() for row in index.execute("SELECT ino, sha256 FROM inodes")}


def inodes(world) -> dict:
    """{inode: (sha256 hex, size, [names])} of every non-empty regular file in the destination's
    snapshots and backup.latest."""
    found = {}
    for top in os.listdir(world.dest):
        if top.startswith("."):
            continue
        for folder, _, files in os.walk(world.dest / top):
            for name in files:
                path = Path(folder) / name
                info = path.lstat()
                if info.st_size:
                    entry = found.setdefault(info.st_ino, [hashlib.sha256(path.read_bytes()).hexdigest(),
                                                           info.st_size, []])
                    entry[2].append(str(path.relative_to(world.dest)))
    return found


def flip_a_byte(path: Path, offset: int = 10) -> None:
    """Bitrot: change one bit of `path` in place, keeping its modification time."""
    info = path.stat()
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x10]))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def verify_json(world, *args, code=None) -> dict:
    result = vhpi(world, "verify", *args, "--json", code=code)
    return json.loads(result.stdout)


# ---------------------------------------------------------------- checksums at backup time

def test_every_file_a_run_adds_gets_its_checksum_and_unchanged_ones_are_not_read_again(tmp_path):
    world = World(tmp_path)
    write_config(world, name="home")
    write_files(world.source, FILES, mtime=OLD)
    vhpi(world, code=0)
    first = records(world)
    on_disk = inodes(world)
    assert first == {number: digest for number, (digest, _, _) in on_disk.items()}

    with sqlite3.connect(world.dest / ".vhpi" / "content.sqlite3") as index:
        hashed_at = dict(index.execute("SELECT ino, hashed_at FROM inodes"))
    write_files(world.source, {"docs/a.txt": "changed\n"}, mtime=OLD + 60)
    vhpi(world, at="+2h", code=0)

    now = records(world)
    latest_a = ino(world.dest / "backup.latest/docs/a.txt")
    assert latest_a not in first
    assert now[latest_a] == hashlib.sha256(b"changed\n").hexdigest()
    with sqlite3.connect(world.dest / ".vhpi" / "content.sqlite3") as index:
        again = dict(index.execute("SELECT ino, hashed_at FROM inodes"))
        assert index.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 0  # no "adding" mark left
    assert all(again[number] == when for number, when in hashed_at.items())  # not re-hashed


def test_a_renamed_folder_keeps_its_checksums_without_reading_them_again(tmp_path):
    world = World(tmp_path)
    write_config(world, name="home")
    write_files(world.source, FILES, mtime=OLD)
    vhpi(world, code=0)
    with sqlite3.connect(world.dest / ".vhpi" / "content.sqlite3") as index:
        before = dict(index.execute("SELECT ino, hashed_at FROM inodes"))
    os.rename(world.source / "music", world.source / "tunes")
    vhpi(world, at="+2h", code=0)
    song = ino(world.dest / "backup.latest/tunes/song.ogg")
    assert song == ino(world.dest / "hourly.1/music/song.ogg")  # linked, not copied
    with sqlite3.connect(world.dest / ".vhpi" / "content.sqlite3") as index:
        assert dict(index.execute("SELECT ino, hashed_at FROM inodes"))[song] == before[song]


# ---------------------------------------------------------------- verify

def test_bitrot_in_an_older_snapshot_is_named_with_every_snapshot_that_shares_it(history):
    world = history
    assert vhpi(world, "verify", code=0).stdout.count("0 damaged") == 1
    song = world.dest / "daily.1" / "music/song.ogg"
    flip_a_byte(song)

    result = vhpi(world, "verify", code=1)

    holders = sorted(name for name in os.listdir(world.dest) if not name.startswith(".")
                     and (world.dest / name / "music/song.ogg").exists()
                     and ino(world.dest / name / "music/song.ogg") == ino(song))
    assert len(holders) >= 3
    assert "1 damaged" in result.stdout
    assert "DAMAGED: daily.1/music/song.ogg" in result.stdout or "DAMAGED: daily.0/music/song.ogg" in result.stdout
    shared = next(line for line in result.stdout.splitlines() if "shared by:" in line)
    assert sorted(shared.split("shared by:")[1].strip().split(", ")) == holders
    assert "ERROR   job home: DAMAGED: 1 damaged file(s)" in world.info_log
    data = verify_json(world, code=1)
    (damaged,) = data["jobs"][0]["damaged"]
    assert sorted(damaged["snapshots"]) == holders and damaged["unreadable"] is False
    status = vhpi(world, "status", code=1)
    assert "PROBLEM: 1 damaged file(s) in the backups" in status.stdout


def test_an_intact_copy_with_another_inode_is_named_as_the_good_copy(history):
    world = history
    old = world.dest / "hourly.2" / "docs/b.txt"   # before the chmod: the old inode
    newer = [name for name in os.listdir(world.dest) if not name.startswith(".")
             and (world.dest / name / "docs/b.txt").exists()
             and ino(world.dest / name / "docs/b.txt") != ino(old)]
    assert newer
    flip_a_byte(old)

    (damaged,) = verify_json(world, code=1)["jobs"][0]["damaged"]

    good = damaged["advice"].split("snapshot ")[1].split(" ")[0]
    assert good in newer and "vhpi restore home" in damaged["advice"]
    assert old.read_bytes() != (world.dest / good / "docs/b.txt").read_bytes()  # nothing "repaired"


def test_each_inode_is_read_once_however_many_snapshots_share_it_and_nothing_changes(history):
    world = history
    on_disk = inodes(world)
    assert sum(len(names) for _, _, names in on_disk.values()) > 2 * len(on_disk)
    before = {top: listing(world.dest / top) for top in os.listdir(world.dest) if not top.startswith(".")}
    atimes = {path: os.lstat(world.dest / path).st_atime_ns for _, _, names in on_disk.values()
              for path in names}

    data = verify_json(world, code=0)

    for top, found in before.items():
        assert_same_listing(found, listing(world.dest / top))
    assert atimes == {path: os.lstat(world.dest / path).st_atime_ns for path in atimes}

    job = data["jobs"][0]
    assert job["files"] == len(on_disk)
    assert job["bytes_read"] == sum(size for _, size, _ in on_disk.values())
    assert job["counts"]["intact"] == len(on_disk) and job["ok"] is True


def test_a_disk_from_before_checksums_is_hashed_and_counted_apart(history):
    world = history
    index = world.dest / ".vhpi" / "content.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)

    first = verify_json(world, code=0)["jobs"][0]
    second = verify_json(world, code=0)["jobs"][0]

    assert first["counts"]["recorded"] == first["files"] and first["counts"]["intact"] == 0
    assert second["counts"]["intact"] == second["files"] and second["counts"]["recorded"] == 0
    assert records(world) == {number: digest for number, (digest, _, _) in inodes(world).items()}


def test_one_snapshot_is_verified_and_the_damage_named_in_the_others_too(history):
    world = history
    flip_a_byte(world.dest / "hourly.0" / "music/song.ogg")

    data = verify_json(world, "home", "hourly.0", code=1)

    job = data["jobs"][0]
    assert job["scope"] == "hourly.0"
    assert job["files"] == len({ino(p) for p in (world.dest / "hourly.0").rglob("*")
                                if p.is_file() and p.stat().st_size})
    (damaged,) = job["damaged"]
    assert "hourly.0" in damaged["snapshots"] and "daily.1" in damaged["snapshots"]


def test_a_verify_that_finds_nothing_wrong_is_recorded_for_status(history):
    world = history
    vhpi(world, "verify", "home", code=0)
    status = json.loads(vhpi(world, "status", "--json", code=0).stdout)["jobs"][0]["verify"]
    assert status["last_full"]["damaged"] == 0 and status["damage"] is None
    assert "verified: every snapshot" in vhpi(world, "status", code=0).stdout


@pytest.mark.parametrize("args, code, words", [
    (("nosuch",), 2, "no job"),
    (("home", "weekly.4"), 2, "no snapshot"),
])
def test_unknown_jobs_and_snapshots_are_named(history, args, code, words):
    result = vhpi(history, "verify", *args, code=code)
    assert words in result.stderr.lower() and "Traceback" not in result.stderr


def test_an_unmounted_backup_disk_is_said_plainly(history):
    world = history
    (world.dest / ".backup_destination").unlink()
    result = vhpi(world, "verify", code=1)
    assert "not a marked backup destination" in result.stderr and "Traceback" not in result.stderr


def test_damage_runs_the_after_failure_hook_and_pings_fail(history, server):  # noqa: F811
    world = history
    record = recorder(world)
    write_hooked_config(world, name="home", healthcheck_url=server.url,
                        hooks={"after_failure": record("job-after-failure")})
    flip_a_byte(world.dest / "daily.1" / "docs/sub/c.bin")

    vhpi(world, "verify", env=NO_PROXY, code=1)

    (entry,) = record.entries()
    assert entry["env"]["VHPI_RESULT"] == "damaged" and entry["env"]["VHPI_JOB"] == "home"
    assert "DAMAGED" in entry["env"]["VHPI_SUMMARY"]
    assert calls(server) == [("POST", "/ping/0f2c/fail")]


def test_a_full_verify_forgets_the_checksums_of_files_no_snapshot_holds(tmp_path):
    world = World(tmp_path)
    write_config(world, name="home", snapshots={"hourly": 1})
    write_files(world.source, FILES, mtime=OLD)
    vhpi(world, code=0)
    song = ino(world.dest / "hourly.0/music/song.ogg")
    (world.source / "music/song.ogg").unlink()
    vhpi(world, at="+2h", code=0)  # keep 1: the snapshot that held the song is dropped
    assert song in records(world)

    vhpi(world, "verify", at="+2h", code=0)

    assert song not in records(world)
    assert records(world) == {number: digest for number, (digest, _, _) in inodes(world).items()}


def test_a_second_verify_of_the_same_disk_at_once_refuses_and_says_so(history):
    from vhpi.act.lock import try_lock
    held = try_lock(str(history.dest / ".vhpi" / "verify.lock"))
    try:
        result = vhpi(history, "verify", code=1)
    finally:
        os.close(held)
    assert "another vhpi verify is reading" in result.stderr and "Traceback" not in result.stderr
