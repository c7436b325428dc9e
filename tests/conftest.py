"""Shared test helpers: a throw-away vhpi world (source, destination, home, config), the fake
clocks (libfaketime's environment for a real process, `Clock` for code that takes a clock)
and a skip for tests that need root. tests.integration.helpers runs vhpi in a world."""

from __future__ import annotations

import glob
import math
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Dict, Optional

import pytest
import yaml

from vhpi.decide.paths import state_folder

REPO = Path(__file__).resolve().parent.parent
#: libfaketime, preloaded directly. The `faketime` command would also make a named shared
#: memory segment per process, which a SIGKILL (as the crash tests send) leaves behind in
#: /dev/shm; a later `faketime` that gets the same pid then fails to start.
LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
                        + glob.glob("/usr/lib/faketime/libfaketime.so.1")), None)


def fake_clock(at: Optional[str]) -> Dict[str, str]:
    """Return the environment that runs a program under libfaketime with its clock at `at`:
    an offset ('+2h', '-400d', '+90m') moves it; libfaketime's own forms
    '@2026-03-29 01:30:00' (start there, ticking) and '1970-01-02 00:00:00' (frozen there)
    are passed on as they are; any other time that `date -d` reads ('2026-10-25 00:30:00
    UTC', '2026-10-25 02:30:00 +0200') becomes the offset to it, from which the clock ticks
    on. An empty dict for None; the test is skipped when libfaketime is not installed.

    Set it on the process that runs vhpi itself, not on a wrapper that changes user
    (setpriv) before it: libfaketime's shared semaphore must be made by the user that runs
    vhpi (tests.integration.helpers.vhpi_command does this)."""
    if at is None:
        return {}
    if LIBFAKETIME is None:
        pytest.skip("libfaketime is not installed (Debian package faketime)")
    if at[:1] in "+-" or re.fullmatch(r"@?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", at):
        spec = at
    else:
        target = int(subprocess.run(["date", "-d", at, "+%s"], check=True, capture_output=True,
                                    text=True).stdout)
        spec = f"{math.ceil(target - time.time()):+d}"  # never a moment before `at`
    return {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": spec}


class Clock:
    """A clock for code that takes one (vhpi.act.progress.TerminalProgress(clock=...)): it
    says `now`, which the test moves on by hand."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def needs_root(reason: str):
    """Skip a test that needs root (mounts, namespaces, other users), saying why."""
    return pytest.mark.skipif(os.geteuid() != 0, reason=f"needs root: {reason}")


class World:
    """A source folder with its sentinel, a marked destination, a HOME and a config file."""

    def __init__(self, root: Path):
        self.root = root
        self.source = root / "source"
        self.dest = root / "dest"
        self.home = root / "home"
        self.config = root / "config.yaml"
        for folder in (self.source, self.dest, self.home):
            folder.mkdir()
        (self.source / ".backup_valid").write_text("")
        (self.dest / ".backup_destination").write_text("")
        self.write_config()

    @property
    def vhpi_home(self) -> Path:
        """vhpi's folder for this world's config (~/.very_hungry_pi/configs/config-<hash>:
        the config is not ~/.very_hungry_pi/config.yaml; see vhpi.decide.paths.state_folder)."""
        return Path(state_folder(os.path.abspath(str(self.config)), str(self.home)))

    @property
    def info_log(self) -> str:
        path = self.vhpi_home / "info.log"
        return path.read_text() if path.exists() else ""

    def write_config(self, intervals: Optional[Dict[str, int]] = None,
                     snapshots: Optional[Dict[str, int]] = None, **job_keys) -> None:
        job = {"source_ip": "127.0.0.1", "rsync_src": str(self.source),
               "rsync_dest": str(self.dest), "snapshots": snapshots or {"hourly": 3, "daily": 2}}
        job.update(job_keys)
        config = {"app_cfg": {"intervals": intervals or {"hourly": 3600, "daily": 86400}},
                  "jobs_cfg": [job]}
        self.config.write_text(yaml.safe_dump(config))

    def env(self, **extra: str) -> Dict[str, str]:
        env = dict(os.environ, HOME=str(self.home), PYTHONPATH=str(REPO), NO_FAKE_STAT="1")
        env.update(extra)
        return env

    def snapshots(self) -> list:
        return sorted(p.name for p in self.dest.iterdir() if p.name[0] != "." and p.name != "backup.latest")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.fixture(autouse=True)
def _the_users_umask():
    """Every test starts with umask 022 and the umask is restored after it: a test that
    calls vhpi.main.main() in this process (which makes vhpi's umask private, 077) must not
    leave it to later tests, whose own files would then be 0600 (a chmod to 0600 a no-op)."""
    before = os.umask(0o022)
    yield
    os.umask(before)
