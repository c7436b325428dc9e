"""`vhpi verify --source JOB [SNAPSHOT] [--all | --sample N] [--json]`: compare the newest
snapshot of JOB (or SNAPSHOT) with the job's share by content, for a uniform random sample
of its regular files (default 200) or all of them, to find what rsync's quick check cannot
see: a file changed in place on the share without a new modification time (same size).

1. the share must be the mounted one (its sentinel: vhpi.act.source.source_problem);
2. the snapshot folder is opened once (a rotation renaming it meanwhile does not matter)
   and walked without recursion; a reservoir keeps the sample (memory: the sample);
3. per group of files, the snapshot's copies are hashed here (the backup disk) and looked
   up in the destination's content index (is the copy still as recorded?), then the
   share's files are hashed in a child per batch (vhpi.act.share_hashes, at most
   BATCH_FILES files or BATCH_BYTES bytes each): a share that hangs costs one timeout, and
   the rest is not compared;
4. each pair is judged (vhpi.decide.source_compare), one summary line is printed (or
   JSON), one line goes to info.log, and damage is told as a failed run is
   (vhpi.actions.damage_notice: ERROR line, after_failure hook, fail ping).

Nothing is written on the share or in the snapshot. Exit codes: 0 nothing differs (files
changed since or gone are normal), 1 something differs or could not be compared, or there
is no snapshot, 2 usage (an unknown job or snapshot, --sample below 1).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
from typing import Iterator, List, Optional

from vhpi.act import content_index
from vhpi.act.destination import destination_problem, known_destinations
from vhpi.act.fd_walk import DIR_FLAGS, OpenPath
from vhpi.act.inventory import list_snapshots
from vhpi.act.layout import Layout
from vhpi.act.processes import ChildFailed, Ending, run_in_child
from vhpi.act.share_hashes import hash_share_files, hash_snapshot_files, regular_files
from vhpi.act.source import source_problem
from vhpi.config.model import Config, Job
from vhpi.decide.selection import NotFound, Snapshot, find_job, find_snapshot
from vhpi.decide.source_compare import (Compared, Look, Report, Verdict, as_json, batch_timeout,
                                        classify, copy_state, damage_summary, exit_code,
                                        finding_lines, in_groups, log_line, needs_telling,
                                        reservoir_sample, share_batches, summary_line)
from vhpi.logs import close_logs, open_logs

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


class ShareStopped(Exception):
    """The share did not answer a batch in time; the words say where."""


def run_verify_source(config: Config, arguments, home: str) -> int:
    """Given the config and the parsed arguments (job, snapshot, all, sample, json), compare
    the snapshot with the job's share; print the summary (or JSON). Return 0, 1 or 2."""
    try:
        job = find_job(config, getattr(arguments, "job", None))
        snapshot = _chosen_snapshot(job, config, getattr(arguments, "snapshot", None))
    except NotFound as error:
        return _fail(str(error), EXIT_USAGE)
    count = None if arguments.all else arguments.sample
    if count is not None and count < 1:
        return _fail(f"--sample {count}: give how many files to compare (at least 1), "
                     f"or --all", EXIT_USAGE)
    if snapshot is None:
        return _fail(f"job {job.name}: {_no_snapshot(job, home)}", EXIT_PROBLEM)
    os.makedirs(home, mode=0o700, exist_ok=True)
    log, _ = open_logs(home, interactive=False)
    try:
        return _verify(config, job, snapshot, count, log, arguments.json)
    finally:
        close_logs(log)


def _verify(config: Config, job: Job, snapshot: Snapshot, count: Optional[int], log,
            as_json_output: bool) -> int:
    """Check the share, compare, tell; return the exit code."""
    problem = source_problem(job.source, job.source_timeout, job.destination)
    if problem:
        log.warning("job %s: verify --source: nothing compared: %s", job.name, problem)
        return _fail(f"job {job.name}: {problem}", EXIT_PROBLEM)
    report = Report(job.name, snapshot.name, job.source, whole=count is None)
    compare(job, snapshot, count, report)
    if as_json_output:
        print(json.dumps(as_json(report), indent=1))
    else:
        print(summary_line(report))
        for line in finding_lines(report):
            print(line)
    if needs_telling(report):
        tell_damage(job, config.path, log, damage_summary(report))
    elif exit_code(report):
        log.warning("%s", log_line(report))
    else:
        log.info("%s", log_line(report))
    return exit_code(report)


def tell_damage(job: Job, config_path: str, log, summary: str) -> None:
    """vhpi.actions.damage_notice.tell_damage (imported only when there is damage)."""
    from vhpi.actions.damage_notice import tell_damage as tell
    tell(job, config_path, log, summary)


def _fail(message: str, code: int) -> int:
    print(f"vhpi verify: {message}", file=sys.stderr)
    return code


# ---------------------------------------------------------------- which snapshot

