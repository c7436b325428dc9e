"""Hook commands around jobs and runs, as real shell processes: the order they run in, what
they are told (a recorder hook writes its environment to a file), exit 75, failures,
after-hook warnings, the timeout, and silence when nothing is due."""

import os
import time

from tests.conftest import needs_root
from tests.integration.helpers import debug_log, describe, job_line, listing, running, vhpi
from tests.integration.hook_helpers import recorder, write_config


def info_message(world, text):
    """The info.log line holding `text`, without its time stamp and level."""
    lines = [line for line in world.info_log.splitlines() if text in line]
    assert len(lines) == 1, world.info_log
    return lines[0].split(None, 3)[3]


def test_hooks_run_in_order_with_their_environment(world):
    record = recorder(world)
    (world.source / ".backup_valid").unlink()   # the job's before hook "mounts the share"
    (world.source / "a.txt").write_text("a")
    write_config(world, {"hooks": {"before": record("run-before"), "after_success": record("run-ok"),
                                   "after_failure": record("run-failed")}},
                 hooks={"before": record("job-before", then="touch source/.backup_valid && "),
                        "after_success": record("job-ok"), "after_failure": record("job-failed")})
    vhpi(world, code=0)
    assert record.tags() == ["run-before", "job-before", "job-ok", "run-ok"]
    assert (world.dest / "hourly.0" / "a.txt").read_text() == "a"
    run_before, job_before, job_ok, run_ok = record.entries()
    common = {"VHPI_CONFIG": str(world.config)}
    job = {**common, "VHPI_JOB": "dest", "VHPI_SOURCE": str(world.source),
           "VHPI_DESTINATION": str(world.dest)}
    run = {**common, "VHPI_JOB": "", "VHPI_SOURCE": "", "VHPI_DESTINATION": ""}
    assert job_before["env"] == {**job, "VHPI_HOOK": "before", "VHPI_RESULT": "",
                                 "VHPI_SUMMARY": "", "VHPI_LOG": job_before["env"]["VHPI_LOG"]}
    assert run_before["env"] == {**run, "VHPI_HOOK": "before", "VHPI_RESULT": "",
                                 "VHPI_SUMMARY": "", "VHPI_LOG": ""}
    summary = info_message(world, "job dest: due hourly, daily; done")
    assert {k: v for k, v in job_ok["env"].items() if k != "VHPI_LOG"} == {
        **job, "VHPI_HOOK": "after_success", "VHPI_RESULT": "ok", "VHPI_SUMMARY": summary}
    log = job_ok["env"]["VHPI_LOG"].splitlines()
    assert len(log) == 20 and log[-1] == f"INFO {summary}"
    assert "job dest: before hook: job-before says hello" in debug_log(world)
    assert {k: v for k, v in run_ok["env"].items() if k != "VHPI_LOG"} == {
        **run, "VHPI_HOOK": "after_success", "VHPI_RESULT": "ok", "VHPI_SUMMARY": "all 1 job(s) fine"}
    assert f"INFO {summary}" in run_ok["env"]["VHPI_LOG"].splitlines()
    for entry in record.entries():
        assert entry["cwd"] == str(world.root) and entry["stdin"] == ""
        assert entry["fds"]["0"] == "/dev/null"
        assert not [target for target in entry["fds"].values() if "lock" in target], entry["fds"]


def test_exit_75_skips_the_job_quietly(world):
    record = recorder(world)
    (world.source / "a.txt").write_text("a")
    write_config(world, hooks={"before": record("job-before", 75), "after_success": record("job-ok"),
                               "after_failure": record("job-failed")})
    result = vhpi(world, code=0)
    assert result.stdout == result.stderr == ""
    assert record.tags() == ["job-before"]
    assert job_line(world).endswith("INFO    job dest: due hourly, daily; skipped by the before hook (exit 75)")
    assert sorted(os.listdir(world.dest)) == [".backup_destination"]


