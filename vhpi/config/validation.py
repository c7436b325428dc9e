"""Validating the parsed config with `schema`, collecting every problem with its place.

Messages read `jobs_cfg[0].snapshots.fortnightly: no such interval in app_cfg.intervals`.
Relative paths in the config are taken relative to the folder that holds the config file.
Hook commands are shell lines (run later with /bin/sh -c): only their form is checked here.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from schema import And, Or, Schema, SchemaError

from vhpi.config.errors import ConfigError
from vhpi.config.model import (DEFAULT_SOURCE_TIMEOUT, DEFAULT_STALE_AFTER, HOOK_NAMES, Config,
                               Hooks, Job)
from vhpi.decide.paths import destination_clashes, nesting_problem
from vhpi.decide.rsync_options import DEFAULT_RSYNC_OPTIONS, check_rsync_options

TOP_KEYS = ("app_cfg", "jobs_cfg")
APP_KEYS = ("exclude_lib", "intervals", "hooks", "healthcheck_url", "source_timeout",
            "stale_after", "snapshot_group", "scrub_every")
JOB_KEYS = ("name", "source_ip", "rsync_src", "rsync_dest", "rsync_options",
            "exclude_lists", "excludes", "snapshots", "hooks", "healthcheck_url", "source_timeout",
            "stale_after", "snapshot_group", "scrub_every")
REQUIRED_JOB_KEYS = ("source_ip", "rsync_src", "rsync_dest", "snapshots")
INTERVAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
HOST = re.compile(r"[A-Za-z0-9:.%-]+")
#: http(s)://, optional user@, a host name or [IPv6], optional port, then path/query/fragment
#: without blanks. A regular expression, not urllib.parse: vhpi imports no urllib unless it pings.
PING_URL = re.compile(r"(?i:https?)://([^/?#@\s]+@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)"
                      r"(:[0-9]{1,5})?([/?#]\S*)?")


def _not_bool(value: Any) -> bool:
    return not isinstance(value, bool)


WHOLE_AT_LEAST_0 = Schema(And(int, _not_bool, lambda n: n >= 0))
WHOLE_AT_LEAST_1 = Schema(And(int, _not_bool, lambda n: n >= 1))
#: source_timeout: seconds, at least 1, at most a day.
TIMEOUT_SECONDS = Schema(And(Or(int, float), _not_bool, lambda n: 1 <= n <= 86400))
#: stale_after: whole seconds, at least an hour.
STALE_SECONDS = Schema(And(int, _not_bool, lambda n: n >= 3600))
#: scrub_every: 0 (off) or whole seconds from a day to ten years.
SCRUB_SECONDS = Schema(And(int, _not_bool, lambda n: n == 0 or 86400 <= n <= 10 * 365 * 86400))
GROUP_NAME = Schema(And(str, re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?").fullmatch))
TEXT = Schema(And(str, lambda s: s.strip() != ""))
TEXT_LIST = Schema([And(str, lambda s: s.strip() != "")])
MAPPING = Schema(dict)
HOST_NAME = Schema(And(str, HOST.fullmatch))
INTERVAL = Schema(And(str, INTERVAL_NAME.fullmatch))
COMMAND = Schema(Or(None, TEXT))
URL = Schema(Or(None, And(str, PING_URL.fullmatch)))


class Problems:
    """Collects problems, each prefixed with the place in the config it concerns."""

    def __init__(self) -> None:
        self.messages: List[str] = []

    def add(self, place: str, message: str) -> None:
        self.messages.append(f"{place}: {message}")

    def check(self, value: Any, schema: Schema, place: str, message: str) -> bool:
        """Validate `value` against `schema`; on failure record `message, got <value>`."""
        try:
            schema.validate(value)
            return True
        except SchemaError:
            self.add(place, f"{message}, got {value!r}")
            return False


def _unknown_keys(mapping: Dict, allowed: Tuple[str, ...], place: str, problems: Problems) -> None:
    for key in mapping:
        if key in allowed:
            continue
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(allowed)})"
        problems.add(f"{place}.{key}" if place else str(key), f"unknown key{hint}")


def _mapping(value: Any, place: str, problems: Problems) -> Optional[Dict]:
    if problems.check(value, MAPPING, place, "must be a mapping of keys to values"):
        return value
    return None


def _intervals(app: Dict, problems: Problems) -> Dict[str, int]:
    raw = app.get("intervals")
    if raw is None:
        problems.add("app_cfg.intervals", "missing: name each interval with its length in seconds")
        return {}
    if _mapping(raw, "app_cfg.intervals", problems) is None:
        return {}
    intervals = {}
    for name, seconds in raw.items():
        place = f"app_cfg.intervals.{name}"
        ok = problems.check(name, INTERVAL, place, "interval names may hold only letters, digits, "
                            "'-' and '_' (they become folder names like daily.0)")
        if problems.check(seconds, WHOLE_AT_LEAST_1, place,
                          "must be a whole number of seconds >= 1") and ok:
            intervals[name] = seconds
    if not raw:
        problems.add("app_cfg.intervals", "is empty: name at least one interval")
    return intervals


def _exclude_lib(app: Dict, problems: Problems) -> Dict[str, List[str]]:
    raw = app.get("exclude_lib") or {}
    if _mapping(raw, "app_cfg.exclude_lib", problems) is None:
        return {}
    return {name: patterns for name, patterns in raw.items()
            if problems.check(patterns, TEXT_LIST, f"app_cfg.exclude_lib.{name}",
                              "must be a list of exclude patterns")}


def resolve_path(text: str, config_dir: str) -> str:
    """Return `text` as an absolute, normalised path; relative ones start at `config_dir`."""
    return os.path.normpath(os.path.join(config_dir, os.path.expanduser(text)))


def _check_nesting(source: str, destination: str, place: str, problems: Problems) -> None:
    """Report a source and destination that are the same folder or nested, as written
    (the run checks the real paths again, symlinks seen through: vhpi.act.source)."""
    problem = nesting_problem(source, destination)
    if problem is not None:
        key, reason = problem
        problems.add(f"{place}.{key}" if key else place, reason)


def _keep_counts(raw: Any, intervals: Dict[str, int], place: str, problems: Problems) -> Dict[str, int]:
    if raw is None or raw == {}:
        problems.add(place, "name at least one interval with its keep count, e.g. {daily: 7}")
        return {}
    if _mapping(raw, place, problems) is None:
        return {}
    counts = {}
    for name, keep in raw.items():
        if name not in intervals:
            problems.add(f"{place}.{name}", "no such interval in app_cfg.intervals")
        elif problems.check(keep, WHOLE_AT_LEAST_0, f"{place}.{name}", "must be a whole number >= 0"):
            counts[name] = keep
    if counts and not any(counts.values()):
        problems.add(place, "every keep count is 0, so this job would never make a snapshot")
    return counts


def _excludes(job: Dict, library: Dict[str, List[str]], place: str, problems: Problems) -> Tuple[str, ...]:
    patterns: List[str] = []
    lists = job.get("exclude_lists") or []
    if problems.check(lists, TEXT_LIST, f"{place}.exclude_lists", "must be a list of names from app_cfg.exclude_lib"):
        for index, name in enumerate(lists):
            if name in library:
                patterns.extend(library[name])
            else:
                problems.add(f"{place}.exclude_lists[{index}]", f"no list {name!r} in app_cfg.exclude_lib")
    own = job.get("excludes") or []
    if problems.check(own, TEXT_LIST, f"{place}.excludes", "must be a list of exclude patterns"):
        patterns.extend(own)
    return tuple(patterns)


def _rsync_options(job: Dict, place: str, problems: Problems) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    text = job.get("rsync_options")
    if text is None:
        text = DEFAULT_RSYNC_OPTIONS
    if not problems.check(text, TEXT, f"{place}.rsync_options", "must be a string of rsync options"):
        return (), ()
    checked = check_rsync_options(text)
    for problem in checked.problems:
        problems.add(f"{place}.rsync_options", problem)
    return checked.words, checked.warnings


def _hooks(raw: Any, place: str, problems: Problems) -> Hooks:
    """Given the value of a `hooks:` key (None when absent), return the Hooks it sets; a
    command left empty in YAML (null) counts as not set."""
    if raw is None or not problems.check(raw, MAPPING, place, "must map before, after_success "
                                         "and after_failure to shell command lines"):
        return Hooks()
    _unknown_keys(raw, HOOK_NAMES, place, problems)
    commands = {name: raw.get(name) for name in HOOK_NAMES}
    for name, command in commands.items():
        problems.check(command, COMMAND, f"{place}.{name}",
                       "must be a shell command line (a non-empty string, run with /bin/sh -c)")
    return Hooks(**commands)


def _source_timeout(raw: Any, default: float, place: str, problems: Problems) -> float:
    """Given the value of a `source_timeout:` key (None when absent), return the seconds."""
    if raw is None:
        return default
    if problems.check(raw, TIMEOUT_SECONDS, place, "must be a number of seconds from 1 to "
                      "86400 (how long a source may go without answering)"):
        return raw
    return default


#: The job keys that, given in app_cfg, are every job's default: key -> (schema, message).
JOB_DEFAULTS = {
    "stale_after": (STALE_SECONDS, "must be a whole number of seconds of at least 3600 (how "
                                   "old the newest snapshot may get before every run fails)"),
    "snapshot_group": (GROUP_NAME, "must be the name of a group of this system (its members "
                                   "may read the snapshots)"),
    "scrub_every": (SCRUB_SECONDS, "must be 0 (no scrub) or a whole number of seconds from "
                                   "86400 (a day) to ten years: the period in which the scrub "
                                   "re-reads every byte of the backups once, e.g. 2592000 (30 days)"),
}


def _job_default(key: str, raw: Any, default: Any, place: str, problems: Problems) -> Any:
    """Given the value of one of JOB_DEFAULTS' keys (None when absent), return it checked,
    or `default`."""
    schema, message = JOB_DEFAULTS[key]
    if raw is not None and problems.check(raw, schema, place, message):
        return raw
    return default


def _healthcheck_url(raw: Any, place: str, problems: Problems) -> Optional[str]:
    """Given the value of a `healthcheck_url:` key (None when absent), return the URL or None."""
    if problems.check(raw, URL, place, "must be an http:// or https:// URL with a host, such "
                      "as https://hc-ping.com/<uuid>"):
        return raw
    return None


def _job(raw: Any, index: int, intervals: Dict[str, int], library: Dict[str, List[str]],
         config_dir: str, defaults: Dict[str, Any], problems: Problems) -> Optional[Job]:
    place = f"jobs_cfg[{index}]"
    if _mapping(raw, place, problems) is None:
        return None
    before = len(problems.messages)
    _unknown_keys(raw, JOB_KEYS, place, problems)
    for key in REQUIRED_JOB_KEYS:
        if key not in raw:
            problems.add(f"{place}.{key}", "missing")
    problems.check(raw.get("source_ip", "x"), HOST_NAME, f"{place}.source_ip",
                   "must be an IP address or host name in quotes")
    paths = {key: raw.get(key, ".") for key in ("rsync_src", "rsync_dest")}
    paths_ok = all([problems.check(value, TEXT, f"{place}.{key}", "must be a folder path")
                    for key, value in paths.items()])
    source = resolve_path(paths["rsync_src"], config_dir) if paths_ok else ""
    destination = resolve_path(paths["rsync_dest"], config_dir) if paths_ok else ""
    if paths_ok and "rsync_src" in raw and "rsync_dest" in raw:
        _check_nesting(source, destination, place, problems)
    name = raw.get("name", os.path.basename(destination) or f"job{index}")
    problems.check(name, TEXT, f"{place}.name", "must be a short text")
    keep_counts = (_keep_counts(raw["snapshots"], intervals, f"{place}.snapshots", problems)
                   if "snapshots" in raw else {})
    excludes = _excludes(raw, library, place, problems)
    options, warnings = _rsync_options(raw, place, problems)
    hooks = _hooks(raw.get("hooks"), f"{place}.hooks", problems)
    url = _healthcheck_url(raw.get("healthcheck_url"), f"{place}.healthcheck_url", problems)
    timeout = _source_timeout(raw.get("source_timeout"), defaults["source_timeout"],
                              f"{place}.source_timeout", problems)
    stale = _job_default("stale_after", raw.get("stale_after"), defaults["stale_after"],
                         f"{place}.stale_after", problems)
    group = _job_default("snapshot_group", raw.get("snapshot_group"), defaults["snapshot_group"],
                         f"{place}.snapshot_group", problems)
    scrub = _job_default("scrub_every", raw.get("scrub_every"), defaults["scrub_every"],
                         f"{place}.scrub_every", problems)
    if len(problems.messages) > before:
        return None
    return Job(str(name), str(raw["source_ip"]), source, destination, options, excludes,
               keep_counts, tuple(f"{place}.rsync_options: {w}" for w in warnings), hooks, url,
               timeout, stale, group, scrub)


def _unique(jobs: List[Tuple[int, Job]], problems: Problems) -> None:
    """Report jobs (with their places in jobs_cfg) that share a name or, as written, a
    destination (main checks the real paths too: destination_clashes)."""
    seen_names: Dict[str, int] = {}
    for index, job in jobs:
        if job.name in seen_names:
            problems.add(f"jobs_cfg[{index}].name", f"{job.name!r} is already the name of "
                         f"jobs_cfg[{seen_names[job.name]}]; give each job its own name")
        seen_names.setdefault(job.name, index)
    for problem in destination_clashes([job.destination for _, job in jobs],
                                       [index for index, _ in jobs]):
        problems.messages.append(problem)


def validate_config(raw: Any, config_path: str) -> Config:
    """Given the parsed YAML and the file it came from, return the Config or raise ConfigError
    listing every problem found."""
    problems = Problems()
    if not isinstance(raw, dict):
        raise ConfigError([f"{config_path}: must be a mapping with the keys app_cfg and jobs_cfg, "
                           f"got {type(raw).__name__}"])
    _unknown_keys(raw, TOP_KEYS, "", problems)
    app = _mapping(raw.get("app_cfg"), "app_cfg", problems) or {}
    _unknown_keys(app, APP_KEYS, "app_cfg", problems)
    intervals = _intervals(app, problems)
    library = _exclude_lib(app, problems)
    hooks = _hooks(app.get("hooks"), "app_cfg.hooks", problems)
    url = _healthcheck_url(app.get("healthcheck_url"), "app_cfg.healthcheck_url", problems)
    defaults = {"source_timeout": _source_timeout(app.get("source_timeout"), DEFAULT_SOURCE_TIMEOUT,
                                                  "app_cfg.source_timeout", problems),
                "stale_after": _job_default("stale_after", app.get("stale_after"),
                                            DEFAULT_STALE_AFTER, "app_cfg.stale_after", problems),
                "snapshot_group": _job_default("snapshot_group", app.get("snapshot_group"), None,
                                               "app_cfg.snapshot_group", problems),
                "scrub_every": _job_default("scrub_every", app.get("scrub_every"), 0,
                                            "app_cfg.scrub_every", problems)}
    raw_jobs = raw.get("jobs_cfg")
    jobs: List[Tuple[int, Job]] = []
    if problems.check(raw_jobs, Schema(And(list, len)), "jobs_cfg", "must be a list of one or more jobs"):
        config_dir = os.path.dirname(os.path.abspath(config_path))
        for index, raw_job in enumerate(raw_jobs):
            job = _job(raw_job, index, intervals, library, config_dir, defaults, problems)
            if job is not None:
                jobs.append((index, job))
        _unique(jobs, problems)
    if problems.messages:
        raise ConfigError(problems.messages)
    return Config(os.path.abspath(config_path), intervals, tuple(job for _, job in jobs),
                  hooks, url)
