"""Output into a pipe whose reader has gone (`vhpi status | head -1` once head has its line)
is no error: no command prints a traceback. The pipe here has no reader from the start, so
the first write fails (EPIPE) every time, not only when the output outgrows the buffer."""

import os
import subprocess

import pytest

from tests.integration.helpers import start_vhpi, vhpi, write_files

COMMANDS = [("status",), ("status", "--json"), ("list", "dest"), ("list", "dest", "--json"),
            ("--dry-run",), ("diff", "dest", "hourly.1", "hourly.0"), ("du", "dest"), ("check",),
            ("--version",), ("--help",)]


@pytest.fixture
def two_snapshots(world):
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, code=0)
    write_files(world.source, {"b.txt": "b"})
    vhpi(world, at="+2h", code=0)
    return world


def run_into_a_closed_pipe(world, *args, at=None):
    """Run vhpi with stdout a pipe that nobody reads; return (exit code, stderr)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        process = start_vhpi(world, *args, at=at, stdout=writer, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(writer)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args))
def test_no_command_prints_a_traceback_into_a_closed_pipe(two_snapshots, args):
    code, stderr = run_into_a_closed_pipe(two_snapshots, *args, at="+3h")
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert stderr == "", stderr
    assert code == 0, (code, stderr)


def test_a_backup_run_into_a_closed_pipe_still_backs_up(two_snapshots):
    world = two_snapshots
    write_files(world.source, {"c.txt": "c"})
    code, stderr = run_into_a_closed_pipe(world, at="+4h")
    assert (code, stderr) == (0, "")
    assert (world.dest / "hourly.0" / "c.txt").read_text() == "c"
