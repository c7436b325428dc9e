"""Who can read or change the backups on a multi-user Pi, tried with real other accounts
(other uids, through setpriv; a real group through groupadd): a guest cannot reach any
snapshot, an account with the laptop owner's uid cannot change a file that every snapshot
shares, device nodes and setuid programs from the share cannot be used through a snapshot,
a snapshot_group may read but not write, vhpi's own files are private whatever the umask
while what it copies keeps the share's modes and what its hooks make the user's umask, and
a normal user's run makes its destination its own only (or says how when it cannot).

The worlds here live below a folder every account can enter (pytest's tmp_path is 0700,
which would hide everything from a guest whatever vhpi does)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.conftest import World, needs_root
from tests.integration.helpers import NOBODY, describe, ino, manifest, python_for_nobody, vhpi, write_files

pytestmark = [needs_root("runs commands as other accounts (setpriv), makes groups and device nodes"),
              pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is not installed")]

#: The laptop owner's uid on the share (the files of the share carry it), and two accounts
#: of the Pi that are not vhpi's: a guest and a member of the snapshot group. Plain numbers:
#: setpriv needs no passwd entry.
LAPTOP_OWNER = 4242
GUEST = 4243
MEMBER = 4244

PHOTO = b"JFIF a photo of the family\n"
DIARY = "dear diary, nobody else reads this\n"


def as_user(uid: int, *command: str, groups=()) -> subprocess.CompletedProcess:
    """Run `command` as `uid` (its own gid; supplementary groups `groups` or none)."""
    group_args = [f"--groups={','.join(str(g) for g in groups)}"] if groups else ["--clear-groups"]
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", *group_args, *command],
                          cwd="/", stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace", timeout=60)


def with_umask(mask: str, *prefix: str) -> tuple:
    """A vhpi() prefix that starts vhpi under umask `mask` (after `prefix`, e.g. setpriv)."""
    return (*prefix, "sh", "-c", f'umask {mask} && exec "$@"', "sh")


def denied(result: subprocess.CompletedProcess) -> bool:
    return result.returncode != 0 and "Permission denied" in result.stderr


def write_job(world: World, app=None, **job_keys) -> None:
    job = {"source_ip": "127.0.0.1", "rsync_src": str(world.source), "rsync_dest": str(world.dest),
           "snapshots": {"hourly": 3, "daily": 2}, **job_keys}
    world.config.write_text(yaml.safe_dump({
        "app_cfg": {"intervals": {"hourly": 3600, "daily": 86400}, **(app or {})}, "jobs_cfg": [job]}))


def everything_below(root: Path):
    """Yield every path below `root` (itself included), by os.walk (no recursion of ours)."""
    yield str(root)
    for folder, subfolders, files in os.walk(root):
        for name in subfolders + files:
            yield os.path.join(folder, name)


@pytest.fixture
def open_world():
    """A world whose folders (root, source, destination, HOME) are all 0755 below a 0755
    folder in /tmp: as a user's `mkdir` with umask 022 makes them; root runs vhpi here."""
    base = Path(tempfile.mkdtemp(prefix="vhpi-privacy-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        (base / "w").mkdir()
        world = World(base / "w")
        for folder in (world.root, world.source, world.dest, world.home):
            os.chmod(folder, 0o755)
        yield world
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def share(open_world):
    """The open world's source as a laptop's share: a photo, a diary and a folder, owned by
    the laptop owner's uid, 0644 and 0755 as on the laptop."""
    world = open_world
    write_files(world.source, {"photo.jpg": PHOTO, "docs/diary.txt": DIARY})
    for path, mode in ((world.source / "photo.jpg", 0o644), (world.source / "docs", 0o755),
                       (world.source / "docs" / "diary.txt", 0o644)):
        os.chmod(path, mode)
        os.lchown(path, LAPTOP_OWNER, LAPTOP_OWNER)
    return world


@pytest.fixture
def snapshot_group():
    """A real group of this system for the test (unique name), removed afterwards: (name, gid)."""
    if shutil.which("groupadd") is None:
        pytest.skip("groupadd is not installed")
    name = f"vhpi-t-{uuid.uuid4().hex[:10]}"
    made = subprocess.run(["groupadd", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a group: {made.stderr.strip()}")
    try:
        import grp
        yield name, grp.getgrnam(name).gr_gid
    finally:
        subprocess.run(["groupdel", name], capture_output=True)


# ---------------------------------------------------------------- 1. a guest reaches nothing


@pytest.mark.parametrize("mask", ["000", "022"])
def test_a_guest_can_neither_read_a_snapshot_nor_list_the_destination(share, mask):
    world = share
    vhpi(world, prefix=with_umask(mask), code=0)
    vhpi(world, at="+2h", prefix=with_umask(mask), code=0)
    assert {"hourly.0", "hourly.1", "daily.0"} <= set(world.snapshots())
    assert (world.dest / "hourly.1" / "photo.jpg").read_bytes() == PHOTO   # root still reads

    for snapshot in ("hourly.0", "hourly.1", "daily.0"):
        for name in ("photo.jpg", "docs/diary.txt"):
            result = as_user(GUEST, "cat", str(world.dest / snapshot / name))
            assert denied(result), (snapshot, name, result)
            assert result.stdout == ""
    listed = as_user(GUEST, "ls", "-a", str(world.dest))
    assert denied(listed), listed
    assert as_user(GUEST, "ls", str(world.dest / ".vhpi")).returncode != 0
    assert stat.S_IMODE(os.stat(world.dest).st_mode) == 0o700


def test_a_destination_opened_again_is_made_private_on_the_next_run(share):
    world = share
    vhpi(world, code=0)
    os.chmod(world.dest, 0o755)          # someone "fixed" the permissions
    assert as_user(GUEST, "cat", str(world.dest / "hourly.0" / "photo.jpg")).stdout.encode() == PHOTO

    vhpi(world, at="+2h", code=0)
    assert stat.S_IMODE(os.stat(world.dest).st_mode) == 0o700
    assert denied(as_user(GUEST, "cat", str(world.dest / "hourly.0" / "photo.jpg")))


# ---------------------------------------------------------------- 2. the laptop owner's uid


def test_the_laptop_owners_uid_cannot_change_a_file_every_snapshot_shares(share):
    world = share
    vhpi(world, code=0)
    vhpi(world, at="+2h", code=0)
    photos = [world.dest / name / "photo.jpg" for name in ("hourly.0", "hourly.1", "daily.0")]
    assert len({ino(photo) for photo in photos}) == 1          # one inode in every snapshot
    assert os.stat(photos[0]).st_uid == LAPTOP_OWNER and stat.S_IMODE(os.stat(photos[0]).st_mode) == 0o644

    for photo in photos:
        wrote = as_user(LAPTOP_OWNER, "sh", "-c", 'printf rewritten > "$1"', "sh", str(photo))
        assert denied(wrote), (photo, wrote)
        assert denied(as_user(LAPTOP_OWNER, "rm", "-f", str(photo)))
        assert denied(as_user(LAPTOP_OWNER, "chmod", "666", str(photo)))
    for photo in photos:
        assert photo.read_bytes() == PHOTO
        assert stat.S_IMODE(os.stat(photo).st_mode) == 0o644
    assert (world.dest / "hourly.1" / "docs" / "diary.txt").read_text() == DIARY


# ---------------------------------------------------------------- 3. devices and setuid programs


def test_device_nodes_and_setuid_programs_in_a_snapshot_are_out_of_a_guests_reach(share):
    world = share
    os.mknod(world.source / "zero", 0o666 | stat.S_IFCHR, os.makedev(1, 5))   # as /dev/zero
    shutil.copy(shutil.which("id"), world.source / "id-copy")
    os.chmod(world.source / "id-copy", 0o4755)                               # setuid root
    caps = shutil.which("setcap") and shutil.copy(shutil.which("id"), world.source / "id-caps")
    if caps:
        os.chmod(caps, 0o755)
        if subprocess.run(["setcap", "cap_dac_read_search+ep", caps], capture_output=True).returncode:
            os.unlink(caps)
            caps = None
    vhpi(world, code=0)

    snapshot = world.dest / "hourly.0"
    # the danger is there (the default options keep devices, setuid bits and xattrs) ...
    assert stat.S_ISCHR(os.lstat(snapshot / "zero").st_mode)
    assert os.lstat(snapshot / "zero").st_rdev == os.makedev(1, 5)
    assert os.stat(snapshot / "id-copy").st_mode & stat.S_ISUID and os.stat(snapshot / "id-copy").st_uid == 0
    # ... but a guest cannot reach it
    # (through a shell: setpriv itself still resolves the program's path with root's
    # capabilities, so `setpriv --reuid=... DEST/hourly.0/id-copy` runs it whatever the modes)
    ran = as_user(GUEST, "sh", "-c", 'exec "$1"', "sh", str(snapshot / "id-copy"))
    assert ran.returncode != 0 and "Permission denied" in ran.stderr, ran
    assert "euid=0" not in ran.stdout
    assert denied(as_user(GUEST, "head", "-c", "4", str(snapshot / "zero")))
    assert denied(as_user(GUEST, "sh", "-c", 'printf x > "$1"', "sh", str(snapshot / "zero")))
    if caps:
        assert "cap_dac_read_search" in subprocess.run(["getcap", str(snapshot / "id-caps")],
                                                       capture_output=True, text=True).stdout
        ran = as_user(GUEST, "sh", "-c", 'exec "$1"', "sh", str(snapshot / "id-caps"))
        assert ran.returncode != 0 and "Permission denied" in ran.stderr, ran


# ---------------------------------------------------------------- 4. a snapshot group


def test_a_snapshot_group_reads_the_snapshots_but_cannot_change_them(share, snapshot_group):
    world = share
    name, gid = snapshot_group
    write_job(world, snapshot_group=name)
    result = vhpi(world, code=0)
    vhpi(world, at="+2h", code=0)

    info = os.stat(world.dest)
    assert (stat.S_IMODE(info.st_mode), info.st_gid) == (0o750, gid), describe(result, world)
    assert stat.S_IMODE(os.stat(world.dest / ".vhpi").st_mode) == 0o700
    photo = world.dest / "hourly.0" / "photo.jpg"

    member = as_user(MEMBER, "cat", str(photo), groups=[gid])
    assert member.returncode == 0 and member.stdout.encode() == PHOTO, member
    assert as_user(MEMBER, "cat", str(world.dest / "hourly.1" / "docs" / "diary.txt"),
                   groups=[gid]).stdout == DIARY
    assert as_user(MEMBER, "ls", str(world.dest), groups=[gid]).returncode == 0
    # it reads, nothing more: not the file (0644 of the laptop owner), not the snapshot folder,
    # not the destination, not vhpi's records
    assert denied(as_user(MEMBER, "sh", "-c", 'printf changed > "$1"', "sh", str(photo), groups=[gid]))
    assert denied(as_user(MEMBER, "touch", str(world.dest / "hourly.0" / "new"), groups=[gid]))
    assert denied(as_user(MEMBER, "mkdir", str(world.dest / "hourly.9"), groups=[gid]))
    assert denied(as_user(MEMBER, "mv", str(world.dest / "hourly.1"), str(world.dest / "gone"), groups=[gid]))
    assert denied(as_user(MEMBER, "ls", str(world.dest / ".vhpi"), groups=[gid]))
    assert photo.read_bytes() == PHOTO and not (world.dest / "hourly.0" / "new").exists()
    assert {"hourly.0", "hourly.1"} <= set(world.snapshots()) and "hourly.9" not in world.snapshots()
    # an account not in the group cannot enter
    assert denied(as_user(GUEST, "ls", str(world.dest)))
    assert denied(as_user(GUEST, "cat", str(photo)))
    assert denied(as_user(GUEST, "cat", str(photo), groups=[GUEST]))


# ---------------------------------------------------------------- 5. vhpi's own files


class _Ping(BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def ping_url():
    """The URL of a healthcheck server on 127.0.0.1 (answers 200 to everything)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Ping)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/{uuid.uuid4()}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("mask", ["000", "022"])
def test_vhpis_own_files_are_private_whatever_the_umask(share, ping_url, mask):
    world = share
    write_job(world, {"healthcheck_url": ping_url})
    os.chmod(world.config, 0o600)
    no_proxy = {"no_proxy": "*", "NO_PROXY": "*"}
    vhpi(world, prefix=with_umask(mask), env=no_proxy, code=0)
    vhpi(world, at="+2h", prefix=with_umask(mask), env=no_proxy, code=0)
    vhpi(world, "status", prefix=with_umask(mask), env=no_proxy, code=0)

    debug = world.vhpi_home / "debug.log"
    assert ping_url in debug.read_text(), "the test needs the secret in debug.log"
    homes = [world.home / ".very_hungry_pi", world.dest / ".vhpi"]
    seen = set()
    for home in homes:
        for path in everything_below(home):
            info = os.lstat(path)
            seen.add(os.path.basename(path))
            if stat.S_ISDIR(info.st_mode):
                assert stat.S_IMODE(info.st_mode) == 0o700, (path, oct(info.st_mode))
            else:
                assert stat.S_IMODE(info.st_mode) & 0o077 == 0, (path, oct(info.st_mode))
    assert {"config.cache.json", "debug.log", "info.log", "last-runs.json", "state.json"} <= seen, seen
    for name in ("config.cache.json", "debug.log", "info.log", "last-runs.json"):
        assert (world.vhpi_home / name).exists(), name
    assert (world.dest / ".vhpi" / "state.json").exists()

    for secret in (debug, world.vhpi_home / "config.cache.json", world.config):
        result = as_user(GUEST, "cat", str(secret))
        assert denied(result), (secret, result)
        assert ping_url not in result.stdout
    # and the files themselves, even where a guest can enter the folder
    os.chmod(world.home / ".very_hungry_pi", 0o755)
    for folder in [world.vhpi_home, *world.vhpi_home.parents]:
        if folder == world.home:
            break
        os.chmod(folder, 0o755)
    assert denied(as_user(GUEST, "cat", str(debug)))
    assert denied(as_user(GUEST, "cat", str(world.vhpi_home / "config.cache.json")))


def test_copies_keep_the_shares_modes_and_hooks_get_the_users_umask(open_world):
    world = open_world
    write_files(world.source, {"shared.txt": "0644 on the laptop", "group.txt": "0664",
                               "private.txt": "0600", "folder/inside.txt": "0644"})
    for name, mode in (("shared.txt", 0o644), ("group.txt", 0o664), ("private.txt", 0o600),
                       ("folder", 0o775), ("folder/inside.txt", 0o644)):
        os.chmod(world.source / name, mode)
    made = world.root / "made-by-hook"
    write_job(world, hooks={"before": f"touch {made}-before && mkdir {made}-folder",
                            "after_success": f"touch {made}-after"})

    vhpi(world, prefix=with_umask("077"), code=0)
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert stat.S_IMODE(os.stat(world.dest / "hourly.0" / "shared.txt").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(world.dest / "hourly.0" / "group.txt").st_mode) == 0o664
    assert stat.S_IMODE(os.stat(world.dest / "hourly.0" / "folder").st_mode) == 0o775
    assert stat.S_IMODE(os.stat(world.dest / "hourly.0").st_mode) == 0o755
    for suffix in ("-before", "-after"):   # hooks get the user's umask, 077 here
        assert stat.S_IMODE(os.stat(f"{made}{suffix}").st_mode) == 0o600
    os.unlink(f"{made}-before")
    os.unlink(f"{made}-after")
    os.rmdir(f"{made}-folder")

    vhpi(world, at="+2h", prefix=with_umask("022"), code=0)
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    for suffix in ("-before", "-after"):   # ... 022 now: 0644, not vhpi's own 0600
        assert stat.S_IMODE(os.stat(f"{made}{suffix}").st_mode) == 0o644, suffix
    assert stat.S_IMODE(os.stat(f"{made}-folder").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(world.vhpi_home / "debug.log").st_mode) == 0o600


# ---------------------------------------------------------------- 6. a normal user's own backup


@pytest.fixture
def nobody_python():
    python, env = python_for_nobody()
    if python is None:
        pytest.skip("no python that user nobody can run with vhpi's dependencies")
    return python, env


AS_NOBODY = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")


def test_a_normal_users_destination_becomes_its_own_only(nobody_world, nobody_python):
    world = nobody_world
    python, env = nobody_python
    write_files(world.source, {"photo.jpg": PHOTO})
    os.chmod(world.source / "photo.jpg", 0o644)
    os.lchown(world.source / "photo.jpg", NOBODY, NOBODY)
    os.chmod(world.dest, 0o755)
    os.chmod(world.home, 0o755)

    result = vhpi(world, prefix=with_umask("022", *AS_NOBODY), python=python, env=env, code=0)
    assert result.stderr == "", describe(result, world)
    info = os.stat(world.dest)
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o700, NOBODY)
    assert (world.dest / "hourly.0" / "photo.jpg").read_bytes() == PHOTO
    assert os.stat(world.dest / ".vhpi" / "state.json").st_uid == NOBODY
    assert stat.S_IMODE(os.stat(world.dest / ".vhpi").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(world.vhpi_home / "debug.log").st_mode) == 0o600
    assert "cannot make" not in world.info_log
    assert denied(as_user(GUEST, "cat", str(world.dest / "hourly.0" / "photo.jpg")))
    assert denied(as_user(GUEST, "ls", str(world.dest)))
    # its own user still works with its backups
    assert as_user(NOBODY, "cat", str(world.dest / "hourly.0" / "photo.jpg")).stdout.encode() == PHOTO


def test_a_destination_of_another_user_that_vhpi_cannot_change_is_warned_about(nobody_world, nobody_python):
    world = nobody_world
    python, env = nobody_python
    write_files(world.source, {"photo.jpg": PHOTO})
    os.lchown(world.source / "photo.jpg", NOBODY, NOBODY)
    os.chown(world.dest, 0, NOBODY)      # root's folder that nobody's group may write in
    os.chmod(world.dest, 0o775)

    result = vhpi(world, prefix=AS_NOBODY, python=python, env=env)
    assert (world.dest / "hourly.0" / "photo.jpg").read_bytes() == PHOTO, describe(result, world)
    assert stat.S_IMODE(os.stat(world.dest).st_mode) == 0o775          # vhpi could not change it
    warnings = [line for line in world.info_log.splitlines()
                if "WARNING" in line and f"cannot make {world.dest} private" in line]
    assert len(warnings) == 1, describe(result, world)
    assert f"chmod 700 {world.dest}" in warnings[0], warnings[0]
    assert "belongs to another user" in warnings[0]
    assert result.returncode == 0, describe(result, world)
    # vhpi's own folder in it is private all the same
    assert stat.S_IMODE(os.stat(world.dest / ".vhpi").st_mode) == 0o700

    # the advice, followed word for word (as root), makes the next run work and private
    advice = warnings[0].split("run: ", 1)[1]
    subprocess.run(["sh", "-c", advice.replace("sudo ", "")], check=True)
    result = vhpi(world, at="+2h", prefix=AS_NOBODY, python=python, env=env)
    assert result.returncode == 0 and (world.dest / "hourly.1").is_dir(), (advice, describe(result, world))
    info = os.stat(world.dest)
    assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == NOBODY, advice
    assert denied(as_user(GUEST, "ls", str(world.dest)))


def test_a_snapshot_group_vhpis_user_is_not_in_still_leaves_the_destination_closed(
        nobody_world, nobody_python, snapshot_group):
    world = nobody_world
    python, env = nobody_python
    name, gid = snapshot_group
    write_files(world.source, {"photo.jpg": PHOTO})
    os.lchown(world.source / "photo.jpg", NOBODY, NOBODY)
    os.chmod(world.dest, 0o755)
    write_job(world, snapshot_group=name)

    result = vhpi(world, prefix=AS_NOBODY, python=python, env=env, code=0)
    info = os.stat(world.dest)
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o700, NOBODY), describe(result, world)
    assert denied(as_user(GUEST, "ls", str(world.dest)))
    assert denied(as_user(MEMBER, "ls", str(world.dest), groups=[gid]))   # not shared (yet)
    warnings = [line for line in world.info_log.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and f"the snapshot_group {name}" in warnings[0], world.info_log
    assert "not a member" in warnings[0] and "stays 0700" in warnings[0], warnings[0]

    # the advice, followed (as root), shares it with the group from the next run on
    advice = warnings[0].split("run: ", 1)[1]
    subprocess.run(["sh", "-c", advice.replace("sudo ", "")], check=True)
    result = vhpi(world, at="+2h", prefix=AS_NOBODY, python=python, env=env, code=0)
    info = os.stat(world.dest)
    assert (stat.S_IMODE(info.st_mode), info.st_gid) == (0o750, gid), (advice, describe(result, world))
    assert "WARNING" not in world.info_log.split(warnings[0], 1)[1], world.info_log
    read = as_user(MEMBER, "cat", str(world.dest / "hourly.0" / "photo.jpg"), groups=[gid])
    assert read.stdout.encode() == PHOTO, read
    assert denied(as_user(GUEST, "ls", str(world.dest)))
