"""`vhpi dedup [JOB] [--dry-run] [--json]`: store identical files once, by hard-linking them
across every snapshot of the jobs whose destinations share a file system.

Per group of jobs (by st_dev of the destination; with JOB, only the group holding JOB's):

1. list every snapshot and backup.latest (vhpi.act.dedup_listing: regular files of at least
   MIN_SIZE, per inode, in a scratch SQLite file on the disk), without any lock;
2. hash (sha256) only inodes that share size, mode, owner, group and mtime with another,
   reusing valid entries of each destination's content index (vhpi.act.content_index) and
   recording new ones, committed in batches;
3. group by (hash, size, mode, owner, group, mtime, xattrs incl. ACLs); per group choose
   keepers and moves (vhpi.decide.dedup_plan: only inodes whose every name was found, never
   past half the link limit); compare each pair byte for byte;
4. re-point every name of each duplicate inode to its keeper in short batches holding the
   destination locks (vhpi.act.dedup_links, vhpi.act.dedup_lock): about a second each,
   none around a full hour (when cron's backup run starts), each fact re-checked first.

backup.latest is included: the run removes a name before rsync writes to it and never
writes into an inode, and rsync's dry run does not list a file of backup.latest that gained
a hard link the source does not have, so linking there changes nothing the next run does.

Runs at idle priority (vhpi.act.idle_priority). --dry-run lists and hashes but writes
nothing (no index entry, no link; its scratch listing is removed) and compares by hash
only. One info.log line per group. Exit 0 done, 1 a problem (a folder that could not be
read, a destination locked for hours), 2 a job that does not exist.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from itertools import groupby
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from vhpi.act import content_index
from vhpi.act.birth_time import fd_birth_time_ns
from vhpi.act.checkpoints import checkpoint
from vhpi.act.dedup_content import (attrs_digest, open_file, open_folder, same_bytes, sha256_of,
                                    unchanged)
from vhpi.act.dedup_listing import (Name, Tree, candidates, count_inodes, duplicate_rows,
                                    finish_listing, list_tree, listing_path, names_of,
                                    new_listing, remove_listing, set_content)
from vhpi.act.dedup_links import Facts, Item, link_batch
from vhpi.act.dedup_repair import needs_repair, repair_after_dedup
from vhpi.act.dedup_lock import release_locks, take_locks
from vhpi.act.disk_groups import jobs_by_disk
from vhpi.act.files import sync_file_system
from vhpi.act.idle_priority import go_idle
from vhpi.act.inventory import list_snapshots
from vhpi.act.link_limit import link_limit
from vhpi.config.model import Config, Job
from vhpi.decide.dedup_plan import (BATCH_NAMES, BATCH_SECONDS, MIN_SIZE, GroupReport, Inode, as_json,
                                    link_cap, plan_moves, quiet_time,
                                    summary_line)
from vhpi.decide.selection import NotFound
from vhpi.logs import append_note

#: How long dedup waits for a destination a backup run holds before it gives up (s).
LOCK_WAIT = 6 * 3600
#: Index records per transaction.
COMMIT_EVERY = 256


class DedupStopped(Exception):
    """Dedup could not go on with a group (the words say why; nothing is half done)."""


def run_dedup(config: Config, arguments, home: str) -> int:
    """Given the config and the parsed arguments (job, dry_run, json), deduplicate each group
    of jobs sharing a disk; print a line per group (or JSON). Return 0, 1 or 2."""
    try:
        groups, problems = jobs_by_disk(config, getattr(arguments, "job", None))
    except NotFound as error:
        print(f"vhpi dedup: {error}", file=sys.stderr)
        return 2
    go_idle()
    reports = []
    for jobs in groups:
        report = _dedup_group(config, jobs, home, bool(arguments.dry_run))
        reports.append(report)
        _log(home, report)
    for problem in problems:
        print(f"vhpi dedup: {problem}", file=sys.stderr)
    if arguments.json:
        print(json.dumps({"groups": [as_json(report) for report in reports],
                          "problems": problems}, indent=2))
    else:
        if not reports and not problems:
            print("nothing to deduplicate: no job has backups yet")
        for report in reports:
            print(summary_line(report))
            for problem in report.problems[:5]:
                print(f"  problem: {problem}")
    failed = problems or any(report.problems for report in reports)
    return 1 if failed else 0


def _log(home: str, report: GroupReport) -> None:
    """Write the group's line to info.log (a HOME that cannot be written only loses it)."""
    prefix = "dedup (--dry-run)" if report.dry_run else "dedup"
    try:
        append_note(home, f"{prefix}: {summary_line(report)}")
    except OSError:
        pass


