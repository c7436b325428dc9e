"""Does the job's source host answer? Laptops come and go: an offline host is a normal event.

Three ways, tried in order, and the one used is written to debug.log:
1. pythonping (ICMP over a raw socket: needs root or CAP_NET_RAW; IPv4 only);
2. the system `ping` command (works for normal users through ping sockets or setuid);
3. a TCP connection attempt to a few file-sharing ports: an answer of any kind, even
   "connection refused", proves the host is up.
"""

from __future__ import annotations

import errno
import logging
import shutil
import socket
import subprocess
from typing import Optional, Tuple

PROBE_PORTS = (445, 2049, 22, 139)


def _pythonping(host: str, timeout: float) -> Optional[bool]:
    """Return whether `host` answered ICMP, or None when pythonping cannot be used here."""
    if ":" in host:
        return None
    try:
        from pythonping import ping
    except ImportError:
        return None
    try:
        return ping(host, count=2, timeout=timeout).success()
    except PermissionError:
        return None
    except RuntimeError:
        return False
    except OSError:
        return None


def _ping_command(host: str, timeout: float) -> Optional[bool]:
    """Return whether `host` answered the system ping command, or None when it cannot run."""
    program = shutil.which("ping")
    if program is None:
        return None
    argv = [program, "-n", "-q", "-c", "2", "-W", str(max(1, round(timeout))), host]
    try:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, timeout=10 + 2 * timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode == 2 and b"permitted" in result.stderr:
        return None
    return result.returncode == 0


def _tcp_probe(host: str, timeout: float) -> bool:
    """Return True when any probe port answers, a refusal included."""
    for port in PROBE_PORTS:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except ConnectionRefusedError:
            return True
        except OSError as error:
            if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL):
                return False
    return False


def probe_host(host: str, log: logging.Logger, timeout: float = 1.0) -> Tuple[bool, str]:
    """Return (whether `host` answers, the way that told), trying the ways above in order
    and logging each step to debug.log."""
    ways = (("pythonping (raw ICMP socket)", _pythonping), ("system ping command", _ping_command),
            (f"a TCP probe of ports {PROBE_PORTS}", _tcp_probe))
    for name, check in ways:
        answer = check(host, timeout)
        if answer is not None:
            log.debug("host check of %s used %s: %s", host, name, "answered" if answer else "no answer")
            return answer, name
        log.debug("host check: %s is not usable here, trying the next way", name)
    raise AssertionError("the TCP probe always answers True or False")


def host_answers(host: str, log: logging.Logger, timeout: float = 1.0) -> bool:
    """Return True when `host` answers (see probe_host)."""
    return probe_host(host, log, timeout)[0]
