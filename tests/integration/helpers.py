"""Helpers for the integration tests: run the real `python -m vhpi.main` (optionally under
faketime, another user or a network namespace), write configs and trees, and describe trees
by content (manifest) or by every inode and time in them (listing)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import yaml

from tests.procs import process_state, running  # noqa: F401  (the tests import them from here)
from tests.conftest import REPO, fake_clock
from vhpi.act.fd_walk import OpenPath, join, walk_tree
from vhpi.act.layout import UNFINISHED_WORK_PREFIXES

NOBODY = 65534
#: the names a cut-short run leaves in DEST/.vhpi/work (vhpi's own list, so none is missed)
WORK_PREFIXES = UNFINISHED_WORK_PREFIXES


# ---------------------------------------------------------------- running vhpi

def vhpi_command(world, *args: str, at: Optional[str] = None, prefix: Sequence[str] = (),
                 env: Optional[Dict[str, str]] = None, python: Optional[str] = None,
                 config: Union[bool, str, Path] = True,
                 script: Optional[str] = None) -> Tuple[List[str], Dict[str, str]]:
    """Return (argv, environment) that run vhpi ARGS in `world`: `python -m vhpi.main
    --config CONFIG ARGS` with the world's environment (HOME, PYTHONPATH, NO_FAKE_STAT) and
    `env`. `config` is the world's config (True), another path, or none (False: vhpi's
    default, or what ARGS say). `script` runs `python -c SCRIPT` instead of the module (a
    script that patches something, then calls vhpi.main.main). `at` sets the clock
    (tests.conftest.fake_clock); `prefix` runs it all through a command (setpriv to another
    user, a umask): the clock is then set after the prefix, by `env`, so that libfaketime's
    shared semaphore is made by the user that runs vhpi, not by root before setpriv."""
    clock = fake_clock(at)
    after_prefix: List[str] = []
    if prefix and clock:
        after_prefix = ["env", *(f"{key}={value}" for key, value in clock.items())]
        clock = {}
    if config is True:
        config = world.config
    argv = [*prefix, *after_prefix, python or sys.executable,
            *(("-c", script) if script is not None else ("-m", "vhpi.main")),
            *(("--config", str(config)) if config else ()), *args]
    return argv, world.env(**{**clock, **(env or {})})


def describe(result: subprocess.CompletedProcess, world) -> str:
    return (f"exit {result.returncode}\n--- stdout:\n{result.stdout}\n--- stderr:\n{result.stderr}"
            f"\n--- info.log:\n{world.info_log}")


def vhpi(world, *args: str, at: Optional[str] = None, prefix: Sequence[str] = (),
         env: Optional[Dict[str, str]] = None, python: Optional[str] = None,
         config: Union[bool, str, Path] = True, umask: Optional[int] = None,
         cwd: Optional[Union[str, Path]] = None, code: Optional[int] = None,
         timeout: float = 120) -> subprocess.CompletedProcess:
    """Run vhpi to the end as a real process (see vhpi_command; stdin is /dev/null, stdout
    and stderr are pipes, as under cron), in `cwd` (the world's root) under `umask` (the
    test's own); assert its exit code when `code` is given."""
    argv, environment = vhpi_command(world, *args, at=at, prefix=prefix, env=env, python=python,
                                     config=config)
    result = subprocess.run(argv, env=environment, cwd=cwd or world.root, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, errors="replace", timeout=timeout,
                            preexec_fn=None if umask is None else (lambda: os.umask(umask)))
    if code is not None:
        assert result.returncode == code, describe(result, world)
    return result


def start_vhpi(world, *args: str, at: Optional[str] = None, prefix: Sequence[str] = (),
               env: Optional[Dict[str, str]] = None, python: Optional[str] = None,
               config: Union[bool, str, Path] = True, script: Optional[str] = None,
               log_to: Optional[Path] = None, **popen) -> subprocess.Popen:
    """Start vhpi (see vhpi_command) in the background, in its own session (so that its
    whole process group can be killed at once), stdin /dev/null, stdout and stderr together
    into `log_to` (or /dev/null); `popen` overrides any of these (stdout=subprocess.PIPE,
    start_new_session=False, ...)."""
    argv, environment = vhpi_command(world, *args, at=at, prefix=prefix, env=env, python=python,
                                     config=config, script=script)
    out = open(log_to, "wb") if log_to else subprocess.DEVNULL
    options = dict(cwd=world.root, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                   start_new_session=True)
    try:
        return subprocess.Popen(argv, env=environment, **{**options, **popen})
    finally:
        if log_to:
            out.close()


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the whole process group of a vhpi started with start_vhpi (its own session),
    also when vhpi itself has ended and only its children are left; reap vhpi."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def wait_or_kill_group(process: subprocess.Popen, timeout: float = 60) -> int:
    """Wait for a vhpi started with start_vhpi (its own session); past `timeout`, SIGKILL
    its whole process group. Returns its exit status."""
    try:
        return process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            kill_group(process)


# ---------------------------------------------------------------- another user

def _dependency_folders() -> list:
    folders = []
    for name in ("yaml", "schema", "pythonping"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        folder = os.path.dirname(os.path.dirname(os.path.abspath(module.__file__)))
        if folder not in folders:
            folders.append(folder)
    return folders


def python_for_nobody() -> Tuple[Optional[str], Dict[str, str]]:
    """Return (a python that user nobody can run, also through faketime, with vhpi and its
    dependencies importable, the env it needs), or (None, {}) when there is none (e.g. the
    venv's interpreter lives under /root)."""
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), *_dependency_folders()])}
    candidates = [sys.executable, "/usr/bin/python3", shutil.which("python3")]
    for python in dict.fromkeys(c for c in candidates if c):
        probe = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "env",
             *(f"{key}={value}" for key, value in fake_clock("+0").items()), python, "-c",
             "import vhpi.main, yaml, schema"],
            env=dict(os.environ, **env), cwd="/", capture_output=True, timeout=60)
        if probe.returncode == 0:
            return python, env
    return None, {}


