"""What vhpi writes for people (info.log, the terminal) and for debugging (debug.log)."""

import shlex
import shutil
import subprocess

import pytest

from tests.integration.helpers import vhpi, vhpi_command


def test_missing_delete_is_warned_about_in_info_log(world):
    world.write_config(rsync_options="-a")
    vhpi(world, code=0)
    assert "WARNING job dest: jobs_cfg[0].rsync_options: no --delete" in world.info_log


def test_default_options_give_no_delete_warning(world):
    vhpi(world, code=0)
    assert "no --delete" not in world.info_log


def test_debug_log_has_the_exact_rsync_argument_list_and_output(world):
    (world.source / "a.txt").write_text("a")
    vhpi(world, code=0)
    debug = (world.vhpi_home / "debug.log").read_text()
    assert (f"running: ['rsync', '-aHAXS', '--delete', '--numeric-ids', "
            f"'--temp-dir={world.dest}/.vhpi/work/rsync-tmp', '--stats', "
            f"'--no-human-readable', '--out-format=vhpi-item:%i %n%L', "
            f"'{world.source}/', '{world.dest}/backup.latest/']") in debug
    assert "rsync: vhpi-item:>f+++++++++ a.txt" in debug
    assert "rsync: Number of regular files transferred: 2" in debug


def test_info_log_rotates_by_size_instead_of_growing(world):
    world.vhpi_home.mkdir(parents=True)
    (world.vhpi_home / "info.log").write_text("x" * (1 << 20) + "\n")
    vhpi(world, code=0)
    rotated = world.vhpi_home / "info.log.1"
    assert rotated.exists() and rotated.stat().st_size > (1 << 20)
    assert (world.vhpi_home / "info.log").stat().st_size < 1000
    assert "job dest: due hourly, daily; done" in world.info_log


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux `script` for a terminal")
def test_a_run_on_a_terminal_shows_the_info_lines(world):
    argv, env = vhpi_command(world)
    result = subprocess.run(["script", "-qec", shlex.join(argv), "/dev/null"], env=env,
                            cwd=world.root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result
    assert "job dest: due hourly, daily; done:" in result.stdout
