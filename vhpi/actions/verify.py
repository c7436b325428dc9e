"""`vhpi verify [JOB] [SNAPSHOT] [--json]`: re-read the backups and compare every file with
the checksum recorded when it was copied (vhpi.act.new_checksums). `--source` compares a
snapshot with the share instead (vhpi.actions.verify_source).

Per group of jobs whose destinations share a disk (all jobs, or JOB alone):
1. list every regular file of every snapshot and backup.latest (or of SNAPSHOT) per inode
   into a scratch SQLite file on the disk (vhpi.act.dedup_listing);
2. read each inode once, in inode order, hash and compare (vhpi.act.verify_inodes): intact,
   no checksum yet (now recorded, counted apart), damaged (other bytes, or unreadable);
3. for each damaged inode: every snapshot that shares it, and where a good copy is
   (vhpi.act.damage_details). A damaged file is never overwritten: the share may be the
   one that changed.

No destination lock is taken (snapshots never change; only a lock of its own, so that two
verifies of one disk do not share a listing); a verify of every snapshot is recorded for
`vhpi status` (vhpi.act.verify_state). Damage: an ERROR line in info.log, the job's
after_failure hook and fail ping (vhpi.actions.damage_notice), exit 1. Exit 2: unknown job
or snapshot.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

from vhpi.act import content_index
from vhpi.act.snapshot_trees import is_snapshot, trees_of
from vhpi.act.dedup_listing import finish_listing, list_tree, listing_path, new_listing, remove_listing
from vhpi.act.disk_groups import jobs_by_disk
from vhpi.act.inventory import list_snapshots
from vhpi.act.lock import try_lock
from vhpi.act.verify_inodes import Checked, verify_listed
from vhpi.act.verify_state import note_verify
from vhpi.config.model import Config, Job
from vhpi.decide.selection import NotFound, find_job, find_snapshot
from vhpi.decide.verify_report import (Finding, VerifyReport, as_json,
                                       damage_words, summary_line)
from vhpi.logs import close_logs, open_logs

LISTING = "verify-listing.sqlite3"
LOCK_NAME = "verify.lock"


def run_verify(config: Config, arguments, home: str) -> int:
    """Given the config and the parsed arguments (job, snapshot, json, source, all,
    sample), verify and print a line per job (or JSON); return 0, 1 or 2."""
    if arguments.source:
        from vhpi.actions.verify_source import run_verify_source
        return run_verify_source(config, arguments, home)
    try:
        chosen = _chosen(config, arguments.job, arguments.snapshot)
    except NotFound as error:
        print(f"vhpi verify: {error}", file=sys.stderr)
        return 2
    groups, problems = chosen
    log, _ = open_logs(home, interactive=False)
    try:
        reports = [report for jobs in groups
                   for report in _verify_alone(config, jobs, arguments.snapshot, log, problems)]
    finally:
        close_logs(log)
    _print(reports, problems, arguments.json)
    return 0 if not problems and all(report.fine for report in reports) else 1


def _chosen(config: Config, wanted: Optional[str],
            snapshot: Optional[str]) -> Tuple[List[List[Job]], List[str]]:
    """Return the groups of jobs to verify and the problems of jobs left out (raises
    NotFound for an unknown job or snapshot)."""
    if wanted is None:
        return jobs_by_disk(config, None)
    job = find_job(config, wanted)
    if snapshot is not None:
        find_snapshot(list_snapshots(job, config.intervals), snapshot)
    groups, problems = jobs_by_disk(config, wanted)
    return ([[job]] if groups else []), problems


def _print(reports: List[VerifyReport], problems: List[str], as_json_output: bool) -> None:
    if as_json_output:
        print(json.dumps({"jobs": [as_json(report) for report in reports], "problems": problems},
                         indent=2))
        return
    if not reports and not problems:
        print("nothing to verify: no job has backups yet")
    for report in reports:
        print(summary_line(report))
        for item in report.damaged:
            print(f"  DAMAGED{' (unreadable)' if item.unreadable else ''}: {item.paths[0]}")
            print(f"    shared by: {', '.join(item.snapshots)}")
            print(f"    good copy: {item.advice}")
        for problem in report.problems[:5]:
            print(f"  problem: {problem}")
    for problem in problems:
        print(f"vhpi verify: {problem}", file=sys.stderr)


def _verify_alone(config: Config, jobs: Sequence[Job], snapshot: Optional[str], log,
                  problems: List[str]) -> List[VerifyReport]:
    """verify_jobs, holding the group's verify lock (DEST/.vhpi/verify.lock of its first
    destination: two verifies would share one scratch listing); when another verify holds
    it, add that to `problems` and return no report."""
    lock_fd = try_lock(os.path.join(jobs[0].destination, ".vhpi", LOCK_NAME))
    if lock_fd is None:
        problems.append(f"another vhpi verify is reading {jobs[0].destination} now; "
                        f"jobs {', '.join(job.name for job in jobs)} not verified: try again later")
        return []
    try:
        return verify_jobs(config, jobs, snapshot, log)
    finally:
        os.close(lock_fd)


def verify_jobs(config: Config, jobs: Sequence[Job], snapshot: Optional[str], log) -> List[VerifyReport]:
    """Verify the snapshots of `jobs` (destinations on one disk; every snapshot, or only
    `snapshot`); tell about damage; return one report per job."""
    started, listed_from = time.monotonic(), time.time()
    roots = [job.destination for job in jobs]
    own = os.path.join(roots[0], ".vhpi")
    scope = "every snapshot" if snapshot is None else snapshot
    reports = [VerifyReport(job.name, scope) for job in jobs]
    trees = [tree for tree in trees_of(config, jobs) if snapshot is None or is_snapshot(tree, snapshot)]
    listing = new_listing(own, LISTING)
    indexes = [content_index.open_index(root) for root in roots]
    try:
        for tree in trees:
            list_tree(listing, tree, lambda path, error: reports[tree.dest].problems.append(
                f"{tree.name}/{os.fsdecode(path)}: {error.strerror}"), min_size=1)
        finish_listing(listing)
        damaged: Dict[int, Checked] = {}

        def checked(result: Checked) -> None:
            reports[result.name.dest].add(result.finding, result.read)
            if result.finding is Finding.DAMAGED:
                damaged[result.ino] = result

        verify_listed(roots, listing, indexes, checked)
        if snapshot is None and not any(report.problems for report in reports):
            for index in indexes:  # a complete listing: the records of deleted files go
                content_index.prune(index, listing_path(own, LISTING), listed_from, 1)
        elapsed = time.monotonic() - started
        if damaged:  # (imported only now: a verify that finds nothing starts faster)
            from vhpi.act.damage_details import describe_damage
        for result in damaged.values():
            report = reports[result.name.dest]
            report.damaged.append(describe_damage(config, jobs, snapshot, listing, indexes, result))
        for report in reports:
            report.seconds = elapsed
    finally:
        listing.close()
        remove_listing(own, LISTING)
        for index in indexes:
            index.close()  # committed by verify_listed; the rest (a kill) is dropped
    for job, report in zip(jobs, reports):
        _tell(config, job, report, snapshot is None, log)
    return reports


def _tell(config: Config, job: Job, report: VerifyReport, full: bool, log) -> None:
    """Log the job's verify line; record it (for status); tell about damage."""
    log.info("verify: %s", summary_line(report))
    damaged_paths = [item.paths[0] for item in report.damaged]
    try:
        note_verify(job.destination, time.time(), "verify", full and not report.problems,
                    report.files, report.bytes_read, damaged_paths)
    except OSError as error:
        log.warning("job %s: the verify could not be recorded for vhpi status (%s)", job.name, error)
    if report.damaged:
        from vhpi.actions.damage_notice import tell_damage
        tell_damage(job, config.path, log, damage_words(report))