# ---------------------------------------------------------------- config and files

def write_config(world, *, intervals: Optional[Dict[str, int]] = None,
                 snapshots: Optional[Dict[str, int]] = None,
                 exclude_lib: Optional[Dict[str, List[str]]] = None, **job_keys) -> None:
    """Like World.write_config, plus app_cfg.exclude_lib."""
    job = {"source_ip": "127.0.0.1", "rsync_src": str(world.source),
           "rsync_dest": str(world.dest), "snapshots": snapshots or {"hourly": 3, "daily": 2}}
    job.update(job_keys)
    app = {"intervals": intervals or {"hourly": 3600, "daily": 86400}}
    if exclude_lib is not None:
        app["exclude_lib"] = exclude_lib
    world.config.write_text(yaml.safe_dump({"app_cfg": app, "jobs_cfg": [job]}))


Content = Union[str, bytes]


def write_files(root: Union[str, Path], files: Dict[Union[str, bytes], Content],
                mtime: Optional[float] = None) -> None:
    """Write `files` ({relative path: text or bytes}) below `root`, making folders.

    `mtime` sets the files' modification time: rsync's quick check (size and mtime) would
    miss a same-size rewrite within the same second, so tests that rewrite files give each
    state its own mtime, as real edits minutes apart have.
    """
    root_b = os.fsencode(str(root))
    for relative, content in files.items():
        path = os.path.join(root_b, os.fsencode(relative))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(content.encode() if isinstance(content, str) else content)
        if mtime is not None:
            os.utime(path, (mtime, mtime))


def read(path: Union[str, Path]) -> str:
    return Path(path).read_text()


def ino(path: Union[str, Path]) -> int:
    return os.lstat(path).st_ino


# ---------------------------------------------------------------- describing trees

_digests: Dict[tuple, str] = {}


def _b(path) -> bytes:
    return path if isinstance(path, bytes) else os.fsencode(str(path))


