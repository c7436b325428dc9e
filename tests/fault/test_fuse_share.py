"""Self-tests of the hung-share stand-in (fuse_share.py): it serves a folder as rsync needs
a backup source to be served (hard links, inode numbers, modes, owners, times, xattrs,
ACLs, sparse files, any byte in a name), it is writable, it checks permissions for other
users, and it hangs and recovers as claimed: after freeze() a `stat` blocks, SIGKILL still
ends it, thaw() answers again, and stop() leaves no mount and no process behind, even
when a request was caught inside the stopped daemon."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import pytest

from tests.conftest import needs_root
from tests.fault.fuse_common import live_mount_ids, mount_on, processes_on, task_states
from tests.fault.fuse_share import fuse_share
from tests.integration.helpers import NOBODY, manifest, walk

pytestmark = needs_root("mounts a FUSE share with allow_other")
_ = fuse_share  # the fixture

RSYNC = ["rsync", "-aHAXS", "--numeric-ids"]
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
#: How long a SIGKILLed process may take to be gone. Measured: a few milliseconds.
KILL_LIMIT = 3.0


@pytest.fixture
def place():
    """A folder in /tmp that every user can walk into (pytest's own are root-only), with
    `backing` and `mnt` in it; removed at the end unless something is still mounted."""
    root = Path(tempfile.mkdtemp(prefix="fuse-share-test-"))
    os.chmod(root, 0o755)
    for name in ("backing", "mnt", "copy"):
        (root / name).mkdir()
    yield root
    if mount_on(root / "mnt") is None:
        shutil.rmtree(root, ignore_errors=True)


def _has_acl_tools() -> bool:
    return shutil.which("setfacl") is not None and shutil.which("getfacl") is not None


def make_tree(root: Path) -> None:
    """A source tree with everything rsync -aHAXS cares about."""
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "dir" / "one.txt").write_text("one\n")
    os.link(root / "dir" / "one.txt", root / "dir" / "sub" / "one-link.txt")
    os.link(root / "dir" / "one.txt", root / "one-again.txt")
    (root / "two.bin").write_bytes(os.urandom(200_000))
    os.link(root / "two.bin", root / "two-link.bin")
    os.symlink("dir/one.txt", root / "to-one")
    os.symlink("/nowhere/at/all", root / "dangling")
    with open(root / "sparse.img", "wb") as handle:
        handle.seek(8 << 20)
        handle.write(b"end")
    (root / os.fsdecode(b"caf\xe9-latin1.txt")).write_text("not UTF-8\n")
    (root / "spaces and\ttab.txt").write_text("odd name\n")
    os.mkfifo(root / "fifo")
    os.chmod(root / "dir" / "sub", 0o2750)
    os.chmod(root / "two.bin", 0o600)
    os.chown(root / "two.bin", 1234, 5678)
    os.lchown(root / "to-one", 4321, 8765)
    os.setxattr(root / "dir" / "one.txt", "user.colour", b"blue")
    os.setxattr(root / "dir", "user.empty", b"")
    if _has_acl_tools():
        subprocess.run(["setfacl", "-m", "u:4242:r--", str(root / "dir" / "one.txt")], check=True)
        subprocess.run(["setfacl", "-d", "-m", "g:4343:rwx", str(root / "dir")], check=True)
    for number, path in enumerate(sorted(root.rglob("*"))):
        os.utime(path, ns=(1_600_000_000_123_456_789 + number, 1_650_000_000_987_654_321 + number),
                 follow_symlinks=False)


def inode_map(root: Path) -> Dict[bytes, tuple]:
    """{relative path: (inode, link count, mode, uid, gid, size, mtime_ns)} of a tree."""
    found = {}
    base = os.fsencode(root)
    for folder, dirs, files in walk(base):
        for name in dirs + files:
            full = os.path.join(folder, name)
            st = os.lstat(full)
            found[os.path.relpath(full, base)] = (st.st_ino, st.st_nlink, st.st_mode, st.st_uid,
                                                  st.st_gid, st.st_size, st.st_mtime_ns)
    return found


def link_groups(root: Path) -> List[List[bytes]]:
    """The sets of paths that share one inode (more than one path each), sorted."""
    by_inode: Dict[int, List[bytes]] = {}
    for path, entry in inode_map(root).items():
        if not stat.S_ISDIR(entry[2]):
            by_inode.setdefault(entry[0], []).append(path)
    return sorted(sorted(group) for group in by_inode.values() if len(group) > 1)


def xattrs(root: Path) -> Dict[bytes, Dict[str, bytes]]:
    """{relative path: {xattr name: value}} (ACLs included) for everything but symlinks."""
    found = {}
    base = os.fsencode(root)
    for folder, dirs, files in walk(base):
        for name in [b"", *dirs, *files]:
            full = os.path.join(folder, name) if name else folder
            if os.path.islink(full) or stat.S_ISFIFO(os.lstat(full).st_mode):
                continue
            found[os.path.relpath(full, base)] = {
                key: os.getxattr(full, key, follow_symlinks=False)
                for key in os.listxattr(full, follow_symlinks=False)}
    return found


def measure_kill(process: subprocess.Popen, limit: float = KILL_LIMIT) -> float:
    """SIGKILL `process` and return the seconds until it was reaped (inf past `limit`)."""
    started = time.monotonic()
    process.kill()
    try:
        process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.monotonic() - started


def wait_until_waiting(process: subprocess.Popen, timeout: float = 10) -> str:
    """Wait until `process` sleeps in a FUSE request; return its state letter."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"ended with {process.returncode} instead of blocking"
        waiting = [p for p in processes_on([]) if p.pid == process.pid and p.fuse_wait]
        if waiting:
            return waiting[0].state
        time.sleep(0.01)
    raise AssertionError("the process never blocked on the share")


def _group_of(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return -1


# ---------------------------------------------------------------- serving files


def test_rsync_from_the_share_keeps_hard_links_inodes_and_metadata(place, fuse_share):
    backing, mnt, copy = place / "backing", place / "mnt", place / "copy"
    make_tree(backing)
    fuse_share(backing, mnt)

    assert inode_map(mnt) == inode_map(backing)  # inode numbers and link counts pass through
    assert os.stat(mnt / "dir" / "one.txt").st_ino == os.stat(backing / "dir" / "one.txt").st_ino
    assert (mnt / os.fsdecode(b"caf\xe9-latin1.txt")).read_text() == "not UTF-8\n"
    assert os.listdir(mnt / "empty") == []

    done = subprocess.run([*RSYNC, f"{mnt}/", f"{copy}/"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr

    assert manifest(copy) == manifest(backing)
    assert link_groups(copy) == link_groups(backing) == sorted([
        [b"dir/one.txt", b"dir/sub/one-link.txt", b"one-again.txt"],
        [b"two-link.bin", b"two.bin"]])
    assert xattrs(copy) == xattrs(backing)
    if _has_acl_tools():
        assert "system.posix_acl_access" in xattrs(copy)[b"dir/one.txt"]
    ours = {path: entry[2:] for path, entry in inode_map(copy).items()}  # all but inode, nlink
    theirs = {path: entry[2:] for path, entry in inode_map(backing).items()}
    assert ours == theirs  # modes, numeric owners, sizes, nanosecond mtimes
    assert os.stat(copy / "sparse.img").st_blocks * 512 < 1 << 20  # -S kept it sparse


def test_the_share_is_writable_and_rsync_can_write_to_it(place, fuse_share):
    source, mnt, backing = place / "copy", place / "mnt", place / "backing"
    make_tree(source)
    fuse_share(backing, mnt)

    done = subprocess.run([*RSYNC, f"{source}/", f"{mnt}/"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert manifest(backing) == manifest(source)
    assert link_groups(backing) == link_groups(source)
    assert xattrs(backing) == xattrs(source)

    # the other operations, one by one, seen in the backing folder
    (mnt / "new").mkdir()
    with open(mnt / "new" / "f", "wb") as handle:
        handle.write(b"0123456789")
        handle.flush()
        os.fsync(handle.fileno())
    os.truncate(mnt / "new" / "f", 4)
    os.rename(mnt / "new" / "f", mnt / "new" / "g")
    os.link(mnt / "new" / "g", mnt / "new" / "h")
    os.chmod(mnt / "new" / "g", 0o640)
    os.chown(mnt / "new" / "g", 777, 888)
    os.utime(mnt / "new" / "g", ns=(5, 1_000_000_007))
    os.setxattr(mnt / "new" / "g", "user.k", b"v")
    os.removexattr(mnt / "dir" / "one.txt", "user.colour")
    os.symlink("g", mnt / "new" / "s")
    st = os.lstat(backing / "new" / "g")
    assert (backing / "new" / "g").read_bytes() == b"0123"
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_nlink, st.st_mtime_ns) == \
        (0o640, 777, 888, 2, 1_000_000_007)
    assert os.getxattr(backing / "new" / "g", "user.k") == b"v"
    assert "user.colour" not in os.listxattr(backing / "dir" / "one.txt")
    assert os.readlink(backing / "new" / "s") == "g"
    os.unlink(mnt / "new" / "h")
    shutil.rmtree(mnt / "empty")
    assert not (backing / "new" / "h").exists() and not (backing / "empty").exists()
    assert os.statvfs(mnt).f_blocks == os.statvfs(backing).f_blocks


def test_other_users_get_the_kernels_permission_checks(place, fuse_share):
    backing, mnt = place / "backing", place / "mnt"
    (backing / "public.txt").write_text("for all\n")
    (backing / "secret.txt").write_text("root only\n")
    os.chmod(backing / "secret.txt", 0o600)
    (backing / "drop").mkdir(mode=0o777)
    os.chmod(backing / "drop", 0o1777)
    fuse_share(backing, mnt)

    def as_nobody(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([*AS_NOBODY, *argv], capture_output=True, text=True, cwd="/",
                              timeout=30)

    assert as_nobody("cat", str(mnt / "public.txt")).stdout == "for all\n"
    denied = as_nobody("cat", str(mnt / "secret.txt"))
    assert denied.returncode != 0 and "Permission denied" in denied.stderr
    assert as_nobody("sh", "-c", f"umask 022; echo mine > {mnt}/drop/mine.txt").returncode == 0
    st = os.lstat(backing / "drop" / "mine.txt")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (NOBODY, NOBODY, 0o644)
    os.chown(place / "copy", NOBODY, NOBODY)
    copied = as_nobody("rsync", "-aHS", f"{mnt}/public.txt", f"{place}/copy/")
    assert copied.returncode == 0, copied.stderr
    assert (place / "copy" / "public.txt").read_text() == "for all\n"


# ---------------------------------------------------------------- hanging and recovering


def test_a_frozen_share_blocks_stat_and_sigkill_still_ends_it(place, fuse_share):
    backing, mnt = place / "backing", place / "mnt"
    (backing / "file").write_bytes(b"x" * 100_000)
    share = fuse_share(backing, mnt)
    # A process that has a file open on the share when it is killed must not hang in its
    # exit closing that file.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); "
         "os.read(fd, 10); print('open', flush=True); sys.stdin.readline(); os.fstat(fd)",
         str(mnt / "file")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "open\n"

    assert share.freeze() == 0
    stat_child = subprocess.Popen(["stat", str(mnt)], stdout=subprocess.DEVNULL)
    holder.stdin.write("go\n")
    holder.stdin.flush()
    time.sleep(1.0)
    assert stat_child.poll() is None and holder.poll() is None, "a frozen share answered"
    assert wait_until_waiting(stat_child) == "S"  # killable: the request was never read
    blocked = {p.pid: p for p in share.blocked()}
    assert stat_child.pid in blocked and holder.pid in blocked
    assert blocked[holder.pid].holds == ["fd 3"]

    assert measure_kill(stat_child) < KILL_LIMIT
    assert measure_kill(holder) < KILL_LIMIT  # the close in its exit sends nothing
    assert share.blocked() == []
    share.thaw()


def test_thaw_answers_the_waiting_processes(place, fuse_share):
    backing, mnt = place / "backing", place / "mnt"
    (backing / "hello.txt").write_text("hello\n")
    share = fuse_share(backing, mnt)
    share.freeze()
    reader = subprocess.Popen(["cat", str(mnt / "hello.txt")], stdout=subprocess.PIPE, text=True)
    wait_until_waiting(reader)
    time.sleep(0.5)
    assert reader.poll() is None

    share.thaw()
    out, _ = reader.communicate(timeout=10)
    assert (reader.returncode, out) == (0, "hello\n")
    assert subprocess.run(["stat", str(mnt)], capture_output=True, timeout=10).returncode == 0


def test_rsync_killed_while_the_share_hangs_dies_at_once(place, fuse_share):
    backing, mnt, copy = place / "backing", place / "mnt", place / "copy"
    for number in range(4):
        (backing / f"big{number}.bin").write_bytes(os.urandom(4 << 20))
    share = fuse_share(backing, mnt)
    rsync = subprocess.Popen([*RSYNC, "--bwlimit=2000", f"{mnt}/", f"{copy}/"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    time.sleep(1.0)
    assert rsync.poll() is None, "rsync finished before the share hung"
    busy = share.freeze()
    time.sleep(0.5)
    group = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
             if _group_of(pid) == rsync.pid]
    assert len(group) >= 2  # rsync's sender, receiver and generator

    started = time.monotonic()
    os.killpg(rsync.pid, signal.SIGKILL)
    rsync.wait(timeout=KILL_LIMIT)
    while any(task_states(pid) and task_states(pid) != ["Z"] for pid in group):
        assert time.monotonic() - started < KILL_LIMIT, (busy, share.blocked())
        time.sleep(0.01)
    assert busy == 0


def test_a_request_caught_inside_the_stopped_daemon_holds_its_process_until_stop(place,
                                                                                  fuse_share):
    """The one case SIGKILL cannot end: the daemon had read the request when it was
    stopped. The kernel then waits uninterruptibly (state D) for the answer; stop()
    aborts the connection and the process dies."""
    backing, mnt = place / "backing", place / "mnt"
    (backing / "slow").write_text("")
    share = fuse_share(backing, mnt, slow_names=["slow"])
    child = subprocess.Popen(["stat", str(mnt / "slow")], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    # The lookup of "slow" is the request that stays in the daemon; the permission check
    # on the folder before it (a GETATTR) is answered at once, so wait until a request
    # has been in the daemon for a while.
    deadline, since = time.monotonic() + 10, None
    while since is None or time.monotonic() - since < 0.3:
        assert time.monotonic() < deadline, "the slow lookup never reached the daemon"
        since = (since or time.monotonic()) if share.in_flight() else None
        time.sleep(0.01)
    assert share.freeze(quiesce_timeout=0) == 1

    assert measure_kill(child, limit=1.5) == float("inf")
    assert task_states(child.pid) == ["D"]
    started = time.monotonic()
    assert share.stop() == []
    child.wait(timeout=KILL_LIMIT)
    assert time.monotonic() - started < 10
    assert not share.mounted and share.daemon_gone


def test_stop_leaves_no_mount_and_no_process_behind(place, fuse_share):
    backing, mnt = place / "backing", place / "mnt"
    (backing / "sub").mkdir()
    (backing / "sub" / "f").write_text("data")
    share = fuse_share(backing, mnt)
    sitter = subprocess.Popen(["sleep", "60"], cwd=mnt / "sub")  # cwd on the share
    share.freeze()
    waiter = subprocess.Popen(["ls", "-l", str(mnt / "sub")], stdout=subprocess.DEVNULL)
    wait_until_waiting(waiter)
    mount, daemon = share.mount, share.pid
    assert {p.pid for p in share.blocked()} >= {sitter.pid, waiter.pid}

    started = time.monotonic()
    left = share.stop(settle=0.5)
    took = time.monotonic() - started
    assert [p.pid for p in left] == [sitter.pid]  # still alive, with its cwd on the old mount
    assert waiter.wait(timeout=10) is not None  # answered (thawed) or failed (aborted)
    sitter.kill()
    sitter.wait()
    assert processes_on(live_mount_ids(mount), fuse_waiters=False) == []
    assert mount_on(mnt) is None and not share.mounted
    assert share.daemon_gone and not os.path.exists(f"/proc/{daemon}")
    assert os.listdir(mnt) == []  # the bare folder below
    assert took < 10
    share.stop()  # again: still fine
