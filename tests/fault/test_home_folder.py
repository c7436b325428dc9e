"""vhpi's own folder on the SD card (~/.very_hungry_pi: logs, records, lock, config cache)
turns read-only (ext4 errors=remount-ro on a worn card) or fills up. The backup disk is
fine, so the backup still happens; what vhpi cannot write is said plainly, once, naming
that folder (never "the destination disk is full"), info.log's lines go to stderr instead
(cron mails them; under systemd the journal has them), the run exits 1, no traceback, and
`vhpi status` reports the folder."""

import json
import os
import subprocess

import pytest

from tests.conftest import needs_root
from tests.fault.fault_helpers import Mounts
from tests.integration.helpers import manifest, vhpi, write_files

pytestmark = needs_root("mounts a tmpfs as HOME")


@pytest.fixture
def home_on_tmpfs(world):
    mounts = Mounts()
    mounts.tmpfs(world.home, size="1m")
    try:
        yield world, mounts
    finally:
        mounts.cleanup()


def _fill(folder) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_read_only_home_still_backs_up_and_says_so(home_on_tmpfs, campaign):
    world, _ = home_on_tmpfs
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, at="-2h", code=0)
    write_files(world.source, {"b.txt": "b"})
    subprocess.run(["mount", "-o", "remount,ro", str(world.home)], check=True)

    result = vhpi(world, code=1)
    campaign.add("home-folder cases")

    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert manifest(world.dest / "hourly.0") == manifest(world.source), "the backup still happened"
    assert "job dest: due hourly; done:" in result.stderr, "info.log's lines go to stderr"
    assert result.stderr.count("vhpi cannot write in its own folder") == 1, result.stderr
    assert f"{world.vhpi_home} is not writable (Read-only file system" in result.stderr
    status = vhpi(world, "status", code=1)
    assert f"PROBLEM: vhpi's folder {world.vhpi_home} is not writable" in status.stdout
    assert json.loads(vhpi(world, "status", "--json", code=1).stdout)["home_problem"]


def test_a_full_home_still_backs_up_and_names_the_full_folder(home_on_tmpfs, campaign):
    world, _ = home_on_tmpfs
    write_files(world.source, {"a.txt": "a"})
    world.vhpi_home.mkdir(parents=True)
    _fill(world.home)  # before the first run: destinations.json must be written too

    result = vhpi(world, code=1)
    campaign.add("home-folder cases")

    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert result.stderr.count("vhpi cannot write in its own folder") == 1, result.stderr
    assert f"the disk holding {world.vhpi_home} is full (the backup disk is not)" in result.stderr
    assert "destination disk is full" not in result.stderr
    assert "job dest: due hourly, daily; done:" in result.stderr
    status = vhpi(world, "status", code=1)
    assert f"PROBLEM: the disk holding {world.vhpi_home} is full" in status.stdout
