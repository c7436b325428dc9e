"""`vhpi verify --source JOB [SNAPSHOT] [--all | --sample N] [--json]`, run for real: a real
backup run (real rsync) makes the snapshot, then the share is changed the ways that matter
(in place with its old time kept, an ordinary edit, a deletion, a symlink or a FIFO put in
a folder's or file's place) and vhpi compares. Every test also checks that neither the
share nor the destination changed."""

from __future__ import annotations

import hashlib
import json
import os
import shlex

import pytest

from tests.integration.helpers import listing, manifest, vhpi, write_config, write_files
from vhpi.act import content_index
from vhpi.act.birth_time import birth_time_ns

OLD = 1_600_000_000
FILES = {f"docs/f{number:02}.txt": f"file number {number}\n" for number in range(30)}
FILES.update({"docs/sub/deep.txt": "deep down\n", "top.txt": "top\n"})
#: the regular files a snapshot holds: FILES and the sentinel .backup_valid
IN_SNAPSHOT = len(FILES) + 1


@pytest.fixture
def backed_up(world):
    """The world after one backup run (hourly.0 and daily.0); the after_failure hook
    appends VHPI_RESULT to hook.txt."""
    hook = world.root / "hook.txt"
    write_config(world, name="home", hooks={"after_failure": f'echo "$VHPI_RESULT" >> {hook}'})
    write_files(world.source, FILES, mtime=OLD)
    vhpi(world, code=0)
    return world


def verify(world, *args, code=None):
    return vhpi(world, "verify", "--source", *args, code=code)


def verify_json(world, *args, code=None) -> dict:
    return json.loads(verify(world, *args, "--json", code=code).stdout)


def rewrite_in_place(path, text: str) -> None:
    """Give the file other bytes of the same length, keeping its modification time to the
    nanosecond (what a program that restores the time, or a corrupting disk, does)."""
    info = os.stat(path)
    assert len(text.encode()) == info.st_size
    with open(path, "r+b") as handle:
        handle.write(text.encode())
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def _snapshots(world) -> dict:
    """Every inode and time of the destination but vhpi's own folder (reading the content
    index lets SQLite make its -shm file there)."""
    return {path: facts for path, facts in listing(world.dest).items()
            if path.split(b"/")[0] != b".vhpi"}


def unchanged_after(world):
    """Return a check that the share and the snapshots are as they are now."""
    share, snapshots = manifest(world.source), _snapshots(world)

    def check():
        assert manifest(world.source) == share
        assert _snapshots(world) == snapshots
    return check


def _hook_results(world) -> list:
    path = world.root / "hook.txt"
    return path.read_text().split() if path.exists() else []


# ---------------------------------------------------------------- the finding

