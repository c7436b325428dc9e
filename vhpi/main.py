"""The entry point: `python3 -m vhpi.main` and the `vhpi` command both run main().

Without a command vhpi makes the backup run (what cron starts). The commands (init, check,
status, list, diff, du, restore, versions, dedup) live one per module in vhpi/actions, each with a
`run_<command>(config, arguments, home) -> exit code`, imported only when asked for.

Exit codes: 0 every job fine (nothing due and offline hosts are fine), 1 some job failed
(or a command found a problem, or vhpi could not write its own folder), 2 config or usage
error. Stopped by SIGTERM, SIGINT (Ctrl-C) or SIGHUP, vhpi cleans up and ends by the same
signal: a shell shows 128 + N (143 for SIGTERM, 130 for Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional

from vhpi import __version__
from vhpi.act.umask import make_private

HOME = os.path.join("~", ".very_hungry_pi")
EXIT_OK, EXIT_USAGE = 0, 2


#: command -> (module in vhpi.actions, function, one-line help)
COMMANDS = {
    "init": ("init", "run_init", "create ~/.very_hungry_pi/config.yaml, commented (never overwrites)"),
    "check": ("check", "run_check", "check the config and everything each job needs to run"),
    "status": ("status", "run_status", "each job's snapshots, what is due next, the last run"),
    "list": ("list_snapshots", "run_list", "a job's snapshots with their times"),
    "diff": ("diff", "run_diff", "files added, removed and changed between two snapshots"),
    "du": ("du", "run_du", "the space each snapshot holds of its own"),
    "restore": ("restore", "run_restore", "copy a file or folder back from a snapshot"),
    "versions": ("versions", "run_versions", "each distinct version of a file or folder, oldest first"),
    "dedup": ("dedup", "run_dedup", "store identical files once: hard-link them across snapshots"),
    "verify": ("verify", "run_verify", "re-read the backups and compare them with their checksums"),
}


def _add_command_parsers(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     help="omit to make the backup run (what cron does)")
    made = {name: commands.add_parser(name, help=text, description=text)
            for name, (_, _, text) in COMMANDS.items()}
    for sub in made.values():
        sub.add_argument("--config", default=argparse.SUPPRESS,
                         help="config file (default: ~/.very_hungry_pi/config.yaml)")
    for name in ("status", "list", "diff", "du", "check", "versions", "dedup", "verify"):
        made[name].add_argument("--json", action="store_true", help="print JSON for scripts")
    made["list"].add_argument("job", nargs="?", help="the job's name (may be left out with one job)")
    made["diff"].add_argument("names", nargs="+", metavar="[JOB] A B",
                              help="two snapshots such as hourly.1 hourly.0; 'source' for the source")
    made["du"].add_argument("job", nargs="?", help="only this job")
    made["restore"].add_argument("job", help="the job's name")
    made["restore"].add_argument("snapshot", help="a snapshot such as daily.3 or backup.latest, "
                                                  "or a version such as v2 (see vhpi versions)")
    made["restore"].add_argument("path", help="file or folder inside the snapshot")
    made["restore"].add_argument("--to", metavar="DIR",
                                 help="copy into DIR (default: back to its place in the source)")
    made["restore"].add_argument("--overwrite", action="store_true",
                                 help="replace what is already there")
    made["restore"].add_argument("--unsafe", action="store_true",
                                 help="also restore device nodes and setuid, setgid or "
                                      "capability files (refused without it)")
    _add_storage_parsers(made)


def _add_storage_parsers(made: dict) -> None:
    made["versions"].add_argument("job", help="the job's name")
    made["versions"].add_argument("path", help="file or folder inside the snapshots")
    made["dedup"].add_argument("job", nargs="?", help="only the jobs sharing this job's disk "
                                                      "(default: every job)")
    made["dedup"].add_argument("--dry-run", action="store_true",
                               help="say what would be linked; change nothing")
    verify = made["verify"]
    verify.add_argument("job", nargs="?", help="only this job (default: every job)")
    verify.add_argument("snapshot", nargs="?", help="only this snapshot, such as daily.3 "
                                                    "(default: every snapshot)")
    verify.add_argument("--source", action="store_true",
                        help="compare the newest snapshot (or SNAPSHOT) with the share by content")
    verify.add_argument("--all", action="store_true", help="with --source: every file, not a sample")
    verify.add_argument("--sample", type=int, default=200, metavar="N",
                        help="with --source: how many files to compare (default 200)")


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
    _add_command_parsers(parser)
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
    return checked_real_paths(validate_config(load_raw_config(path), os.path.expanduser(path)))


def checked_real_paths(config):
    """Return `config` when its destinations are distinct folders also through symlinks
    (raises ConfigError otherwise; see vhpi.act.real_paths)."""
    from vhpi.act.real_paths import real_destination_problems
    from vhpi.config.errors import ConfigError
    problems = real_destination_problems(config)
    if problems:
        raise ConfigError(problems)
    return config


def load_config_for_run(path: str, home: str):
    """Return the Config for a backup run: the cached copy when the file is unchanged, else
    a full load and validation, remembered for next time (raises ConfigError)."""
    from vhpi.config.cache import cached_config
    full_path = os.path.expanduser(path)
    try:
        config = cached_config(home, full_path)
    except OSError:
        config = None
    if config is None:
        config = load_config(path)
        from vhpi.act.config_cache import remember_config
        remember_config(home, full_path, config)
        return config
    return checked_real_paths(config)


def print_config_problems(problems: List[str]) -> None:
    """Print the config's problems, one per line, to stderr."""
    print(f"vhpi: the config cannot be used ({len(problems)} problem"
          f"{'s' if len(problems) != 1 else ''}); nothing was done:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)


def run_command(arguments: argparse.Namespace, home: str) -> int:
    """Run the command named in `arguments` (config loaded first, except for init)."""
    import importlib
    module_name, function_name, _ = COMMANDS[arguments.command]
    function = getattr(importlib.import_module(f"vhpi.actions.{module_name}"), function_name)
    if arguments.command == "init":
        return function(None, arguments, home)
    from vhpi.config.errors import ConfigError
    try:
        config = load_config(arguments.config)
    except ConfigError as error:
        print_config_problems(error.problems)
        return EXIT_USAGE
    return function(config, arguments, home)


def _run(arguments: argparse.Namespace, home: str, now: float) -> int:
    """Run what `arguments` ask for: a command, a dry run or the backup run."""
    if arguments.command is not None:
        return run_command(arguments, home)
    from vhpi.config.errors import ConfigError
    try:
        if arguments.dry_run:
            config = load_config(arguments.config)
        else:
            config = load_config_for_run(arguments.config, home)
    except ConfigError as error:
        print_config_problems(error.problems)
        return EXIT_USAGE
    if arguments.dry_run:
        from vhpi.actions.dry_run import run_dry_run
        return run_dry_run(config, home, now, print)
    from vhpi.actions.locked_run import run_locked_backup
    return run_locked_backup(config, home, now, arguments.trust_clock)


def state_home(config_path: str) -> str:
    """Return the folder for the logs, lock and records of the config at `config_path`
    (see vhpi.decide.paths.state_folder)."""
    from vhpi.decide.paths import state_folder
    return state_folder(os.path.abspath(os.path.expanduser(config_path)), os.path.expanduser("~"))


def main(argv: Optional[List[str]] = None) -> int:
    """Run vhpi with command-line arguments `argv`; return the exit code. Ctrl-C in a
    command ends it with one line, no traceback, by SIGINT (the backup run handles stop
    signals itself: vhpi.actions.locked_run); output into a pipe that closed (`| head`)
    ends it quietly."""
    now = time.time()
    try:
        arguments, stop_code = parse_arguments(argv)  # --help, --version: Python 3.9's
        if arguments is None:                         # argparse lets a closed pipe's error out
            return stop_code
        make_private()
        return _run(arguments, state_home(arguments.config), now)
    except KeyboardInterrupt:
        import signal
        print("vhpi: stopped (Ctrl-C)", file=sys.stderr)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        return 128 + signal.SIGINT
    except BrokenPipeError:
        return _quiet_after_broken_pipe()


def _quiet_after_broken_pipe() -> int:
    """The reader of stdout went away (`vhpi status | head -1`): point stdout at /dev/null so
    that Python's flush at exit does not complain, and end quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
