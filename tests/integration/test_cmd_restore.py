"""`vhpi restore JOB SNAPSHOT PATH [--to DIR] [--overwrite]`, run for real: snapshots made
by real vhpi runs, real rsync, real hard links. Every test checks that the destination
(snapshots included) is exactly as it was, inode for inode, and that restored files are
new inodes."""

import fcntl
import os
import shutil
import stat
import subprocess
import time

import pytest

from tests.integration.helpers import (NOBODY, assert_same_listing, ino, listing, manifest,
                                       python_for_nobody, read, start_vhpi, vhpi,
                                       without_link_counts, write_config, write_files)
from vhpi.decide.restore_plan import KEPT_EXTRAS, SNAPSHOT_DELETED

OLD_MTIME = 1_500_000_000  # 2017-07-14
IS_ROOT = os.geteuid() == 0
FILES = {"docs/a.txt": "alpha\n", "docs/sub/b.txt": "beta\n", "docs/sub/deeper/c.txt": "gamma\n",
         "other.txt": "other\n"}


@pytest.fixture
def home_job(world):
    """The world with a job called 'home' and one real backup of FILES (hourly.0, daily.0,
    backup.latest)."""
    write_config(world, name="home")
    write_files(world.source, FILES, mtime=OLD_MTIME)
    os.chmod(world.source / "docs/a.txt", 0o640)
    for folder in ("docs/sub/deeper", "docs/sub", "docs"):
        os.utime(world.source / folder, (OLD_MTIME, OLD_MTIME))
    vhpi(world, code=0)
    return world


def restore(world, *args, code, env=None):
    return vhpi(world, "restore", "home", *args, code=code, env=env)


def _only_summary(result, *pieces):
    """Assert stdout is one summary line holding `pieces`, and stderr is empty."""
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("restored "), result.stdout
    for piece in pieces:
        assert piece in lines[0], (piece, lines[0])
    return lines[0]


def _no_staging_left(*folders):
    for folder in folders:
        assert not [n for n in os.listdir(folder) if n.startswith(".vhpi-restore")], folder