def _digest(name: bytes, st: os.stat_result, dir_fd: Optional[int] = None) -> str:
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _digests:
        digest = hashlib.sha1()
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        with open(fd, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _digests[key] = digest.hexdigest()
    return _digests[key]


def _entries(root: bytes) -> Iterator[Tuple[bytes, os.stat_result, bytes, Optional[int]]]:
    """Yield (relative path, lstat, name, dir_fd) for `root` itself (b"", its path, None)
    and everything below it, folders before what they hold. The walk goes by open folders
    (vhpi.act.fd_walk), so any depth works; name and dir_fd are valid until the next step."""
    st = os.lstat(root)
    yield b"", st, root, None
    if not stat.S_ISDIR(st.st_mode):
        return
    with OpenPath.open(root, follow=False) as walk:
        for entries in walk_tree(walk):
            for entry in entries:
                yield (join(walk.path, entry.name), os.lstat(entry.name, dir_fd=walk.fd),
                       entry.name, walk.fd)


def manifest(root: Union[str, Path]) -> Dict[bytes, tuple]:
    """Return {relative path (bytes): what it is}: folders with their mode, files with mode
    and content digest, symlinks with their target. Two trees with the same manifest hold
    the same data; inodes and times are not part of it. Any depth works."""
    found: Dict[bytes, tuple] = {}
    for relative, st, name, dir_fd in _entries(_b(root)):
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            found[relative] = ("d", mode)
        elif stat.S_ISLNK(st.st_mode):
            found[relative] = ("l", os.readlink(name, dir_fd=dir_fd))
        elif stat.S_ISREG(st.st_mode):
            found[relative] = ("f", mode, _digest(name, st, dir_fd))
        else:
            found[relative] = ("other", st.st_mode)
    return found


def listing(root: Union[str, Path]) -> Dict[bytes, tuple]:
    """Return {relative path: (kind, inode, mode, uid, gid, size, nlink, mtime_ns, ctime_ns)}
    for everything below `root` (hidden files included): any write, link, rename, chmod
    or touch shows up as a difference. Any depth works."""
    root_b = _b(root)
    if not os.path.lexists(root_b):
        return {}
    return {relative: (stat.S_IFMT(st.st_mode), st.st_ino, st.st_mode, st.st_uid, st.st_gid,
                       st.st_size, st.st_nlink, st.st_mtime_ns, st.st_ctime_ns)
            for relative, st, _, _ in _entries(root_b)}


def without_link_counts(found: Dict[bytes, tuple]) -> Dict[bytes, tuple]:
    """A listing without link counts and ctimes: what a snapshot must keep even while
    backup.latest lets go of (unlinks) some of the inodes it shares with it."""
    return {path: entry[:6] + entry[7:8] for path, entry in found.items()}


def assert_same_listing(before: Dict[bytes, tuple], after: Dict[bytes, tuple]) -> None:
    """Assert two listings are equal, naming what differs."""
    if before == after:
        return
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    raise AssertionError(f"tree changed: added {added[:20]}, removed {removed[:20]}, "
                         f"changed {[(k, before[k], after[k]) for k in changed[:10]]}")


# ---------------------------------------------------------------- destination state

def numbers(world, interval: str) -> List[int]:
    """The n of every folder named exactly `<interval>.<n>` in the destination."""
    pattern = re.compile(re.escape(interval) + r"\.(0|[1-9][0-9]*)")
    return sorted(int(m.group(1)) for name in os.listdir(world.dest)
                  for m in [pattern.fullmatch(name)] if m)


def state(world) -> Dict[str, float]:
    with open(world.dest / ".vhpi" / "state.json", encoding="utf-8") as handle:
        return json.load(handle)["snapshots"]


def work_leftovers(world) -> List[str]:
    work = world.dest / ".vhpi" / "work"
    if not work.exists():
        return []
    return sorted(name for name in os.listdir(work) if name.startswith(WORK_PREFIXES))


def debug_log(world) -> str:
    path = world.vhpi_home / "debug.log"
    return path.read_text(errors="replace") if path.exists() else ""


def job_line(world) -> str:
    """The last info.log line about the job."""
    lines = [line for line in world.info_log.splitlines() if " job " in line]
    assert lines, world.info_log
    return lines[-1]


def snapshot_dirs(world) -> Dict[str, int]:
    """{snapshot folder name: its inode}: tells a renamed snapshot from a rebuilt one."""
    return {name: ino(world.dest / name) for name in world.snapshots()}


def copy_tree(source: Union[str, Path], target: Union[str, Path]) -> None:
    """`cp -a` (keeps modes, times and hard links inside the tree)."""
    subprocess.run(["cp", "-a", "--", str(source), str(target)], check=True)


def human(count: int) -> str:
    """Independent rendering of a byte count as vhpi's info.log shows it."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def walk(root):
    """Yield (folder, subfolders, files) for every folder below `root` (str or bytes), top
    down, as os.walk does (a symlink to a folder counts as a subfolder and is not entered;
    sorting or removing subfolders in place decides what is walked next), but with a stack
    instead of one recursion per folder level (Python 3.11's os.walk recurses)."""
    pending = [root]
    while pending:
        folder = pending.pop()
        subfolders, files, links = [], [], set()
        try:
            with os.scandir(folder) as listing:
                for entry in listing:
                    try:
                        is_folder = entry.is_dir()
                    except OSError:  # a symlink loop, say: not a folder (as os.walk)
                        is_folder = False
                    (subfolders if is_folder else files).append(entry.name)
                    if is_folder and entry.is_symlink():
                        links.add(entry.name)
        except OSError:
            continue
        yield folder, subfolders, files
        pending.extend(os.path.join(folder, name) for name in reversed(subfolders)
                       if name not in links)


def lock_free(world, *destinations) -> bool:
    """True when no process holds the world's vhpi.lock, nor the lock of any of
    `destinations` (each job's destination folder is locked while a run works on it)."""
    for path, flags in ((world.vhpi_home / "vhpi.lock", os.O_RDWR),
                        *((dest, os.O_RDONLY | os.O_DIRECTORY) for dest in destinations)):
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)  # closing drops our lock again
    return True


def second_job(world, files=None):
    """Make a second job's source (marked, holding `files`, default one file) and marked
    destination beside the world's; return (its source, its destination)."""
    source, dest = world.root / "other-source", world.root / "other-dest"
    for folder in (source, dest):
        folder.mkdir()
    (source / ".backup_valid").write_text("")
    (dest / ".backup_destination").write_text("")
    write_files(source, files or {"b.txt": "b"})
    return source, dest


def write_jobs(world, jobs, intervals, **app_keys) -> None:
    """Write a config with `jobs` ([(name, source, destination, keep counts)]), the
    `intervals` and more app_cfg keys."""
    world.config.write_text(yaml.safe_dump({
        "app_cfg": {"intervals": intervals, **app_keys},
        "jobs_cfg": [{"name": name, "source_ip": "127.0.0.1", "rsync_src": str(source),
                      "rsync_dest": str(dest), "snapshots": keep}
                     for name, source, dest, keep in jobs]}))