"""`vhpi check`: is everything a run needs in place? The config (already validated when
this runs; a note when others can read it while it holds a healthcheck URL or a hook),
rsync and its version, then per job: which host check will be used and whether the host
answers now, the source's sentinel and its file system (a note when it cannot give what
the rsync options ask for), the destination (there, marked, writable, on which file
system), who can reach its snapshots (its mode), and its free space and inodes. One line
per check; exit 0 only when no check failed. An offline host is a note, not a failure: a
run skips it too. It changes nothing: all its IO is reads, through vhpi.act.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shlex
from dataclasses import asdict, dataclass
from typing import List, Optional

from vhpi.act.destination import destination_problem, known_destinations
from vhpi.act.filesystem import (filesystem_above, filesystem_of, mount_point, no_hard_links_message,
                                 space_of, try_hard_link)
from vhpi.act.host_check import probe_host
from vhpi.act.layout import Layout
from vhpi.act.privacy import gid_or_none, holds_backups, mode_and_owners, running_uid
from vhpi.act.processes import Ending, Limits, run_and_read
from vhpi.act.programs import program_found
from vhpi.act.source import examine_source
from vhpi.config.model import HOOK_NAMES, Config, Hooks, Job
from vhpi.decide.privacy import Reach, config_verdict, reach_verdict
from vhpi.decide.recycling import RECYCLE_MIN_FREE_BYTES, RECYCLE_MIN_FREE_INODES, room_is_ample
from vhpi.decide.source_limits import asked_to_keep, limits_words, source_limits
from vhpi.decide.units import human_bytes

OK, NOTE, FAIL = "ok", "note", "FAIL"
#: `vhpi check` waits at most this many seconds for a source or host (a run waits the job's
#: source_timeout): it must answer at once, also on a hung share.
CHECK_TIMEOUT = 5.0
#: rsync older than this lacks options vhpi uses (--info=progress2 came with 3.1.0).
OLDEST_RSYNC = (3, 1, 0)


@dataclass(frozen=True)
class Check:
    """One checked thing: status ok / note / FAIL, the job it belongs to ('' for all)."""

    status: str
    job: str
    what: str
    detail: str


def run_check(config: Config, arguments: argparse.Namespace, home: str) -> int:
    """Run every check, print one line each (or JSON); return 0 when none failed, else 1."""
    checks = [Check(OK, "", "config", f"{config.path}: valid, {len(config.jobs)} job(s)"),
              *check_config_mode(config), check_rsync()]
    known = known_destinations(home)
    checks += check_hooks("", config.hooks)
    for job in config.jobs:
        checks += check_job(job, job.destination in known)
    if getattr(arguments, "json", False):
        print(json.dumps([asdict(check) for check in checks], indent=1))
    else:
        for check in checks:
            print(format_check(check))
    return 1 if any(check.status == FAIL for check in checks) else 0


def format_check(check: Check) -> str:
    """Return the line for one check, e.g. `ok    job laptop: source: /mnt/laptop (…)`."""
    where = f"job {check.job}: " if check.job else ""
    return f"{check.status:<5} {where}{check.what}: {check.detail}"


def rsync_version(text: str) -> Optional[tuple]:
    """Return (major, minor, patch) from `rsync --version` output, or None."""
    found = re.search(r"rsync\s+version\s+v?(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(part) for part in found.groups()) if found else None


def check_rsync() -> Check:
    """Is rsync installed, and new enough?"""
    finished, output = run_and_read(["rsync", "--version"], Limits(deadline=30))
    if finished.ending is not Ending.EXITED:
        reason = finished.tail[-1] if finished.tail else finished.ending.value
        return Check(FAIL, "", "rsync", f"cannot run rsync ({reason}); install it: apt-get install rsync")
    version = rsync_version(output.decode("utf-8", "replace"))
    if version is None:
        return Check(FAIL, "", "rsync", "rsync --version did not say its version")
    text = ".".join(map(str, version))
    if version < OLDEST_RSYNC:
        return Check(FAIL, "", "rsync", f"version {text} is too old; vhpi needs "
                     f"{'.'.join(map(str, OLDEST_RSYNC))} or newer")
    return Check(OK, "", "rsync", f"version {text}")


def check_job(job: Job, used_before: bool) -> List[Check]:
    """Return the checks of one job, in the order a run meets them."""
    return [*check_hooks(job.name, job.hooks), check_host(job), *check_source(job),
            *check_destination(job, used_before)]


def check_hooks(job_name: str, hooks: Hooks) -> List[Check]:
    """A note for each hook whose program is not found (a shell builtin or a keyword such
    as `if` is fine; the shell decides, so this is a note, not a failure)."""
    checks = []
    for name in HOOK_NAMES:
        command = getattr(hooks, name)
        if not command:
            continue
        program = first_word(command)
        if program and not _program_found(program):
            checks.append(Check(NOTE, job_name, f"{name} hook", f"{program!r} is neither found in "
                                f"PATH nor a shell builtin (cron's PATH is shorter than a "
                                f"terminal's): {command}"))
        else:
            checks.append(Check(OK, job_name, f"{name} hook", command))
    return checks


#: Words /bin/sh understands itself (POSIX special and regular builtins, keywords).
SHELL_WORDS = frozenset("""! . : [ alias bg break case cd command continue eval exec exit export false
fc fg for getopts hash if jobs kill newgrp pwd read readonly return set shift test times trap
true type ulimit umask unalias unset until wait while { ( ((""".split())


def first_word(command: str) -> Optional[str]:
    """Return the program a shell command line starts with (after VAR=value words), or None
    when it cannot be told."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return None
    words = [word for word in words if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word)]
    return words[0] if words else None


def _program_found(program: str) -> bool:
    return program in SHELL_WORDS or program_found(program)


def check_host(job: Job) -> Check:
    """Which host check a run will use, and does the host answer now? (Given up after
    CHECK_TIMEOUT seconds at most.)"""
    answered, used = probe_host(job.source_ip, logging.getLogger("vhpi.check"),
                                min(job.source_timeout, CHECK_TIMEOUT))
    if answered:
        return Check(OK, job.name, "host", f"{job.source_ip} answers (checked with {used})")
    return Check(NOTE, job.name, "host", f"{job.source_ip} does not answer now (checked with "
                 f"{used}); a run skips the job while it is offline")


def check_source(job: Job) -> List[Check]:
    """Is the source there, with its .backup_valid sentinel, and apart from the destination?
    (A share that does not answer within CHECK_TIMEOUT seconds is reported as such.) Then
    its file system. Returns 1 or 2 checks."""
    problem, real_path = examine_source(job.source, min(job.source_timeout, CHECK_TIMEOUT),
                                        job.destination)
    if problem:
        return [Check(FAIL, job.name, "source", problem)]
    found = [Check(OK, job.name, "source", f"{job.source} (sentinel present)")]
    return found + [check_source_filesystem(job, real_path)] if real_path else found


def check_source_filesystem(job: Job, real_path: str) -> Check:
    """Which file system holds the source (found in mountinfo by its real path, which the
    bounded look resolved: the share itself is not touched), and a note naming what it
    cannot give that the job's rsync options ask for (sshfs, cifs, nfs)?"""
    found = filesystem_above(real_path)
    if found is None:
        return Check(NOTE, job.name, "source file system", "not found in /proc/self/mountinfo")
    where = f"{found.label}, mounted at {found.mount_point}"
    lost = source_limits(found.mount_type, asked_to_keep(job.rsync_options, running_uid() == 0))
    if lost:
        return Check(NOTE, job.name, "source file system", f"{where}; the copies lack what the "
                     f"rsync options ask for: {limits_words(lost)}")
    return Check(OK, job.name, "source file system", where)


def check_destination(job: Job, used_before: bool) -> List[Check]:
    """Is the destination there, marked, writable, able to make hard links, and with room?
    Returns 1 or 3 checks."""
    layout = Layout(job.destination)
    problem = destination_problem(layout, used_before)
    if problem:
        missing = mode_and_owners(layout.root)[0] is None
        return [Check(FAIL, job.name, "destination", problem),
                *([check_destination_mode(job, layout)] if missing else [])]
    mount = mount_point(layout.root)
    where = (f"on the root file system ({mount}): is that really the backup disk?"
             if mount == "/" else f"on the file system mounted at {mount}")
    status = NOTE if mount == "/" else OK
    return [Check(status, job.name, "destination", f"{layout.root} marked, writable, {where}"),
            check_destination_mode(job, layout), check_hard_links(job, layout),
            check_free_space(job, layout)]


def check_destination_mode(job: Job, layout: Layout) -> Check:
    """Who can reach the snapshots: FAIL when other accounts (or a group that is not the
    job's snapshot_group) can enter the destination folder. Only looks: a run makes it
    private (vhpi.act.privacy.keep_private)."""
    mode, owners = mode_and_owners(layout.root)
    reach, words = reach_verdict(layout.root, mode, owners, job.snapshot_group,
                                 gid_or_none(job.snapshot_group), running_uid(),
                                 holds_backups(layout))
    status = FAIL if reach.fails else (NOTE if mode is None or reach is Reach.OPEN_BUT_EMPTY else OK)
    return Check(status, job.name, "destination mode", words)


def check_config_mode(config: Config) -> List[Check]:
    """A note when others can read the config file while it holds a healthcheck URL or a
    hook (FAIL when others can change it: a hook runs as vhpi's user); [] when it is fine."""
    mode, owners = mode_and_owners(config.path)
    if mode is None or owners is None:
        return []
    exposure, words = config_verdict(config.path, mode, owners.group, config_secrets(config))
    if not words:
        return []
    return [Check(FAIL if exposure.fails else NOTE, "", "config mode", words)]


def config_secrets(config: Config) -> List[str]:
    """Return what in the config others must not read: ["a healthcheck URL", "hooks"]."""
    jobs = config.jobs
    url = config.healthcheck_url or any(job.healthcheck_url for job in jobs)
    hooks = config.hooks.configured() or any(job.hooks.configured() for job in jobs)
    return [words for words, held in (("a healthcheck URL", url), ("hooks", hooks)) if held]


# ---- hard links (exFAT / FAT sticks): see vhpi.act.filesystem
def check_hard_links(job: Job, layout: Layout) -> Check:
    """Can the destination's file system make hard links, as every snapshot needs? Tries one
    (two names of an empty file in the destination, removed at once): FAIL on exFAT, FAT and
    the like, naming the file system and what to use instead; a note when it could not try."""
    try:
        reason = try_hard_link(layout.root)
    except OSError as error:
        return Check(NOTE, job.name, "hard links", f"could not try a hard link in {layout.root} "
                     f"({error.strerror or error}); a run needs them for every snapshot")
    found = filesystem_of(layout.root)
    if reason is not None:
        return Check(FAIL, job.name, "hard links", no_hard_links_message(layout.root, reason, found))
    label = found.label if found else "file system not found in /proc/self/mountinfo"
    return Check(OK, job.name, "hard links", f"hard links work ({label})")
# ---- end of hard links


def check_free_space(job: Job, layout: Layout) -> Check:
    """Enough free space and inodes for a run (the thresholds recycling needs)?"""
    info = space_of(layout.root)
    free = info.f_bavail * info.f_frsize
    inodes = "no inode limit" if info.f_files == 0 else f"{info.f_favail:,} free inodes"
    detail = f"{human_bytes(free)} free of {human_bytes(info.f_blocks * info.f_frsize)}, {inodes}"
    if not room_is_ample(info):
        return Check(FAIL, job.name, "free space", f"{detail}: nearly full (vhpi wants at least "
                     f"{human_bytes(RECYCLE_MIN_FREE_BYTES)} and {RECYCLE_MIN_FREE_INODES:,} inodes)")
    return Check(OK, job.name, "free space", detail)
