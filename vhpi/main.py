"""The entry point: `python3 -m vhpi.main` and the `vhpi` command both run main().

Exit codes: 0 every job fine (nothing due and offline hosts are fine), 1 some job failed,
2 config or usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional

from vhpi import __version__

HOME = os.path.join("~", ".very_hungry_pi")
EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="vhpi", description="Hourly rsync + hard-link snapshots (run it from cron).")
    parser.add_argument("--config", default=os.path.join(HOME, "config.yaml"),
                        help="config file (default: ~/.very_hungry_pi/config.yaml)")
    parser.add_argument("--dry-run", action="store_true",
                        help="say what would happen; change nothing")
    parser.add_argument("--trust-clock", action="store_true",
                        help="the clock is right: snapshot times recorded later than now are set "
                             "to now, and lost records start afresh")
    parser.add_argument("--version", action="version", version=f"vhpi {__version__}")
    return parser


def parse_arguments(argv: Optional[List[str]]):
    """Return (namespace, None) or (None, exit code) for --help, --version and usage errors."""
    try:
        return build_parser().parse_args(argv), None
    except SystemExit as stop:
        return None, EXIT_USAGE if stop.code else EXIT_OK


def load_config(path: str):
    """Return the validated Config from `path` (raises ConfigError)."""
    from vhpi.config.loading import load_raw_config
    from vhpi.config.validation import validate_config
    return validate_config(load_raw_config(path), os.path.expanduser(path))


def load_config_for_run(path: str, home: str):
    """Return the Config for a backup run: the cached copy when the file is unchanged, else
    a full load and validation, remembered for next time (raises ConfigError)."""
    from vhpi.config.cache import cached_config, remember_config
    full_path = os.path.expanduser(path)
    try:
        config = cached_config(home, full_path)
    except OSError:
        config = None
    if config is None:
        config = load_config(path)
        remember_config(home, full_path, config)
    return config


def main(argv: Optional[List[str]] = None) -> int:
    """Run vhpi with command-line arguments `argv`; return the exit code."""
    now = time.time()
    arguments, stop_code = parse_arguments(argv)
    if arguments is None:
        return stop_code
    from vhpi.config.errors import ConfigError
    home = os.path.expanduser(HOME)
    try:
        if arguments.dry_run:
            config = load_config(arguments.config)
        else:
            config = load_config_for_run(arguments.config, home)
    except ConfigError as error:
        print(f"vhpi: the config cannot be used ({len(error.problems)} problem"
              f"{'s' if len(error.problems) != 1 else ''}); nothing was done:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE
    if arguments.dry_run:
        from vhpi.actions.dry_run import run_dry_run
        return run_dry_run(config, home, now, print)
    from vhpi.actions.locked_run import run_locked_backup
    return run_locked_backup(config, home, now, arguments.trust_clock)


if __name__ == "__main__":
    sys.exit(main())
