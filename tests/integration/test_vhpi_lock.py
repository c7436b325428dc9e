"""One run per destination at a time: a second run started while the first works on a
destination skips it at once, and vhpi killed with SIGKILL alone takes its children with
it (they hold none of its locks), so the next run can finish the job."""

import os
import signal
import time

import pytest

from tests.integration.helpers import (assert_same_listing, listing, lock_free, manifest, running,
                                       start_vhpi, vhpi, work_leftovers, write_files)

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


def test_a_second_run_skips_the_destination_the_first_is_working_on(world, slow_rsync):
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
    assert f"another vhpi run (pid {first.pid}, started " in world.info_log
    assert "is working on this destination; skipped" in world.info_log
    assert world.snapshots() == ["daily.0", "hourly.0"]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert world.info_log.count("job dest: due hourly, daily; done:") == 1


@pytest.fixture
def hanging_rsync(world):
    """A fake `rsync` first in PATH that, the first time it runs, becomes a process that
    never ends by itself (`exec sleep`): vhpi's direct child, as rsync is."""
    folder = world.root / "fakebin"
    folder.mkdir()
    marker = world.root / "rsync-started"
    script = folder / "rsync"
    script.write_text(
        "#!/bin/sh\n"
        'if [ ! -e "$VHPI_TEST_MARKER" ]; then echo $$ > "$VHPI_TEST_MARKER"; exec sleep 300; fi\n'
        'exec /usr/bin/env -u VHPI_TEST_MARKER rsync "$@"\n')
    script.chmod(0o755)
    real_path = os.environ["PATH"]
    return {"PATH": f"{folder}{os.pathsep}{real_path}", "VHPI_TEST_MARKER": str(marker)}, marker


def test_a_child_never_outlives_vhpi_killed_alone_and_holds_no_lock(world, hanging_rsync):
    env, marker = hanging_rsync
    write_files(world.source, {"a.txt": "a"})
    first = start_vhpi(world, env=env)
    try:
        _wait_for(marker)
        while not marker.read_text().strip():
            time.sleep(0.01)
        child = int(marker.read_text())
        assert running(child)
        os.kill(first.pid, signal.SIGKILL)  # vhpi alone: its child is in a group of its own
        first.wait()
        deadline = time.monotonic() + 5
        while running(child):
            assert time.monotonic() < deadline, "vhpi's child outlived it"
            time.sleep(0.02)
        assert lock_free(world, world.dest)
    finally:
        try:
            os.killpg(first.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    result = vhpi(world, code=0)
    assert result.stdout == result.stderr == ""
    assert world.snapshots() == ["daily.0", "hourly.0"]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert work_leftovers(world) == []