def test_a_failing_before_hook_fails_the_job_and_nothing_is_copied_or_rotated(world):
    record = recorder(world)
    (world.source / "a.txt").write_text("first")
    vhpi(world, code=0)
    (world.source / "a.txt").write_text("second")
    before = listing(world.dest)
    write_config(world, hooks={"before": "echo cannot wake the laptop; exit 3",
                               "after_success": record("job-ok"), "after_failure": record("job-failed")})
    result = vhpi(world, at="+2h", code=1)
    assert listing(world.dest) == before
    line = ("job dest: FAILED: due hourly; the before hook failed (exit 3); nothing was copied "
            "or rotated")
    assert "WARNING job dest: before hook said: cannot wake the laptop" in world.info_log
    assert job_line(world).endswith(f"ERROR   {line}")
    assert f"ERROR {line}" in result.stderr and "cannot wake the laptop" in result.stderr
    assert record.tags() == ["job-failed"]
    env = record.entries()[0]["env"]
    assert env["VHPI_RESULT"] == "failed" and env["VHPI_SUMMARY"] == line
    assert "DEBUG job dest: before hook: cannot wake the laptop" in env["VHPI_LOG"].splitlines()


def test_after_failure_runs_when_the_job_fails(world):
    record = recorder(world)
    (world.source / ".backup_valid").unlink()
    write_config(world, hooks={"after_success": record("job-ok"), "after_failure": record("job-failed")})
    vhpi(world, code=1)
    assert record.tags() == ["job-failed"]
    env = record.entries()[0]["env"]
    assert env["VHPI_HOOK"] == "after_failure" and env["VHPI_RESULT"] == "failed"
    assert env["VHPI_SUMMARY"].startswith("job dest: FAILED: due hourly, daily; source ")
    assert ".backup_valid" in env["VHPI_SUMMARY"]
    assert env["VHPI_LOG"].splitlines()[-1] == f"ERROR {env['VHPI_SUMMARY']}"
    assert not (world.dest / "backup.latest").exists()


def test_a_failing_after_hook_only_warns(world):
    write_config(world, hooks={"after_success": "echo the NAS is asleep >&2; exit 2"})
    result = vhpi(world, code=0)
    assert result.stderr == ""
    assert "due hourly, daily; done" in world.info_log
    assert "WARNING job dest: after_success hook said: the NAS is asleep" in world.info_log
    assert ("WARNING job dest: the after_success hook failed (exit 2); only a warning, the result "
            "stays ok") in world.info_log
    assert world.snapshots() == ["daily.0", "hourly.0"]


@needs_root("an offline host is simulated with a network namespace (unshare --net)")
def test_an_offline_host_is_offline_for_the_after_success_hook(world):
    record = recorder(world)
    write_config(world, hooks={"after_success": record("job-ok")})
    vhpi(world, prefix=("unshare", "--net"), code=0)
    env = record.entries()[0]["env"]
    assert env["VHPI_RESULT"] == "offline" and "offline, skipped" in env["VHPI_SUMMARY"]


def test_a_hook_past_its_timeout_is_stopped_with_its_whole_process_group(world, monkeypatch):
    record = recorder(world)
    from vhpi.act import hooks
    from vhpi.main import main
    monkeypatch.setattr(hooks, "HOOK_TIMEOUT_SECONDS", 1.0)
    monkeypatch.setattr(hooks, "KILL_GRACE_SECONDS", 0.5)
    monkeypatch.setenv("HOME", str(world.home))
    stubborn = world.root / "stubborn.pid"
    write_config(world, hooks={
        "before": f"sh -c 'trap \"\" TERM; echo $$ > {stubborn}; exec sleep 60' & sleep 60",
        "after_failure": record("job-failed")})
    started = time.monotonic()
    assert main(["--config", str(world.config)]) == 1
    assert time.monotonic() - started < 20
    assert job_line(world).endswith("FAILED: due hourly, daily; the before hook was stopped after "
                                    "1 s (timeout); nothing was copied or rotated")
    assert record.tags() == ["job-failed"]
    pid = int(stubborn.read_text())
    deadline = time.monotonic() + 10
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(pid), "the child that ignores SIGTERM must be killed with the group"
    assert not (world.dest / "backup.latest").exists()


