"""vhpi.decide.hook_env and vhpi.decide.ping: what a hook is told, which hook runs, which
URL a ping goes to and what its body holds."""

import pytest

from vhpi.decide.hook_env import (LOG_LINES, MAX_VALUE_CHARS, Scope, after_hook_name,
                                  before_says_skip, hook_env, hook_failure, run_summary)
from vhpi.decide.ping import end_event, ping_body, ping_url, url_host

JOB = Scope("/etc/vhpi/config.yaml", "laptop", "/mnt/laptop", "/mnt/usb/laptop")


def test_env_of_a_job_after_hook():
    env = hook_env({"PATH": "/bin", "VHPI_JOB": "stale"}, JOB, "after_failure", "failed",
                   "job laptop: FAILED: no .backup_valid", ["INFO a", "ERROR b"])
    assert env == {"PATH": "/bin", "VHPI_HOOK": "after_failure", "VHPI_JOB": "laptop",
                   "VHPI_RESULT": "failed", "VHPI_SUMMARY": "job laptop: FAILED: no .backup_valid",
                   "VHPI_LOG": "INFO a\nERROR b", "VHPI_SOURCE": "/mnt/laptop",
                   "VHPI_DESTINATION": "/mnt/usb/laptop", "VHPI_CONFIG": "/etc/vhpi/config.yaml"}


def test_env_of_a_run_before_hook_leaves_job_values_empty():
    env = hook_env({}, Scope("/c.yaml"), "before")
    assert env == {"VHPI_HOOK": "before", "VHPI_JOB": "", "VHPI_RESULT": "", "VHPI_SUMMARY": "",
                   "VHPI_LOG": "", "VHPI_SOURCE": "", "VHPI_DESTINATION": "", "VHPI_CONFIG": "/c.yaml"}
    assert Scope("/c.yaml").label() == "run" and JOB.label() == "job laptop"


def test_env_keeps_the_last_log_lines_and_cuts_long_values():
    lines = [f"line {n}" for n in range(100)]
    env = hook_env({}, JOB, "after_success", "ok", "s" * (MAX_VALUE_CHARS + 10), lines)
    assert env["VHPI_LOG"].splitlines() == lines[-LOG_LINES:]
    assert env["VHPI_SUMMARY"] == "s" * MAX_VALUE_CHARS + "…"
    long_log = hook_env({}, JOB, "after_success", log_lines=["x" * MAX_VALUE_CHARS + "END\0"])
    assert long_log["VHPI_LOG"].endswith("xEND") and len(long_log["VHPI_LOG"]) == MAX_VALUE_CHARS + 1


def test_which_after_hook_and_which_ping():
    assert [after_hook_name(r) for r in ("ok", "skipped", "failed")] == [
        "after_success", "after_success", "after_failure"]
    assert [end_event(r) for r in ("ok", "skipped", "failed")] == ["success", "success", "fail"]
    assert before_says_skip(75) and not before_says_skip(0) and not before_says_skip(1)


def test_words_for_runs_and_failed_hooks():
    assert run_summary([], 2) == "all 2 job(s) fine"
    assert run_summary(["a", "c"], 3) == "2 of 3 job(s) FAILED: a, c"
    assert hook_failure("before", 3, False, 3600) == "the before hook failed (exit 3)"
    assert hook_failure("after_success", -15, True, 0.5) == \
        "the after_success hook was stopped after 0.5 s (timeout)"


@pytest.mark.parametrize("url, event, expected", [
    ("https://hc-ping.com/abc", "start", "https://hc-ping.com/abc/start"),
    ("https://hc-ping.com/abc", "success", "https://hc-ping.com/abc"),
    ("https://hc-ping.com/abc/", "fail", "https://hc-ping.com/abc/fail"),
    ("https://hc-ping.com/key/pi-backup?create=1", "start", "https://hc-ping.com/key/pi-backup/start?create=1"),
    ("http://10.0.0.2:8000/ping/x#note", "fail", "http://10.0.0.2:8000/ping/x/fail"),
])
def test_ping_url(url, event, expected):
    assert ping_url(url, event) == expected


def test_ping_body_keeps_the_last_lines_within_the_limit():
    assert ping_body(["a", "ü"]) == "a\nü".encode()
    lines = [f"{n:04d} " + "x" * 95 for n in range(500)]
    body = ping_body(lines)
    assert len(body) <= 10000 and body.decode().splitlines() == lines[-len(body.decode().splitlines()):]
    assert body.decode().splitlines()[-1] == lines[-1] and len(body) > 9000
    assert ping_body(["é" * 20], limit=5).decode() == "éé"


@pytest.mark.parametrize("url, host", [
    ("https://hc-ping.com/secret-uuid", "hc-ping.com"),
    ("http://user:pw@127.0.0.1:8000/x?y", "127.0.0.1:8000"),
    ("https://[::1]/x", "[::1]"),
])
def test_url_host_hides_the_secret_path(url, host):
    assert url_host(url) == host
