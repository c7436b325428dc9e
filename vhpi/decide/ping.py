"""Pure decisions about healthcheck pings (the protocol of healthchecks.io and compatible
services): which URL a moment pings and what the body holds.

    the job or run starts   -> GET  <url>/start
    it went fine or skipped -> POST <url>         body: the last log lines
    it failed               -> POST <url>/fail    body: the last log lines

A query string (as in .../<slug>?create=1) stays at the end. No urllib here: the run that
finds nothing due must not import it.
"""

from __future__ import annotations

from typing import Iterable

#: healthchecks.io keeps up to 100 kB of a ping's body; vhpi sends at most this much.
PING_BODY_BYTES = 10000
START, SUCCESS, FAIL = "start", "success", "fail"
_SUFFIX = {START: "/start", SUCCESS: "", FAIL: "/fail"}


def end_event(result: str) -> str:
    """Given a result word (ok, skipped, failed, damaged), return the ping event: success or
    fail."""
    return FAIL if result in ("failed", "damaged") else SUCCESS


def ping_url(url: str, event: str) -> str:
    """Return the URL to request for `event` (start, success, fail), keeping a query string
    at the end and dropping a fragment."""
    address, mark, query = url.split("#", 1)[0].partition("?")
    return f"{address.rstrip('/')}{_SUFFIX[event]}{mark}{query}"


def ping_body(lines: Iterable[str], limit: int = PING_BODY_BYTES) -> bytes:
    """Return the log lines as UTF-8 text of at most `limit` bytes, keeping the last ones
    (and cutting at a line start when the text is too long)."""
    data = "\n".join(lines).encode("utf-8", "replace")
    if len(data) <= limit:
        return data
    tail = data[-limit:]
    start = tail.find(b"\n")
    return tail[start + 1:] if 0 <= start < len(tail) - 1 else tail.decode("utf-8", "ignore").encode()


def url_host(url: str) -> str:
    """Return the host part of a ping URL, for log lines that must not show its secret path."""
    rest = url.split("://", 1)[-1]
    for mark in "/?#":
        rest = rest.split(mark, 1)[0]
    return rest.rsplit("@", 1)[-1]