def test_a_failing_run_before_hook_runs_no_job(world):
    record = recorder(world)
    write_config(world, {"hooks": {"before": "echo backup disk not plugged in; exit 1",
                                   "after_success": record("run-ok"),
                                   "after_failure": record("run-failed")}},
                 hooks={"before": record("job-before")})
    result = vhpi(world, code=1)
    assert record.tags() == ["run-failed"]
    assert sorted(os.listdir(world.dest)) == [".backup_destination"]
    assert "ERROR run: the before hook failed (exit 1); no job was run" in result.stderr
    assert "WARNING run: before hook said: backup disk not plugged in" in result.stderr
    env = record.entries()[0]["env"]
    assert env["VHPI_RESULT"] == "failed" and env["VHPI_JOB"] == ""
    assert env["VHPI_SUMMARY"] == "the before hook failed (exit 1); no job was run"


def test_exit_75_of_the_run_before_hook_skips_the_run_quietly(world):
    record = recorder(world)
    write_config(world, {"hooks": {"before": record("run-before", 75), "after_success": record("run-ok"),
                                   "after_failure": record("run-failed")}},
                 hooks={"before": record("job-before")})
    result = vhpi(world, code=0)
    assert result.stdout == result.stderr == "", describe(result, world)
    assert record.tags() == ["run-before"]
    assert "INFO    run: skipped by the before hook (exit 75); no job was run" in world.info_log
    assert sorted(os.listdir(world.dest)) == [".backup_destination"]


def test_a_failed_job_runs_the_run_after_failure_hook(world):
    record = recorder(world)
    (world.source / ".backup_valid").unlink()
    write_config(world, {"hooks": {"after_success": record("run-ok"), "after_failure": record("run-failed")}})
    vhpi(world, code=1)
    assert record.tags() == ["run-failed"]
    env = record.entries()[0]["env"]
    assert env["VHPI_RESULT"] == "failed" and env["VHPI_SUMMARY"] == "1 of 1 job(s) FAILED: dest"


def test_job_hooks_run_only_when_something_is_due(world):
    record = recorder(world)
    write_config(world, {"hooks": {"before": record("run-before"), "after_success": record("run-ok")}},
                 hooks={"before": record("job-before"), "after_success": record("job-ok")})
    vhpi(world, code=0)
    assert record.tags() == ["run-before", "job-before", "job-ok", "run-ok"]
    vhpi(world, code=0)
    assert job_line(world).endswith("job dest: nothing due")
    assert record.tags()[4:] == ["run-before", "run-ok"]
    vhpi(world, at="+2h", code=0)
    assert record.tags()[6:] == ["run-before", "job-before", "job-ok", "run-ok"]
    assert "due hourly; done" in job_line(world)


def test_run_hook_reports_a_shell_that_cannot_start_and_splits_long_lines(tmp_path):
    import logging
    from vhpi.act.hooks import CANNOT_START, LINE_BYTES, run_hook
    log = logging.getLogger("vhpi-test-hooks")
    missing = tmp_path / "gone"
    outcome = run_hook("true", {}, str(missing), log, "job x: before hook")
    assert outcome.code == CANNOT_START and not outcome.timed_out
    assert outcome.tail[0].startswith(f"cannot start /bin/sh in {missing}: ")
    outcome = run_hook(f"head -c {LINE_BYTES + 10} /dev/zero | tr '\\0' x; echo; echo last >&2; exit 4",
                       {"PATH": os.environ["PATH"]}, str(tmp_path), log, "job x: before hook")
    assert outcome.code == 4
    assert [len(line) for line in outcome.tail] == [LINE_BYTES, 10, 4] and outcome.tail[-1] == "last"
