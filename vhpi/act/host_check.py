"""Does the job's source host answer? Laptops come and go: an offline host is a normal event.

Three ways, tried in order, and the one used is written to debug.log (by the caller: the
check runs in a forked child, vhpi.act.processes.run_in_child, so that a name lookup or a
probe that hangs costs at most the job's source_timeout):
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
from typing import List, Optional, Tuple

from vhpi.act.processes import ChildFailed, Ending, Limits, run_and_read, run_in_child

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
    finished, output = run_and_read(argv, Limits(deadline=10 + 2 * timeout))
    if finished.ending is not Ending.EXITED or (finished.code == 2 and b"permitted" in output):
        return None
    return finished.code == 0


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


def _probe_here(host: str, timeout: float) -> Tuple[bool, str, List[str]]:
    """Try the ways above in order in this process; return (whether `host` answers, the way
    that told, the notes for debug.log)."""
    ways = (("pythonping (raw ICMP socket)", _pythonping), ("system ping command", _ping_command),
            (f"a TCP probe of ports {PROBE_PORTS}", _tcp_probe))
    notes = []
    for name, check in ways:
        answer = check(host, timeout)
        if answer is not None:
            notes.append(f"host check of {host} used {name}: {'answered' if answer else 'no answer'}")
            return answer, name, notes
        notes.append(f"host check: {name} is not usable here, trying the next way")
    raise AssertionError("the TCP probe always answers True or False")


def probe_host(host: str, log: logging.Logger, deadline: float = 60.0,
               timeout: float = 1.0) -> Tuple[bool, str]:
    """Return (whether `host` answers, the way that told), trying the ways above in order
    in a child that vhpi gives up on after `deadline` seconds (then the host counts as not
    answering); each step goes to debug.log."""
    try:
        answer = run_in_child(_probe_here, host, timeout, timeout=deadline)
    except ChildFailed as failure:
        log.debug("host check of %s failed: %s", host, failure)
        return False, "no way (the check failed)"
    if answer.ending is not Ending.EXITED:
        log.debug("host check of %s: no answer within %g s", host, deadline)
        return False, f"no way (no answer within {deadline:g} s)"
    answered, way, notes = answer.value
    for note in notes:
        log.debug("%s", note)
    return answered, way


def host_answers(host: str, log: logging.Logger, deadline: float = 60.0) -> bool:
    """Return True when `host` answers (see probe_host)."""
    return probe_host(host, log, deadline)[0]