def _chosen_snapshot(job: Job, config: Config, name: Optional[str]) -> Optional[Snapshot]:
    """Return the snapshot called `name`, or the newest `<interval>.N` (None: none yet).
    Raises NotFound for a name the job does not have."""
    snapshots = list_snapshots(job, config.intervals)
    if not snapshots:
        return None
    if name is not None:
        return find_snapshot(snapshots, name)
    made = [snapshot for snapshot in snapshots if snapshot.interval is not None]
    if not made:
        return None
    return max(made, key=lambda snapshot: (snapshot.taken_at is not None, snapshot.taken_at or 0.0))


def _no_snapshot(job: Job, home: str) -> str:
    """The words for a job without snapshots: the disk not mounted, or none made yet."""
    layout = Layout(job.destination)
    if not os.path.isfile(layout.mark):
        problem = destination_problem(layout, job.destination in known_destinations(home))
        if problem:
            return problem
    return (f"there is no snapshot in {job.destination} yet to compare with the share "
            f"(the first backup run makes one)")


# ---------------------------------------------------------------- comparing

def compare(job: Job, snapshot: Snapshot, count: Optional[int], report: Report) -> None:
    """Fill `report`: `count` files of the snapshot chosen at random (None: all) compared
    with the job's share."""
    try:
        root = os.open(snapshot.path, DIR_FLAGS)
    except OSError as error:
        report.problems.append(f"the snapshot {snapshot.path} cannot be opened: "
                               f"{error.strerror or error}")
        return
    index = _open_index(job.destination, report)
    try:
        _compare_files(job, root, count, report, index)
    finally:
        content_index.close(index)
        os.close(root)


def _open_index(destination: str, report: Report):
    """The destination's content index, read only (None when there is none or it cannot
    be read: copies then count as not recorded)."""
    try:
        return content_index.open_index(destination, read_only=True)
    except (sqlite3.Error, OSError) as error:
        report.problems.append(f"the content index of {destination} cannot be read ({error}): "
                               f"no snapshot copy could be checked against its checksum")
        return None


def _compare_files(job: Job, root: int, count: Optional[int], report: Report, index) -> None:
    """Walk the snapshot (its open folder `root`), choose the files and compare them group by group."""
    def problem(path: bytes, error: OSError) -> None:
        shown = os.fsdecode(path) or "."
        report.problems.append(f"a folder of the snapshot cannot be read: {shown}: "
                               f"{error.strerror or error}")

    with OpenPath(os.dup(root)) as walker:
        files = _counted(regular_files(walker, problem), report)
        if count is not None:
            chosen, _ = reservoir_sample(files, count, random.Random().randrange)
            report.chosen = len(chosen)
            files = iter(chosen)
        try:
            for group in in_groups(files):
                _compare_group(job, root, group, report, index)
        except ShareStopped as stop:
            for _ in files:  # the rest of the walk, to count the snapshot's files
                pass
            left = report.chosen - report.compared
            report.problems.append(f"{stop}; {left:,} of the {report.chosen:,} chosen files "
                                   f"were not compared")


def _counted(paths: Iterator[bytes], report: Report) -> Iterator[bytes]:
    """Yield `paths`, counting them in report.files_in_snapshot (and, for --all, chosen)."""
    for path in paths:
        report.files_in_snapshot += 1
        if report.whole:
            report.chosen += 1
        yield path


def _compare_group(job: Job, root: int, group: List[bytes], report: Report, index) -> None:
    """Hash the group's snapshot copies here (below the open snapshot folder `root`), then
    their share files in children."""
    def reopen() -> OpenPath:
        return OpenPath(os.dup(root))

    with reopen() as walk:
        sides = hash_snapshot_files(walk, group, index, reopen)
    readable = []
    for path, (look, recorded) in zip(group, sides):
        if look.error is not None:
            report.add(Compared(path, *classify(look, Look())))
        else:
            readable.append((path, look, recorded))
    for batch in share_batches([look.size for _, look, _ in readable]):
        _compare_batch(job, [readable[number] for number in batch], report)


def _compare_batch(job: Job, batch: list, report: Report) -> None:
    """Hash one batch of share files in a child and judge each pair (raises ShareStopped)."""
    paths = [path for path, _, _ in batch]
    timeout = batch_timeout(job.source_timeout, sum(look.size for _, look, _ in batch))
    try:
        answer = run_in_child(hash_share_files, job.source, paths, timeout=timeout)
    except ChildFailed as failure:
        for path, _, recorded in batch:
            report.add(Compared(path, Verdict.UNREADABLE, copy_state(None, None),
                                f"on the share: {failure}"))
        return
    if answer.ending is not Ending.EXITED:
        raise ShareStopped(f"the share {job.source} stopped answering: no answer within "
                           f"{round(timeout, 1):g} s while vhpi read {len(paths)} files, the first "
                           f"{os.fsdecode(paths[0])} (source_timeout is "
                           f"{job.source_timeout:g} s)")
    for (path, look, recorded), share in zip(batch, answer.value):
        verdict, detail = classify(look, share)
        report.add(Compared(path, verdict, copy_state(recorded, look.sha256), detail))