def _dedup_group(config: Config, jobs: List[Job], home: str, dry_run: bool) -> GroupReport:
    """List, hash, compare and link one group; return its report."""
    started, listed_from = time.monotonic(), time.time()
    report = GroupReport([job.name for job in jobs], dry_run=dry_run)
    roots = [job.destination for job in jobs]
    own = os.path.join(roots[0], ".vhpi")
    listing = new_listing(own)
    indexes: List = []
    try:
        complete = _list_all(config, jobs, listing, report)
        indexes = [content_index.open_index(root, read_only=dry_run) for root in roots]
        _hash_candidates(roots, listing, indexes, report, dry_run)
        if complete and not dry_run:
            for index in indexes:
                content_index.prune(index, listing_path(own), listed_from, MIN_SIZE)
        _link_duplicates(roots, listing, home, report, dry_run)
    except DedupStopped as stop:
        report.problems.append(str(stop))
    finally:
        for index in indexes:  # committed by _commit and prune; the rest (trouble) is dropped
            if index is not None:
                index.close()
        listing.close()
        remove_listing(own)
    report.seconds = time.monotonic() - started
    return report


def _list_all(config: Config, jobs: List[Job], listing, report: GroupReport) -> bool:
    """List every snapshot of the group's jobs; return True when nothing was left out."""
    problems: List[str] = []
    moved = []

    def problem(path: bytes, error: OSError) -> None:
        if error.errno in (errno.ENOENT, errno.ESTALE):
            moved.append(path)  # a backup run rotated or dropped it meanwhile: next time
            return
        problems.append(f"{os.fsdecode(path)}: {error.strerror or error} (left out)")

    for number, job in enumerate(jobs):
        for snapshot in list_snapshots(job, config.intervals):
            list_tree(listing, Tree(number, job.destination, os.path.basename(snapshot.path)), problem)
    finish_listing(listing)
    report.files_seen = count_inodes(listing)
    report.problems.extend(problems)
    return not problems and not moved


def _read_name(roots: Sequence[str], name: Name, body: Callable[[int], object]):
    """Open the file `name` and return body(fd) (raises OSError)."""
    with open_folder(roots[name.dest], name.top, name.top_ino, name.below) as walk:
        fd = open_file(walk.fd, name.name)
    try:
        return body(fd)
    finally:
        os.close(fd)


def _content(fd: int, ino: int, size: int, mtime_ns: int, indexes: List, dests: List[int],
             report: GroupReport, dry_run: bool) -> Optional[Tuple[bytes, bytes]]:
    """Return (sha256, xattr digest) of the open candidate `fd`, from an index when one has
    a valid entry, else read; None when the file changed meanwhile."""
    if unchanged(fd, ino, size, mtime_ns) is None:
        return None
    facts = content_index.Facts(ino, size, mtime_ns, fd_birth_time_ns(fd))
    digest = next((found for found in (content_index.look_up(indexes[d], facts) for d in dests)
                   if found is not None), None)
    if digest is not None:
        report.from_index += 1
    else:
        digest, read = sha256_of(fd)
        if unchanged(fd, ino, size, mtime_ns) is None:
            return None
        report.hashed += 1
        report.hashed_bytes += read
    if not dry_run:
        for dest in dests:
            if content_index.look_up(indexes[dest], facts) != digest:
                content_index.record(indexes[dest], facts, digest, time.time())
    return digest, attrs_digest(fd)


def _hash_candidates(roots: Sequence[str], listing, indexes: List, report: GroupReport,
                     dry_run: bool) -> None:
    """Give every candidate inode its hash and xattr digest in the listing."""
    since_commit = 0
    for ino, size, mtime_ns in candidates(listing):
        report.candidates += 1
        names = names_of(listing, ino)
        dests = sorted({name.dest for name in names})
        try:
            found = _read_name(roots, names[0], lambda fd: _content(
                fd, ino, size, mtime_ns, indexes, dests, report, dry_run))
        except OSError:
            found = None
        set_content(listing, ino, *(found or (None, None)))
        since_commit += 1
        if since_commit >= COMMIT_EVERY:
            _commit(roots, indexes)
            since_commit = 0
        checkpoint("dedup-hashed")
    _commit(roots, indexes)
    listing.commit()


def _commit(roots: Sequence[str], indexes: List) -> None:
    """Flush the destinations' disk, then commit the index records made meanwhile (a file
    a backup run has just written may not be on the disk yet: its checksum must not
    outlive a power cut that takes its bytes; see vhpi.act.verify_inodes)."""
    if any(index is not None and index.in_transaction for index in indexes):
        for root in roots:
            sync_file_system(root)
    for index in indexes:
        content_index.commit(index)


