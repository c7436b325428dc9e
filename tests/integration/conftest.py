"""Fixtures for the integration tests (the `world` fixture itself is in tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import World
from tests.integration.helpers import NOBODY, walk


@pytest.fixture
def nobody_world():
    """A world below a folder that user nobody can reach, owned by nobody (root only)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: runs vhpi as user nobody")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    base = Path(tempfile.mkdtemp(prefix="vhpi-nobody-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        root = base / "w"
        root.mkdir()
        world = World(root)
        for folder, subfolders, files in walk(root):
            for name in [folder, *(os.path.join(folder, n) for n in subfolders + files)]:
                os.lchown(name, NOBODY, NOBODY)
        yield world
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def small_disk_world(world):
    """The world with its destination on a fresh 2 MiB tmpfs (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root: mounts a small tmpfs as the destination")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(world.dest)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        (world.dest / ".backup_destination").write_text("")
        yield world
    finally:
        if subprocess.run(["umount", str(world.dest)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(world.dest)], capture_output=True)