def _same_metadata(restored, kept):
    """Assert two trees hold the same entries with the same mode, owner, mtime and content,
    and that no restored non-folder shares an inode with the snapshot."""
    assert manifest(restored) == manifest(kept)
    for relative in manifest(kept):
        a = os.lstat(os.path.join(os.fsencode(str(restored)), relative))
        b = os.lstat(os.path.join(os.fsencode(str(kept)), relative))
        # a symlink's time comes back to the second only: seen with rsync 3.5 when the
        # snapshot's symlink was made under libfaketime (its nanoseconds then differ)
        a_time, b_time = ((a.st_mtime_ns // 10**9, b.st_mtime_ns // 10**9) if stat.S_ISLNK(a.st_mode)
                          else (a.st_mtime_ns, b.st_mtime_ns))
        assert (a.st_mode, a.st_uid, a.st_gid, a_time) == (b.st_mode, b.st_uid, b.st_gid, b_time), relative
        assert a.st_ino != b.st_ino, relative


# ---------------------------------------------------------------- restoring

def test_a_deleted_file_comes_back_to_its_place_with_its_metadata(home_job):
    world = home_job
    snap = world.dest / "hourly.0"
    if IS_ROOT:
        os.chown(world.source / "docs/a.txt", 1234, 5678)
    os.setxattr(world.source / "docs/a.txt", "user.tag", b"kept")
    vhpi(world, at="+2h", code=0)  # a snapshot with the owner and the xattr
    (world.source / "docs/a.txt").unlink()
    before = listing(world.dest)

    result = restore(world, "hourly.0", "/docs/a.txt", code=0)

    target = world.source / "docs/a.txt"
    _only_summary(result, "restored docs/a.txt from hourly.0 of job home, taken ",
                  f" to {target}: 1 file, 6 B")
    assert read(target) == "alpha\n"
    restored, kept = os.lstat(target), os.lstat(snap / "docs/a.txt")
    assert stat.S_IMODE(restored.st_mode) == 0o640 and restored.st_mtime == OLD_MTIME
    assert (restored.st_uid, restored.st_gid) == (kept.st_uid, kept.st_gid)
    if IS_ROOT:
        assert (restored.st_uid, restored.st_gid) == (1234, 5678)
    assert os.getxattr(target, "user.tag") == b"kept"
    assert restored.st_ino != kept.st_ino and restored.st_nlink == 1
    assert_same_listing(before, listing(world.dest))
    _no_staging_left(world.source / "docs")


def test_a_folder_comes_back_whole(home_job):
    world = home_job
    docs = world.source / "docs"
    os.symlink("sub/b.txt", docs / "link-to-b")
    os.symlink("/etc/hostname", docs / "absolute-link")
    os.link(docs / "sub/b.txt", docs / "sub/b-again.txt")
    (docs / "empty").mkdir()
    os.chmod(docs / "sub", 0o750)
    os.setxattr(docs / "sub", "user.folder", b"yes")
    acl = shutil.which("setfacl") and subprocess.run(
        ["setfacl", "-m", "u:1234:r", str(docs / "sub/deeper/c.txt")]).returncode == 0
    for folder in ("docs/empty", "docs/sub", "docs"):
        os.utime(world.source / folder, (OLD_MTIME, OLD_MTIME))
    vhpi(world, at="+2h", code=0)
    snap = world.dest / "hourly.0"
    shutil.rmtree(docs)
    before = listing(world.dest)

    result = restore(world, "hourly.0", "docs", code=0)

    # the size as rsync counts it: symlinks count their target's length, hard links twice
    _only_summary(result, f"to {docs}: 4 files, 4 folders, 2 symlinks, 44 B")
    _same_metadata(docs, snap / "docs")
    assert os.readlink(docs / "absolute-link") == "/etc/hostname"
    assert os.getxattr(docs / "sub", "user.folder") == b"yes"
    assert ino(docs / "sub/b.txt") == ino(docs / "sub/b-again.txt")  # hard link kept
    assert os.lstat(docs / "sub/b.txt").st_nlink == 2
    if acl:
        def acl_of(path):
            return subprocess.run(["getfacl", "-c", "--", str(path)], capture_output=True).stdout
        assert acl_of(docs / "sub/deeper/c.txt") == acl_of(snap / "docs/sub/deeper/c.txt")
        assert b"user:1234:r--" in acl_of(docs / "sub/deeper/c.txt")
    assert_same_listing(before, listing(world.dest))
    _no_staging_left(world.source)


def test_to_copies_into_a_folder_keeping_the_base_name(home_job):
    world = home_job
    out = world.root / "out"
    out.mkdir()
    before, source_before = listing(world.dest), listing(world.source)

    folder = restore(world, "daily.0", "docs/sub", "--to", str(out), code=0)
    single = restore(world, "latest", "docs/a.txt", "--to", "out", code=0)  # relative to cwd

    _only_summary(folder, "from daily.0 of job home, taken ", f" to {out}/sub: 2 files, 2 folders")
    _only_summary(single, f"from backup.latest of job home to {out}/a.txt: 1 file")
    _same_metadata(out / "sub", world.dest / "daily.0/docs/sub")
    assert read(out / "a.txt") == "alpha\n"
    assert sorted(os.listdir(out)) == ["a.txt", "sub"]
    assert_same_listing(source_before, listing(world.source))
    assert_same_listing(before, listing(world.dest))


def test_a_restore_from_latest_waits_for_no_backup_run(home_job):
    """backup.latest changes during a run: a restore from it needs the destination's lock."""
    world = home_job
    out = world.root / "out"
    out.mkdir()
    fd = os.open(world.dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a backup run does
        refused = restore(world, "latest", "docs", "--to", str(out), code=1)
        assert "a backup run is changing backup.latest" in refused.stderr
        restore(world, "hourly.0", "docs", "--to", str(out), code=0)  # snapshots need no lock
    finally:
        os.close(fd)
    assert os.listdir(out) == ["docs"]


def test_a_normal_user_restores_read_only_folders(nobody_world):
    """As a normal user: rsync reads the snapshot through /proc/<vhpi's pid>/fd, and a
    read-only folder can still be moved from the staging folder into place."""
    world = nobody_world
    python, env = python_for_nobody()
    if python is None:
        pytest.skip("no python that user nobody can run with vhpi's dependencies")
    as_nobody = dict(prefix=("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                             "--clear-groups"), python=python, env=env)
    write_config(world, name="home")
    write_files(world.source, {"ro/inner/f.txt": "f\n"}, mtime=OLD_MTIME)
    out = world.root / "out"
    out.mkdir()
    for path in ("ro/inner/f.txt", "ro/inner", "ro"):
        os.lchown(world.source / path, NOBODY, NOBODY)
    for path in ("ro/inner", "ro"):
        os.chmod(world.source / path, 0o555)
        os.utime(world.source / path, (OLD_MTIME, OLD_MTIME))
    os.lchown(out, NOBODY, NOBODY)
    vhpi(world, **as_nobody, code=0)
    before = listing(world.dest)

    result = vhpi(world, "restore", "home", "hourly.0", "ro", "--to", str(out), **as_nobody,
                  code=0)

    _only_summary(result, f"to {out}/ro: 1 file, 2 folders, 2 B")
    _same_metadata(out / "ro", world.dest / "hourly.0/ro")
    assert os.lstat(out / "ro").st_uid == NOBODY
    assert_same_listing(before, listing(world.dest))
    _no_staging_left(out)


# ---------------------------------------------------------------- overwriting

def test_what_is_there_is_never_overwritten_without_overwrite(home_job):
    world = home_job
    out = world.root / "out"
    (out / "docs").mkdir(parents=True)
    before, source_before, out_before = listing(world.dest), listing(world.source), listing(out)

    for path, to, where in [("docs/a.txt", (), world.source / "docs/a.txt"),
                            ("docs", (), world.source / "docs"),
                            ("docs", ("--to", str(out)), out / "docs")]:
        result = restore(world, "hourly.0", path, *to, code=1)
        assert result.stdout == ""
        assert f"{where} already exists; nothing was changed" in result.stderr
        assert "--overwrite" in result.stderr and "--to DIR" in result.stderr

    assert_same_listing(source_before, listing(world.source))
    assert_same_listing(out_before, listing(out))
    assert_same_listing(before, listing(world.dest))


def test_overwrite_replaces_a_file(home_job):
    world = home_job
    target = world.source / "docs/a.txt"
    write_files(world.source, {"docs/a.txt": "changed since\n"})
    os.chmod(target, 0o600)
    before = listing(world.dest)

    result = restore(world, "hourly.0", "docs/a.txt", "--overwrite", code=0)

    assert KEPT_EXTRAS not in _only_summary(result, f"to {target}: 1 file")
    assert read(target) == "alpha\n"
    assert stat.S_IMODE(os.lstat(target).st_mode) == 0o640
    assert ino(target) != ino(world.dest / "hourly.0/docs/a.txt")
    assert_same_listing(before, listing(world.dest))
    _no_staging_left(world.source / "docs")


def test_overwrite_on_a_folder_restores_its_files_and_keeps_extra_ones(home_job):
    world = home_job
    docs = world.source / "docs"
    write_files(world.source, {"docs/a.txt": "changed since\n", "docs/new.txt": "new\n",
                               "docs/sub/new-too.txt": "new too\n"})
    (docs / "sub/b.txt").unlink()
    before = listing(world.dest)

    result = restore(world, "hourly.0", "docs", "--overwrite", code=0)

    _only_summary(result, f"to {docs}: 3 files, 3 folders", KEPT_EXTRAS)
    assert read(docs / "a.txt") == "alpha\n" and read(docs / "sub/b.txt") == "beta\n"
    assert read(docs / "new.txt") == "new\n" and read(docs / "sub/new-too.txt") == "new too\n"
    for name in ("a.txt", "sub/b.txt", "sub/deeper/c.txt"):
        assert ino(docs / name) != ino(world.dest / "hourly.0/docs" / name)
    assert_same_listing(before, listing(world.dest))


def test_overwrite_never_puts_a_folder_in_place_of_a_file_or_back(home_job):
    world = home_job
    shutil.rmtree(world.source / "docs/sub")
    write_files(world.source, {"docs/sub": "now a file\n"})
    (world.source / "docs/a.txt").unlink()
    (world.source / "docs/a.txt").mkdir()
    source_before = listing(world.source)

    for path, kinds in [("docs/sub", "is a file and the snapshot holds a folder"),
                        ("docs/a.txt", "is a folder and the snapshot holds a file")]:
        result = restore(world, "hourly.0", path, "--overwrite", code=1)
        assert kinds in result.stderr and "away first" in result.stderr

    assert_same_listing(source_before, listing(world.source))


# ---------------------------------------------------------------- refusals

@pytest.mark.parametrize("path", ["../dest/.backup_destination", "docs/../../x", ".."])
def test_dot_dot_is_refused(home_job, path):
    result = restore(home_job, "hourly.0", path, code=2)
    assert "'..'" in result.stderr and result.stdout == ""


def test_an_absolute_path_is_inside_the_snapshot(home_job):
    world = home_job
    source_before = listing(world.source)
    result = restore(world, "hourly.0", "/etc/passwd", "--to", str(world.root), code=1)
    assert "'etc/passwd' is not in this snapshot ('etc' does not exist)" in result.stderr
    assert not (world.root / "passwd").exists()
    assert_same_listing(source_before, listing(world.source))


def test_symlinks_in_the_snapshot_never_lead_out(home_job):
    world = home_job
    os.symlink("/etc", world.source / "etc-link")
    os.symlink("..", world.source / "up")
    os.symlink("../..", world.source / "docs/way-up")
    os.symlink(str(world.dest / "hourly.0"), world.source / "snapshot-by-name")
    os.symlink("docs/sub", world.source / "inner")
    os.symlink("../../..", world.source / "docs/sub/deep-up")
    vhpi(world, at="+2h", code=0)
    out = world.root / "out"
    out.mkdir()
    before = listing(world.dest)

    for path in ["etc-link/passwd", "up/.backup_destination", "up/hourly.1/docs",
                 "docs/way-up/source/other.txt", "snapshot-by-name/docs",
                 "inner/deep-up/dest/hourly.0"]:
        result = restore(world, "hourly.0", path, "--to", str(out), code=1)
        assert "leads outside the snapshot" in result.stderr, (path, result.stderr)
    assert os.listdir(out) == []

    # a symlink is restored as a symlink, and symlinks that stay inside may be used
    restore(world, "hourly.0", "etc-link", "--to", str(out), code=0)
    restore(world, "hourly.0", "inner/deeper/c.txt", "--to", str(out), code=0)
    assert os.readlink(out / "etc-link") == "/etc" and read(out / "c.txt") == "gamma\n"
    assert_same_listing(before, listing(world.dest))


def test_a_target_folder_that_leads_out_of_the_source_is_refused(home_job):
    world = home_job
    elsewhere = world.root / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(world.source / "docs")
    os.symlink(elsewhere, world.source / "docs")

    result = restore(world, "hourly.0", "docs/a.txt", code=1)

    assert "leads outside the job's source" in result.stderr
    assert os.listdir(elsewhere) == []


def test_a_missing_parent_folder_is_refused(home_job):
    world = home_job
    shutil.rmtree(world.source / "docs")
    result = restore(world, "hourly.0", "docs/sub/b.txt", code=1)
    assert f"the folder {world.source}/docs/sub does not exist" in result.stderr
    assert not (world.source / "docs").exists()


def test_unknown_names_say_what_exists(home_job):
    world = home_job
    job = vhpi(world, "restore", "work", "hourly.0", "docs", code=2)
    assert "no job 'work'" in job.stderr and "the jobs are: home" in job.stderr
    snapshot = restore(world, "hourly.3", "docs", code=2)
    assert "no snapshot 'hourly.3'; there are: hourly.0, daily.0, backup.latest" in snapshot.stderr
    path = restore(world, "hourly.0", "docs/nothing.txt", "--to", str(world.root), code=1)
    assert "'docs/nothing.txt' is not in this snapshot" in path.stderr
    for result in (job, snapshot, path):
        assert result.stdout == ""


def test_nothing_is_ever_written_into_a_destination(home_job):
    world = home_job
    os.symlink(world.dest, world.root / "dest-link")
    before = listing(world.dest)
    for to in [world.dest, world.dest / "hourly.0/docs", world.dest / ".vhpi",
               world.root / "dest-link", world.root / "dest-link/daily.0"]:
        result = restore(world, "hourly.0", "other.txt", "--to", str(to), "--overwrite", code=1)
        assert "is inside the backup destination" in result.stderr, result.stderr
    assert_same_listing(before, listing(world.dest))


def test_to_must_be_an_existing_folder(home_job):
    world = home_job
    for to in [world.root / "missing", world.source / "other.txt"]:
        result = restore(world, "hourly.0", "docs", "--to", str(to), code=1)
        assert f"--to {to}: no such folder" in result.stderr


# ---------------------------------------------------------------- backup runs meanwhile

def _rsync_wrapper(world, body: str, extra: str = "") -> dict:
    """Put an `rsync` first in PATH that runs `body` (sh) and then the real rsync with
    `extra` options; return the env for vhpi."""
    folder = world.root / "wrapper"
    folder.mkdir()
    script = folder / "rsync"
    script.write_text(f'#!/bin/sh\n{body}\nexec {shutil.which("rsync")} {extra} "$@"\n')
    script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def _paused_rsync(world):
    """An rsync that says it started and waits for the test's go before it runs; returns
    (env, started marker, go marker)."""
    started, go = world.root / "rsync-started", world.root / "rsync-go"
    env = _rsync_wrapper(world, f': > "{started}"\nwhile [ ! -e "{go}" ]; do sleep 0.05; done')
    return env, started, go


def _start_restore(world, env, *args):
    return start_vhpi(world, "restore", "home", *args, env=env, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True)


def _wait_until(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.02)


def _new_version(world, text, hours):
    """Write `text` into docs/a.txt (with its own mtime) and make a backup run `hours` on."""
    write_files(world.source, {"docs/a.txt": text}, mtime=OLD_MTIME + hours * 3600)
    vhpi(world, at=f"+{hours}h", code=0)


def test_a_failing_rsync_leaves_nothing_behind(home_job):
    world = home_job
    out = world.root / "out"
    out.mkdir()
    # the real rsync copies, then the wrapper reports a failure as rsync would
    env = _rsync_wrapper(world, f'{shutil.which("rsync")} "$@" >/dev/null\n'
                                'echo "rsync: [receiver] mkstemp failed: Disk quota exceeded"\n'
                                "exit 23", extra="")
    result = restore(world, "hourly.0", "docs", "--to", str(out), code=1, env=env)
    assert result.stdout == ""
    assert "vhpi restore: the disk restored to is full (rsync code 23)" in result.stderr
    assert "nothing was restored" in result.stderr and "Disk quota exceeded" in result.stderr
    assert os.listdir(out) == []


def test_a_rotation_while_restoring_renames_the_snapshot_under_it(home_job):
    world = home_job
    _new_version(world, "version 2\n", 2)
    out = world.root / "out"
    out.mkdir()
    held = world.dest / "hourly.0"
    held_ino, held_before = ino(held), without_link_counts(listing(held))
    env, started, go = _paused_rsync(world)
    process = _start_restore(world, env, "hourly.0", "docs", "--to", str(out))
    try:
        _wait_until(started.exists, "rsync start")
        _new_version(world, "version 3\n", 4)  # hourly.0 -> hourly.1, a new hourly.0
        assert ino(world.dest / "hourly.1") == held_ino
        assert read(world.dest / "hourly.0/docs/a.txt") == "version 3\n"
        go.touch()
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "restored docs from hourly.0 of job home" in stdout and stderr == ""
    assert read(out / "docs/a.txt") == "version 2\n"
    _same_metadata(out / "docs", world.dest / "hourly.1/docs")
    assert without_link_counts(listing(world.dest / "hourly.1")) == held_before


def test_renaming_the_snapshot_in_the_middle_of_the_copy_is_harmless(home_job):
    world = home_job
    write_files(world.source, {f"big/file-{n:02}.bin": os.urandom(100_000) for n in range(20)},
                mtime=OLD_MTIME)
    vhpi(world, at="+2h", code=0)
    out = world.root / "out"
    out.mkdir()
    held_before = listing(world.dest / "hourly.0")
    env = _rsync_wrapper(world, "", extra="--bwlimit=400")  # about 5 s for 2 MB
    process = _start_restore(world, env, "hourly.0", "big", "--to", str(out))
    try:
        def copying():
            return any(name.startswith("file-") for staging in out.glob(".vhpi-restore.*/big")
                       for name in os.listdir(staging))
        _wait_until(copying, "the copy")
        assert process.poll() is None
        os.rename(world.dest / "hourly.0", world.dest / "hourly.7")
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "to " + str(out / "big") + ": 20 files, 1 folder, 1.9 MiB" in stdout
    _same_metadata(out / "big", world.dest / "hourly.7/big")
    renamed = listing(world.dest / "hourly.7")
    assert renamed.pop(b"")[:8] == held_before.pop(b"")[:8]  # the folder's ctime: renamed
    assert renamed == held_before
    _no_staging_left(out)


def test_a_snapshot_dropped_while_restoring_fails_the_restore(home_job):
    world = home_job
    write_config(world, name="home", snapshots={"hourly": 2, "daily": 2})
    _new_version(world, "version 2\n", 2)
    out = world.root / "out"
    out.mkdir()
    held_ino = ino(world.dest / "hourly.1")
    env, started, go = _paused_rsync(world)
    process = _start_restore(world, env, "hourly.1", "docs", "--to", str(out))
    try:
        _wait_until(started.exists, "rsync start")
        _new_version(world, "version 3\n", 4)  # keeps 2: drops hourly.1
        assert held_ino not in {ino(world.dest / name) for name in world.snapshots()}
        go.touch()
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 1 and stdout == ""
    assert SNAPSHOT_DELETED + "; nothing was restored" in stderr
    assert os.listdir(out) == []
