"""`vhpi check` looks at the hooks' programs, `vhpi --dry-run` says which hooks and pings a
run would make; neither runs a hook or sends a ping (the URL's port has no server)."""

import os

from tests.integration.helpers import vhpi, write_files
from tests.integration.hook_helpers import write_config

MISSING = "vhpi-test-no-such-program"


def test_check_notes_a_hook_program_that_is_not_found(world):
    marker = world.root / "ran"
    write_config(world, app={"hooks": {"after_failure": f"touch {marker}"}},
                 hooks={"before": f"LANG=C {MISSING} --wake && sleep 1", "after_success": "if true; then :; fi"})
    os.chmod(world.dest, 0o700)  # as a run makes it: a destination others can enter FAILs

    result = vhpi(world, "check", code=0)  # a note, not a failure: the shell has the last word

    lines = result.stdout.splitlines()
    assert f"ok    after_failure hook: touch {marker}" in lines, result.stdout
    assert any(line.startswith("note  job dest: before hook: 'vhpi-test-no-such-program' is neither found")
               for line in lines), result.stdout
    assert "ok    job dest: after_success hook: if true; then :; fi" in lines, result.stdout
    assert not marker.exists()


def test_check_without_hooks_says_nothing_about_them(world):
    write_config(world)
    os.chmod(world.dest, 0o700)
    result = vhpi(world, "check", code=0)
    assert " hook: " not in result.stdout, result.stdout


def test_dry_run_names_the_hooks_and_the_ping_host_but_runs_and_sends_nothing(world):
    marker = world.root / "ran"
    write_config(world, app={"healthcheck_url": "http://127.0.0.1:9/run-secret"},
                 hooks={"before": f"touch {marker}"},
                 healthcheck_url="http://127.0.0.1:9/job-secret")
    write_files(world.source, {"a.txt": "a"})

    result = vhpi(world, "--dry-run", code=0)

    assert "whole run: would ping 127.0.0.1:9: start, then success or fail" in result.stdout, result.stdout
    assert f"  would run the before hook: touch {marker}" in result.stdout
    assert "  would ping 127.0.0.1:9: start, then success or fail" in result.stdout
    assert "secret" not in result.stdout  # the URL's path is the check's secret
    assert not marker.exists()
    assert not (world.dest / "backup.latest").exists()
