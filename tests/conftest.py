"""Shared test helpers: a throw-away vhpi world (source, destination, home, config) and a way
to run `python -m vhpi.main` in it as a real subprocess."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
#: libfaketime, preloaded directly. The `faketime` command would also make a named shared
#: memory segment per process, which a SIGKILL (as the crash tests send) leaves behind in
#: /dev/shm; a later `faketime` that gets the same pid then fails to start.
LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
                        + glob.glob("/usr/lib/faketime/libfaketime.so.1")), None)


def faketime_prefix(spec: Optional[str]) -> List[str]:
    """Return an argv prefix that runs a command under libfaketime's FAKETIME `spec`:
    '+2h' / '-400d' move the clock, '@2026-03-29 01:30:00' starts it there,
    '1970-01-02 00:00:00' freezes it there. An empty list for None."""
    if spec is None:
        return []
    if LIBFAKETIME is None:
        pytest.skip("libfaketime is not installed (Debian package faketime)")
    return ["env", f"LD_PRELOAD={LIBFAKETIME}", f"FAKETIME={spec}"]


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
        return self.home / ".very_hungry_pi"

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

    def argv(self, *args: str, prefix: Sequence[str] = ()) -> list:
        return [*prefix, sys.executable, "-m", "vhpi.main", "--config", str(self.config), *args]

    def run(self, *args: str, prefix: Sequence[str] = (), check_code: Optional[int] = None,
            **popen) -> subprocess.CompletedProcess:
        """Run vhpi to the end; assert its exit code when `check_code` is given."""
        result = subprocess.run(self.argv(*args, prefix=prefix), env=self.env(), cwd=self.root,
                                capture_output=True, text=True, timeout=300, **popen)
        if check_code is not None:
            assert result.returncode == check_code, (result.returncode, result.stdout, result.stderr,
                                                     self.info_log)
        return result

    def run_at(self, offset: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        """Run vhpi with the clock moved by `offset` (faketime syntax, e.g. '+2h', '-400d')."""
        return self.run(*args, prefix=faketime_prefix(offset), **kwargs)

    def snapshots(self) -> list:
        return sorted(p.name for p in self.dest.iterdir() if p.name[0] != "." and p.name != "backup.latest")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)