def _items(roots: Sequence[str], listing, cap: int, report: GroupReport, dry_run: bool):
    """Yield the moves of every group of identical inodes as Items, each pair compared byte
    for byte first (by hash only in a dry run)."""
    for _, rows in groupby(duplicate_rows(listing), key=lambda row: row[0]):
        rows = list(rows)
        if len(rows) < 2:
            continue
        inodes = {row[1]: row for row in rows}
        group = [Inode(ino, links, seen, blocks) for _, ino, links, seen, blocks, _ in rows]
        for move in plan_moves(group, cap):
            item = _item(listing, inodes, move.dup.ino, move.keeper.ino)
            if not dry_run and not _same_files(roots, item):
                report.differed += 1
                continue
            yield item


def _facts(listing, ino: int, ctime_ns: int) -> Facts:
    row = listing.execute("SELECT size, mode, uid, gid, mtime_ns, links FROM inodes WHERE ino = ?",
                          (ino,)).fetchone()
    size, mode, uid, gid, mtime_ns, links = row
    return Facts(ino, size, mode, uid, gid, mtime_ns, ctime_ns, links)


def _item(listing, inodes: Dict[int, tuple], dup: int, keeper: int) -> Item:
    names = names_of(listing, dup)
    return Item(_facts(listing, dup, inodes[dup][5]), names,
                _facts(listing, keeper, inodes[keeper][5]), names_of(listing, keeper)[0],
                inodes[dup][4])


def _same_files(roots: Sequence[str], item: Item) -> bool:
    """True when the dup and its keeper hold the same bytes and are still the files listed."""
    def compare(dup_fd: int) -> bool:
        return bool(unchanged(dup_fd, item.dup.ino, item.dup.size, item.dup.mtime_ns)) and \
            _read_name(roots, item.keeper_name, lambda keeper_fd: bool(
                unchanged(keeper_fd, item.keeper.ino, item.keeper.size, item.keeper.mtime_ns))
                and same_bytes(dup_fd, keeper_fd))
    try:
        return _read_name(roots, item.names[0], compare)
    except OSError:
        return False


def _link_duplicates(roots: List[str], listing, home: str, report: GroupReport,
                     dry_run: bool) -> None:
    """Plan, compare and (unless a dry run) link every duplicate, in short locked batches."""
    cap = link_cap(link_limit(roots[0]))
    if not dry_run and any(needs_repair(root) for root in roots):
        _locked(roots, home, lambda: None)  # a killed dedup's leftovers are put right first
    pending: List[Item] = []
    for item in _items(roots, listing, cap, report, dry_run):
        if dry_run:
            report.files_linked += len(item.names)
            report.inodes_freed += 1
            report.bytes_freed += item.blocks
            continue
        pending.append(item)
        if sum(len(one.names) for one in pending) >= BATCH_NAMES:
            pending = _run_batch(roots, home, pending, cap, report)
    while pending:
        pending = _run_batch(roots, home, pending, cap, report)


def _run_batch(roots: List[str], home: str, items: List[Item], cap: int,
               report: GroupReport) -> List[Item]:
    """Link `items` in one locked batch (as many as fit in BATCH_SECONDS); return the rest."""
    def batch() -> List[Item]:
        deadline = time.monotonic() + BATCH_SECONDS
        result, rest = link_batch(roots, items, cap, lambda: time.monotonic() >= deadline)
        report.files_linked += result.linked
        report.inodes_freed += result.freed
        report.bytes_freed += result.freed_bytes
        report.skipped += result.skipped
        return rest
    return _locked(roots, home, batch)


def _locked(roots: List[str], home: str, work: Callable[[], object]):
    """Run `work()` holding every destination lock of the group, after putting right what a
    killed dedup left; wait (outside the hour's quiet time) while a backup run holds one.
    Raises DedupStopped after LOCK_WAIT seconds of waiting."""
    waited_since = time.monotonic()
    while True:
        local = time.localtime()
        if quiet_time(local.tm_min * 60 + local.tm_sec):
            time.sleep(1.0)
            continue
        fds = take_locks(roots, home, time.time())
        if fds is not None:
            break
        if time.monotonic() - waited_since > LOCK_WAIT:
            raise DedupStopped(f"a backup run has held {', '.join(roots)} for "
                               f"{LOCK_WAIT // 3600} hours; dedup stopped (nothing half done): "
                               f"run it again later")
        time.sleep(2.0)
    try:
        for root in roots:
            if needs_repair(root):
                repair_after_dedup(root)
        return work()
    finally:
        release_locks(roots, home, fds)
        time.sleep(0.05)  # a backup run waiting for the lock gets it now