def test_a_file_changed_in_place_without_a_new_time_is_named_and_exits_1(backed_up):
    world = backed_up
    rewrite_in_place(world.source / "docs/f07.txt", "FILE number 7\n")
    check = unchanged_after(world)

    result = verify(world, "home", "--all", code=1)

    lines = result.stdout.splitlines()
    assert lines[0] == (f"job home: compared {IN_SNAPSHOT} of {IN_SNAPSHOT} files of hourly.0 "
                        f"with the share: {IN_SNAPSHOT - 1} same, 0 changed since, 0 gone, 1 differ")
    assert lines[1] == ("  DIFFERS docs/f07.txt: same size and modification time as hourly.0's "
                        "copy, other content.")
    assert "vhpi restore home hourly.0 docs/f07.txt --overwrite" in result.stdout
    assert "--checksum" in result.stdout
    errors = [line for line in world.info_log.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "job home: DAMAGED: verify --source: compared" in errors[0]
    assert errors[0].endswith("1 differ (docs/f07.txt)")
    assert _hook_results(world) == ["damaged"]
    check()


def test_the_advised_restore_puts_the_backed_up_copy_back(backed_up):
    world = backed_up
    rewrite_in_place(world.source / "docs/f08.txt", "FILE number 8\n")
    advice = verify(world, "home", "--all", code=1).stdout
    command = shlex.split(advice.split("Put the backed-up copy back: ", 1)[1].splitlines()[0])
    assert command[:2] == ["vhpi", "restore"]

    vhpi(world, *command[1:], code=0)

    assert (world.source / "docs/f08.txt").read_text() == "file number 8\n"
    verify(world, "home", "--all", code=0)


def test_the_same_change_with_a_new_time_is_changed_since_and_exits_0(backed_up):
    world = backed_up
    rewrite_in_place(world.source / "docs/f07.txt", "FILE number 7\n")
    os.utime(world.source / "docs/f07.txt", (OLD + 60, OLD + 60))
    check = unchanged_after(world)

    result = verify(world, "home", "--all", code=0)

    assert result.stdout.splitlines() == [
        f"job home: compared {IN_SNAPSHOT} of {IN_SNAPSHOT} files of hourly.0 with the share: "
        f"{IN_SNAPSHOT - 1} same, 1 changed since, 0 gone, 0 differ"]
    assert " ERROR " not in world.info_log and _hook_results(world) == []
    assert "INFO    job home: verify --source: compared" in world.info_log
    check()


def test_a_deleted_file_is_gone_and_a_grown_one_changed_since(backed_up):
    world = backed_up
    (world.source / "docs/f01.txt").unlink()
    with open(world.source / "docs/f02.txt", "a") as handle:
        handle.write("more\n")
    check = unchanged_after(world)

    data = verify_json(world, "home", "--all", code=0)

    assert data["counts"] == {"same": IN_SNAPSHOT - 2, "changed_since": 1, "gone": 1,
                              "differs": 0, "unreadable": 0}
    assert {item["path"]: item["result"] for item in data["files"]} == \
        {"docs/f01.txt": "gone", "docs/f02.txt": "changed_since"}
    check()


def test_json_names_the_differing_file_and_the_copy_state(backed_up):
    world = backed_up
    rewrite_in_place(world.source / "top.txt", "TOP\n")

    data = verify_json(world, "home", "--all", code=1)

    assert (data["job"], data["snapshot"], data["source"]) == ("home", "hourly.0", str(world.source))
    assert (data["all"], data["files_in_snapshot"], data["chosen"], data["compared"]) == \
        (True, IN_SNAPSHOT, IN_SNAPSHOT, IN_SNAPSHOT)
    assert data["files"] == [{"path": "top.txt", "result": "differs", "copy": data["files"][0]["copy"],
                              "detail": None}]
    assert data["files"][0]["copy"] in ("intact", "not_recorded")
    assert data["problems"] == [] and data["ok"] is False


# ---------------------------------------------------------------- the snapshot's own checksum

def _record(world, snapshot_path: str, digest: bytes) -> None:
    """Record `digest` for the inode of `snapshot_path` in the destination's content index."""
    info = os.lstat(snapshot_path)
    index = content_index.open_index(str(world.dest))
    try:
        facts = content_index.Facts(info.st_ino, info.st_size, info.st_mtime_ns,
                                    birth_time_ns(snapshot_path))
        content_index.record(index, facts, digest, 0.0)
    finally:
        content_index.close(index)


@pytest.mark.parametrize("recorded, words", [
    ("true", "hourly.0's copy matches its recorded checksum, so the share's file changed"),
    ("other", "hourly.0's copy no longer matches its recorded checksum: the backup disk damaged it"),
])
def test_the_content_index_says_which_side_changed(backed_up, recorded, words):
    world = backed_up
    copy = world.dest / "hourly.0" / "docs/f03.txt"
    true = hashlib.sha256(copy.read_bytes()).digest()
    _record(world, str(copy), true if recorded == "true" else bytes(32))
    rewrite_in_place(world.source / "docs/f03.txt", "FILE number 3\n")

    result = verify(world, "home", "--all", code=1)

    assert words in " ".join(result.stdout.split())
    assert ("vhpi restore" in result.stdout) is (recorded == "true")
    data = verify_json(world, "home", "--all", code=1)
    assert data["files"][0]["copy"] == ("intact" if recorded == "true" else "damaged")


# ---------------------------------------------------------------- a hostile share

def test_a_symlink_or_fifo_put_on_the_share_is_never_followed(backed_up):
    world = backed_up
    outside = world.root / "outside"
    outside.mkdir()
    (outside / "deep.txt").write_text("deep down\n")          # the same content as the copy
    os.utime(outside / "deep.txt", (OLD, OLD))
    os.rename(world.source / "docs/sub", world.root / "sub-moved")
    os.symlink(outside, world.source / "docs/sub")            # a folder swapped for a symlink
    (world.source / "docs/f04.txt").unlink()
    os.symlink(outside / "deep.txt", world.source / "docs/f04.txt")
    (world.source / "docs/f05.txt").unlink()
    os.mkfifo(world.source / "docs/f05.txt")                  # opening it would block
    before = os.stat(outside / "deep.txt").st_atime_ns

    result = verify(world, "home", "--all", "--json", code=0)

    data = json.loads(result.stdout)
    found = {item["path"]: (item["result"], item["detail"]) for item in data["files"]}
    assert set(found) == {"docs/sub/deep.txt", "docs/f04.txt", "docs/f05.txt"}
    assert all(verdict == "gone" for verdict, _ in found.values()), found
    assert "not followed" in found["docs/sub/deep.txt"][1]
    assert data["counts"]["same"] == IN_SNAPSHOT - 3
    assert os.stat(outside / "deep.txt").st_atime_ns == before
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file: needs an unprivileged user")
def test_a_file_the_share_does_not_let_vhpi_read_is_unreadable(backed_up):
    world = backed_up
    folder = world.source / "docs/sub"
    os.chmod(folder, 0)
    try:
        result = verify(world, "home", "--all", code=1)
    finally:
        os.chmod(folder, 0o755)
    assert "1 unreadable" in result.stdout.splitlines()[0]
    assert "unreadable docs/sub/deep.txt: on the share: Permission denied" in result.stdout


# ---------------------------------------------------------------- choosing

def test_sample_compares_n_files_of_the_newest_snapshot(backed_up):
    world = backed_up
    write_files(world.source, {"docs/new.txt": "new\n"}, mtime=OLD + 7200)
    vhpi(world, at="+2h", code=0)                     # hourly.0 now newer than daily.0

    data = verify_json(world, "home", "--sample", "7", code=0)

    assert data["snapshot"] == "hourly.0" and data["all"] is False
    assert (data["files_in_snapshot"], data["chosen"], data["compared"]) == (IN_SNAPSHOT + 1, 7, 7)
    assert data["counts"]["same"] == 7
    default = verify_json(world, "home", code=0)      # 200 by default: all of these
    assert default["compared"] == IN_SNAPSHOT + 1
    older = verify_json(world, "home", "daily.0", "--sample", "3", code=0)
    assert (older["snapshot"], older["files_in_snapshot"], older["compared"]) == \
        ("daily.0", IN_SNAPSHOT, 3)


def test_all_wins_over_an_explicit_sample(backed_up):
    data = verify_json(backed_up, "home", "--all", "--sample", "2", code=0)
    assert data["compared"] == IN_SNAPSHOT and data["all"] is True


# ---------------------------------------------------------------- problems and usage

@pytest.mark.parametrize("args, words", [
    (("nosuchjob",), "no job 'nosuchjob'"),
    (("home", "weekly.4"), "no snapshot 'weekly.4'"),
    (("home", "--sample", "0"), "--sample 0: give how many files"),
])
def test_usage_errors_exit_2(backed_up, args, words):
    result = verify(backed_up, *args, code=2)
    assert words in result.stderr and "Traceback" not in result.stderr and result.stdout == ""


def test_a_share_without_its_sentinel_is_not_compared(backed_up):
    world = backed_up
    (world.source / ".backup_valid").unlink()
    result = verify(world, "home", "--all", code=1)
    assert result.stdout == ""
    assert ".backup_valid" in result.stderr and str(world.source) in result.stderr, result.stderr
    assert "nothing compared" in world.info_log


def test_no_snapshot_yet(world):
    write_config(world, name="home")
    result = verify(world, "home", code=1)
    assert "there is no snapshot in" in result.stderr and "yet" in result.stderr


def test_a_backup_disk_that_is_not_mounted_is_named(world):
    empty = world.root / "mnt"      # the mount point, without the disk
    empty.mkdir()
    write_config(world, name="home", rsync_dest=str(empty))
    result = verify(world, "home", "daily.0", code=1)
    assert f"destination {empty} is not marked as a backup destination" in result.stderr


def test_files_deeper_than_the_kept_folders_are_compared(world):
    """Two branches 100 folders deep (more than the 64 top levels a walk keeps open): going
    from one to the other climbs back through '..'."""
    write_config(world, name="home")
    deep = {"/".join(f"{branch}{level}" for level in range(100)) + f"/{branch}.txt": f"{branch}\n"
            for branch in ("a", "b")}
    write_files(world.source, deep, mtime=OLD)
    vhpi(world, code=0)
    changed = sorted(deep)[1]
    rewrite_in_place(world.source / changed, "B\n")

    data = verify_json(world, "home", "--all", code=1)

    assert data["counts"] == {"same": 2, "changed_since": 0, "gone": 0, "differs": 1, "unreadable": 0}
    assert [item["path"] for item in data["files"]] == [changed]
