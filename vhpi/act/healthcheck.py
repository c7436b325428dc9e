"""Pinging a healthcheck URL (healthchecks.io or a compatible service) with urllib.

A ping never changes a backup's result: any failure (no network, DNS, refused, timeout,
an HTTP error status) is one warning line in info.log, with only the URL's host (its path
is a secret: anyone who knows it can ping), and the details in debug.log. urllib is
imported only here and only when a ping is sent.
"""

from __future__ import annotations

import logging
from typing import Optional

from vhpi import __version__
from vhpi.decide.ping import url_host

#: Seconds each network step (connect, send, each read) may take. Name lookup is not
#: covered: it takes what the system resolver allows.
PING_TIMEOUT_SECONDS = 10.0
#: How much of the answer is read (healthchecks answers "OK").
ANSWER_BYTES = 1000


def _reason(error: Exception) -> str:
    """Return a short reason for a failed ping."""
    import urllib.error
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        error = error.reason if isinstance(error.reason, Exception) else error
    import socket
    if isinstance(error, (TimeoutError, socket.timeout)):  # Python 3.9: socket.timeout is apart
        return f"no answer within {PING_TIMEOUT_SECONDS:g} s"
    return str(getattr(error, "strerror", None) or error) or type(error).__name__


def send_ping(url: str, body: Optional[bytes], log: logging.Logger, label: str) -> bool:
    """GET `url` (body None) or POST `body` to it as plain text; return True when it answered
    with a 2xx status. Never raises for network trouble: it logs a warning naming `label`
    (e.g. 'job laptop: healthcheck start') and returns False."""
    import urllib.request
    headers = {"User-Agent": f"vhpi/{__version__}"}
    if body is not None:
        headers["Content-Type"] = "text/plain; charset=utf-8"
    request = urllib.request.Request(url, data=body, headers=headers,
                                     method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=PING_TIMEOUT_SECONDS) as answer:
            answer.read(ANSWER_BYTES)
            status = answer.status
    except Exception as error:  # a ping must never fail the backup, whatever went wrong
        log.debug("%s: ping %s failed", label, url, exc_info=True)
        log.warning("%s: the ping to %s failed (%s); the backup's result is unchanged",
                    label, url_host(url), _reason(error))
        return False
    log.debug("%s: %s %s answered HTTP %s", label, request.get_method(), url, status)
    return True
