"""Stop signals in the middle of a real copy: `kill` (SIGTERM to vhpi alone), a systemd
stop or shutdown (SIGTERM to vhpi and every child), Ctrl-C (SIGINT to vhpi's process
group), a closed terminal (SIGHUP), and SIGKILL of vhpi alone.

What must hold: vhpi stops its children (none outlives it), writes one info.log line that
says it was stopped and by what, records the job as interrupted (`vhpi status` shows it),
prints no traceback, ends by the same signal (a shell shows 128 + N), changes no snapshot,
and the next run finishes the job. The copy is slowed down to about 1 MB/s (rsync
--bwlimit) so that the signal lands while rsync really writes (a 12 MiB file: an orphaned
rsync would go on for seconds before it noticed nobody reads its output)."""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.fault.fault_helpers import (assert_history_kept, assert_no_work_left, build_history,
                                       snapshot_record)
from tests.integration.helpers import kill_group, manifest, running, start_vhpi, vhpi, write_files
from tests.procs import processes

BIG = 12 << 20  # 12 s at 1 MB/s: rsync must not finish it on its own


def _slow_copy(world) -> dict:
    folder = world.root / "fakebin"
    folder.mkdir(exist_ok=True)
    script = folder / "rsync"
    script.write_text('#!/bin/sh\ncase " $* " in *" --files-from="*) exec /usr/bin/rsync '
                      '--bwlimit=1000 "$@" ;; esac\nexec /usr/bin/rsync "$@"\n')
    script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def _copied_so_far(world) -> int:
    folder = world.dest / ".vhpi" / "work" / "rsync-tmp"
    try:
        return max((os.path.getsize(folder / name) for name in os.listdir(folder)), default=0)
    except FileNotFoundError:
        return 0


def _rsyncs_of(world) -> list:
    """The pids of the processes working on this world's destination (rsync and its helpers)."""
    dest = os.fsencode(str(world.dest))
    return [found.pid for found in processes()
            if found.state != "Z" and found.argv and found.argv[0].endswith(b"rsync") and found.mentions(dest)]


def _start_copying(world):
    """Start vhpi (a session of its own) on a history with a new 3 MiB file, and wait until
    rsync has written half a MiB of it; return the process."""
    write_files(world.source, {"big.bin": os.urandom(BIG)})
    process = start_vhpi(world, env=_slow_copy(world), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while _copied_so_far(world) < (512 << 10):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the copy never started"
        time.sleep(0.01)
    return process


def _wait_gone(pids, seconds=2.0) -> None:
    deadline = time.monotonic() + seconds
    while any(running(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running: {pids}"
        time.sleep(0.02)


def _send(process, world, how: str) -> int:
    """Deliver the stop the way `how` says; return the signal vhpi should end by."""
    children = _rsyncs_of(world)
    assert children, "rsync should be copying"
    if how == "kill":
        os.kill(process.pid, signal.SIGTERM)
        return signal.SIGTERM
    if how == "systemd stop":
        for pid in [process.pid, *children]:
            os.kill(pid, signal.SIGTERM)
        return signal.SIGTERM
    if how == "Ctrl-C":
        os.killpg(process.pid, signal.SIGINT)  # the terminal's foreground group: vhpi's own
        return signal.SIGINT
    os.kill(process.pid, signal.SIGHUP)
    return signal.SIGHUP


@pytest.mark.parametrize("how", ["kill", "systemd stop", "Ctrl-C", "terminal closed"])
def test_a_stop_signal_mid_copy(world, how, campaign):
    states = build_history(world)
    before = snapshot_record(world)
    process = _start_copying(world)
    children = _rsyncs_of(world)
    try:
        expected = _send(process, world, how)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            kill_group(process)
    campaign.add("signal cases")

    assert process.returncode == -expected, (process.returncode, err)
    assert b"Traceback" not in out + err, err
    _wait_gone(children)
    assert _rsyncs_of(world) == [], "a child outlived vhpi"
    name = signal.Signals(expected).name
    last = world.info_log.splitlines()[-1]
    assert f" ERROR   run stopped by {name} (" in last and "during job dest" in last, last
    assert "the next run finishes the job" in last
    assert world.info_log.count("run stopped by") == 1
    status = json.loads(vhpi(world, "status", "--json", code=1).stdout)
    assert status["jobs"][0]["last_run"]["outcome"] == "interrupted"
    text = vhpi(world, "status", code=1).stdout
    assert f"INTERRUPTED: vhpi was stopped by {name}" in text, text
    assert_history_kept(world, before, campaign=campaign)

    vhpi(world, code=0)
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert_no_work_left(world)
    assert states


def test_sigkill_of_vhpi_alone_takes_rsync_with_it(world, campaign):
    build_history(world)
    before = snapshot_record(world)
    process = _start_copying(world)
    children = _rsyncs_of(world)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    campaign.add("signal cases")
    _wait_gone(children)
    assert _rsyncs_of(world) == []
    assert_history_kept(world, before, campaign=campaign)
    vhpi(world, code=0)  # the locks are free: nothing of the killed run holds them
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert_no_work_left(world)
