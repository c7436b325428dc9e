"""The run as cron starts it: logs opened, lock taken, jobs run, failures printed."""

from __future__ import annotations

import os
import sys

from vhpi.act.lock import lock_holder, try_lock
from vhpi.actions.backup import Run, run_backup
from vhpi.config.model import Config
from vhpi.logs import close_logs, open_logs

LOCK_NAME = "vhpi.lock"


def run_locked_backup(config: Config, home: str, now: float, trust_clock: bool) -> int:
    """Run the backup under the lock; return the exit code (0 when another run holds the lock)."""
    os.makedirs(home, mode=0o700, exist_ok=True)
    log, held = open_logs(home, interactive=sys.stdout.isatty())
    lock_path = os.path.join(home, LOCK_NAME)
    lock_fd = try_lock(lock_path)
    try:
        if lock_fd is None:
            log.info("another vhpi run is still going (%s); leaving it alone", lock_holder(lock_path))
            return 0
        log.debug("run started with config %s", config.path)
        code = run_backup(config, Run(home, now, log, trust_clock, (lock_fd,)))
        if code and held.lines:
            print("\n".join(held.lines), file=sys.stderr)
        return code
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
        close_logs(log)
