"""Healthcheck pings against a real HTTP server on 127.0.0.1 that records what it gets:
start, success and fail paths, the log lines in the body, and that a server that does not
answer (or a closed port, or an error status) only warns."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integration.helpers import job_line, vhpi
from tests.integration.hook_helpers import recorder, write_config

NO_PROXY = {"no_proxy": "*", "NO_PROXY": "*"}


class Recorder(BaseHTTPRequestHandler):
    """Records (method, path, body, user agent) of each request; answers `server.status`
    after `server.delay` seconds."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append((self.command, self.path, body.decode(),
                                     self.headers.get("User-Agent")))
        time.sleep(self.server.delay)
        try:
            self.send_response(self.server.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")
        except (BrokenPipeError, ConnectionResetError):
            pass  # vhpi gave up waiting, as it should

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    httpd.daemon_threads = True
    httpd.requests, httpd.delay, httpd.status = [], 0.0, 200
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/ping/0f2c"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def calls(server):
    return [(method, path) for method, path, _, _ in server.requests]


def test_a_due_job_pings_start_then_success_with_its_log_lines(world, server):
    write_config(world, healthcheck_url=server.url)
    vhpi(world, env=NO_PROXY, code=0)
    assert calls(server) == [("GET", "/ping/0f2c/start"), ("POST", "/ping/0f2c")]
    start, success = server.requests
    assert start[2] == "" and success[3].startswith("vhpi/")
    assert success[2].splitlines()[-1] == "INFO " + job_line(world).split(None, 3)[3]
    assert "DEBUG rsync exit code 0" in success[2].splitlines()
    assert "WARNING" not in world.info_log


def test_a_failed_job_pings_fail(world, server):
    (world.source / ".backup_valid").unlink()
    write_config(world, healthcheck_url=server.url + "?create=1")
    vhpi(world, env=NO_PROXY, code=1)
    assert calls(server) == [("GET", "/ping/0f2c/start?create=1"), ("POST", "/ping/0f2c/fail?create=1")]
    body = server.requests[1][2]
    assert "ERROR job dest: FAILED: due hourly, daily; source" in body and ".backup_valid" in body


def test_the_run_url_is_pinged_on_every_start_and_job_urls_only_when_due(world, server):
    write_config(world, {"healthcheck_url": server.url + "/run"}, healthcheck_url=server.url)
    vhpi(world, env=NO_PROXY, code=0)
    assert calls(server) == [("GET", "/ping/0f2c/run/start"), ("GET", "/ping/0f2c/start"),
                             ("POST", "/ping/0f2c"), ("POST", "/ping/0f2c/run")]
    del server.requests[:]
    vhpi(world, env=NO_PROXY, code=0)
    assert calls(server) == [("GET", "/ping/0f2c/run/start"), ("POST", "/ping/0f2c/run")]
    assert server.requests[1][2].splitlines() == ["INFO job dest: nothing due"]


def test_a_run_with_a_failed_job_pings_the_run_url_fail(world, server):
    (world.source / ".backup_valid").unlink()
    write_config(world, {"healthcheck_url": server.url})
    vhpi(world, env=NO_PROXY, code=1)
    assert calls(server) == [("GET", "/ping/0f2c/start"), ("POST", "/ping/0f2c/fail")]
    assert "job dest: FAILED" in server.requests[1][2]


def test_a_skipping_before_hook_sends_no_ping_and_a_failing_one_only_fail(world, server):
    record = recorder(world)
    write_config(world, {"healthcheck_url": server.url + "/run"},
                 healthcheck_url=server.url, hooks={"before": record("job-before", 75)})
    vhpi(world, env=NO_PROXY, code=0)
    assert calls(server) == [("GET", "/ping/0f2c/run/start"), ("POST", "/ping/0f2c/run")]
    del server.requests[:]
    write_config(world, {"healthcheck_url": server.url + "/run", "hooks": {"before": "exit 75"}})
    vhpi(world, env=NO_PROXY, code=0)
    assert calls(server) == []
    write_config(world, healthcheck_url=server.url, hooks={"before": "echo no WoL answer; exit 1"})
    vhpi(world, env=NO_PROXY, code=1)
    assert calls(server) == [("POST", "/ping/0f2c/fail")]
    assert "before hook: no WoL answer" in server.requests[0][2]


def test_a_server_that_does_not_answer_only_warns(world, server, monkeypatch):
    from vhpi.act import healthcheck
    from vhpi.main import main
    monkeypatch.setattr(healthcheck, "PING_TIMEOUT_SECONDS", 0.5)
    for name, value in {"HOME": str(world.home), **NO_PROXY}.items():
        monkeypatch.setenv(name, value)
    server.delay = 3.0
    write_config(world, {"healthcheck_url": server.url + "/run"}, healthcheck_url=server.url)
    started = time.monotonic()
    assert main(["--config", str(world.config)]) == 0
    assert time.monotonic() - started < 2.9 * 4
    assert world.snapshots() == ["daily.0", "hourly.0"]
    for label in ("run: healthcheck start", "job dest: healthcheck start",
                  "job dest: healthcheck success", "run: healthcheck success"):
        assert (f"WARNING {label}: the ping to 127.0.0.1:{server.server_address[1]} failed (no "
                f"answer within 0.5 s); the backup's result is unchanged") in world.info_log


def test_a_closed_port_or_an_error_status_only_warns(world, server):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    write_config(world, {"healthcheck_url": f"http://127.0.0.1:{closed}/x"}, healthcheck_url=server.url)
    server.status = 500
    result = vhpi(world, env=NO_PROXY, code=0)
    assert result.stdout == result.stderr == ""
    assert world.snapshots() == ["daily.0", "hourly.0"]
    log = world.info_log
    assert f"WARNING run: healthcheck start: the ping to 127.0.0.1:{closed} failed (Connection refused)" in log
    assert (f"WARNING job dest: healthcheck success: the ping to 127.0.0.1:{server.server_address[1]} "
            f"failed (HTTP 500 Internal Server Error)") in log
    assert len(server.requests) == 2


def test_a_nothing_due_run_imports_no_urllib_and_runs_no_hook(world, server):
    record = recorder(world)
    write_config(world, healthcheck_url=server.url, hooks={"before": record("job-before"),
                                                           "after_success": record("job-ok")})
    vhpi(world, env=NO_PROXY, code=0)
    assert len(server.requests) == 2 and record.tags() == ["job-before", "job-ok"]
    result = vhpi(world, env={**NO_PROXY, "PYTHONPROFILEIMPORTTIME": "1"}, timeout=60)  # -X importtime
    assert result.returncode == 0, result
    assert job_line(world).endswith("job dest: nothing due")
    loaded = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if "|" in line}
    # (urllib.parse may come with Python's own start-up, through pathlib; urllib.request not)
    assert not loaded & {"urllib.request", "http.client", "vhpi.act.hooks", "vhpi.act.healthcheck",
                         "vhpi.actions.watch", "subprocess", "yaml"}
    assert len(server.requests) == 2 and record.tags() == ["job-before", "job-ok"]
