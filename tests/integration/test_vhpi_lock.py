"""One run at a time: a second run started while the first holds the lock leaves at once,
and a run killed with SIGKILL leaves no stale lock once its children are gone."""

import fcntl
import os
import signal
import time

import pytest

from tests.integration.helpers import (assert_same_listing, listing, manifest, start_vhpi, vhpi,
                                       work_leftovers, write_files)

SLEEP = 5


@pytest.fixture
def slow_rsync(world):
    """A fake `rsync` first in PATH that, the first time it runs, announces itself and sleeps
    before running the real one (so a vhpi run takes SLEEP s longer)."""
    folder = world.root / "fakebin"
    folder.mkdir()
    marker = world.root / "rsync-started"
    script = folder / "rsync"
    script.write_text(
        "#!/bin/sh\n"
        'if [ ! -e "$VHPI_TEST_MARKER" ]; then : > "$VHPI_TEST_MARKER"; sleep %d; fi\n'
        'exec /usr/bin/rsync "$@"\n' % SLEEP)
    script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}", "VHPI_TEST_MARKER": str(marker)}, marker


def _wait_for(path, timeout=20):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _lock_is_free(world) -> bool:
    fd = os.open(world.vhpi_home / "vhpi.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops our lock again
    return True


def test_a_second_run_leaves_at_once_while_the_first_holds_the_lock(world, slow_rsync):
    env, marker = slow_rsync
    write_files(world.source, {"a.txt": "a", "b/c.txt": "c"})
    started = time.monotonic()
    first = start_vhpi(world, env=env, log_to=world.root / "first.out")
    try:
        _wait_for(marker)
        dest_before, source_before = listing(world.dest), listing(world.source)
        second_started = time.monotonic()
        second = vhpi(world)
        second_took = time.monotonic() - second_started
        assert_same_listing(dest_before, listing(world.dest))
        assert_same_listing(source_before, listing(world.source))
        assert first.poll() is None, "the first run should still be going"
        assert first.wait(timeout=60) == 0, (world.root / "first.out").read_text()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    first_took = time.monotonic() - started

    assert second.returncode == 0 and second.stdout == second.stderr == "", second
    assert second_took < 2.5 < SLEEP <= first_took, (second_took, first_took)
    assert f"another vhpi run is still going (pid {first.pid}" in world.info_log
    assert world.snapshots() == ["daily.0", "hourly.0"]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert world.info_log.count("job dest: due hourly, daily; done:") == 1


def test_after_sigkill_the_lock_is_free_once_the_children_are_gone(world, slow_rsync):
    env, marker = slow_rsync
    write_files(world.source, {"a.txt": "a"})
    first = start_vhpi(world, env=env)
    try:
        _wait_for(marker)
        # Kill vhpi itself only: its child (the fake rsync, sleeping) inherited the lock and
        # still holds it, so a new run must not start a second transfer into backup.latest.
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        assert not _lock_is_free(world)
        vhpi(world, code=0)
        assert "another vhpi run is still going" in world.info_log
        assert world.snapshots() == []
        # Now the whole process group, as a power-off or the OOM killer would.
        os.killpg(first.pid, signal.SIGKILL)
    finally:
        try:
            os.killpg(first.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while not _lock_is_free(world):
        assert time.monotonic() < deadline, "the lock stayed taken after every holder was killed"
        time.sleep(0.05)

    result = vhpi(world, code=0)
    assert result.stdout == result.stderr == ""
    assert world.snapshots() == ["daily.0", "hourly.0"]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert work_leftovers(world) == []
    assert world.info_log.count("another vhpi run is still going") == 1
