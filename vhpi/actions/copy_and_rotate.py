"""Copying and rotating, once something is due (imported only then, so that the hourly
"nothing due" run stays fast): host answers -> source sentinel -> rsync into
backup.latest -> re-checks -> a new snapshot per due interval. Also finishing the
snapshot work a crash left behind."""

from __future__ import annotations

import os
from typing import Dict, List, Optional

from vhpi.act.checkpoints import checkpoint
from vhpi.act.destination import (destination_gone, destination_problem, prepare_destination,
                                  remember_destination)
from vhpi.act.filesystem import hard_link_problem
from vhpi.act.head_start import (Early, abandon_head_start, start_head_start, start_recycle_look, take_head_start,
                                 take_look, wait_for_head_start)
from vhpi.act.host_check import host_answers
from vhpi.act.layout import Layout
from vhpi.act.new_checksums import record_new_files, start_adding
from vhpi.act.privacy import keep_private
from vhpi.act.progress import TerminalProgress, progress_for
from vhpi.act.snapshots import (SnapshotError, declare_ready, discard_unfinished, drop_is_pending, empty_trash,
                                has_room_to_recycle, link_tree, make_room,
                                pending_recycled_drops, put_in_place, ready_trees, recycle_oldest)
from vhpi.act.source import source_problem
from vhpi.act.state import write_snapshot_times
from vhpi.act.transfer import TransferReport, update_latest
from vhpi.act.tree_edit import remove_tree
from vhpi.actions.run_context import JobFailed, Run
from vhpi.config.model import Job
from vhpi.decide.outcome import JobResult, Outcome
from vhpi.decide.snapshot_names import LATEST_NAME, snapshot_name, snapshot_numbers
from vhpi.decide.units import format_moment, human_bytes


def copy_and_rotate(job: Job, layout: Layout, device: int, due: List[str],
                    times: Dict[str, float], run: Run) -> JobResult:
    """Back up the source into backup.latest and make a snapshot for each due interval;
    return the job's result (raises JobFailed before rotating anything on trouble)."""
    label = "due " + ", ".join(due)
    for warning in job.warnings:
        run.log.warning("job %s: %s", job.name, warning)
    if not host_answers(job.source_ip, run.log, job.source_timeout):
        return JobResult(Outcome.OFFLINE, f"{label}; host {job.source_ip} is offline, skipped")
    problem = (source_problem(job.source, job.source_timeout, job.destination)
               or destination_gone(layout, device))
    if problem:
        raise JobFailed(f"{label}; {problem}")
    # only now: the source check proved that the destination is not the source (nor
    # inside it) through symlinks, so this changes the mode of the backup folder alone
    warning = keep_private(layout, job.snapshot_group)
    if warning:
        run.log.warning("job %s: %s", job.name, warning)
    prepare_destination(layout)
    problem = hard_link_problem(layout.root, probe_in=layout.work)
    if problem:
        raise JobFailed(f"{label}; {problem}")
    shared = _may_share_inodes(layout)
    head = _head_start_if_useful(layout, job, due[0], shared, run)
    progress = progress_for(job.name)
    index = start_adding(layout, run.log)
    try:
        if progress:
            progress.say(f"job {job.name}: looking for changes")
        report = _update_latest_checked(job, layout, device, label, run, shared, head, progress)
        _make_snapshots(layout, job, device, due, times, run, head, bool(report.changed or report.deleted),
                        progress)
        if progress:
            progress.say(f"job {job.name}: recording the checksums of the new files")
        _record_checksums(index, layout, job, run)
        index = None
    finally:
        if index is not None:
            index.close()  # the "adding" mark stays: see vhpi.act.content_index
        abandon_head_start(head)
        if progress:
            progress.clear()
    remember_destination(run.home, job.destination)
    empty_trash(layout, run.log)
    checkpoint("job-done")
    return JobResult(Outcome.OK, f"{label}; done: {_transfer_summary(report)}")


def _record_checksums(index, layout: Layout, job: Job, run: Run) -> None:
    """Record the checksums of the run's new files (vhpi.act.new_checksums), in debug.log."""
    recorded = record_new_files(index, layout, run.log)
    checkpoint("checksums-recorded")
    if recorded is not None and recorded.files:
        run.log.debug("job %s: recorded the checksums of %d new files (%s) in %.2f s", job.name,
                      recorded.files, human_bytes(recorded.size), recorded.seconds)


def _head_start_if_useful(layout: Layout, job: Job, interval: str, shared: bool,
                          run: Run) -> Optional[Early]:
    """Start linking `interval`'s new tree early (vhpi.act.head_start) when it will be a
    cp -al of a backup.latest that snapshots share, or looking for how the snapshot it will
    be recycled from differs from backup.latest, when the disk has room to spare; on a
    nearly full disk nothing runs beside the transfer: it gets the last inodes."""
    if not shared or not has_room_to_recycle(layout):
        return None
    oldest = _recyclable(layout, job, interval)
    if oldest is None:
        return start_head_start(layout, interval, run.log)
    return start_recycle_look(layout, interval, oldest, run.log)


def _make_snapshots(layout: Layout, job: Job, device: int, due: List[str], times: Dict[str, float],
                    run: Run, head: Optional[Early], changed: bool,
                    progress: Optional[TerminalProgress]) -> None:
    """Make and place each due interval's new snapshot, shortest interval first; `changed`:
    the transfer changed backup.latest (an early tree must then be brought up to date)."""
    for interval in due:
        problem = destination_gone(layout, device)
        if problem:
            raise JobFailed(problem)
        if progress:
            progress.say(f"job {job.name}: making the {interval} snapshot")
        early = take_head_start(head, interval, layout.latest, changed, run.log)
        times = _new_snapshot(layout, job, interval, times, run, early, head, changed)


def _update_latest_checked(job: Job, layout: Layout, device: int, label: str, run: Run,
                           shared: bool, head: Optional[Early],
                           progress: Optional[TerminalProgress]) -> TransferReport:
    """Run the transfer and check the source and destination are still there; return the
    report (raises JobFailed, before anything is rotated, when the backup is not complete)."""
    report = update_latest(job, layout, run.log, shared=shared,
                           before_changes=lambda: wait_for_head_start(head, run.log),
                           progress=progress)
    if not report.ok:
        raise JobFailed(f"{label}; {report.problem}; nothing was rotated")
    problem = source_problem(job.source, job.source_timeout) or destination_gone(layout, device)
    if problem:
        raise JobFailed(f"{label}; {problem}; nothing was rotated")
    if report.warning:
        run.log.warning("job %s: %s", job.name, report.warning)
    return report


def _may_share_inodes(layout: Layout) -> bool:
    """True unless the destination holds nothing but backup.latest and vhpi's own folders:
    any other folder may be a snapshot (of this or a since removed interval)."""
    return any(not name.startswith(".") and name != LATEST_NAME for name in os.listdir(layout.root))


def _transfer_summary(report: TransferReport) -> str:
    files = report.stats.get("Number of regular files transferred", 0)
    size = report.stats.get("Total transferred file size", 0)
    sent = report.stats.get("Total bytes sent", 0)
    return (f"{files} files ({human_bytes(size)}) copied, {human_bytes(sent)} sent, "
            f"{report.deleted} deleted, {_moved_summary(report)}rsync {report.seconds:.1f} s")


def _moved_summary(report: TransferReport) -> str:
    """Return e.g. "12 moved or renamed files (210.0 MiB) linked, not copied, " ("" for none)."""
    moved = report.moved
    if not moved.count:
        return ""
    recopied = (f" ({len(moved.recopied)} with new attributes, copied from the backup disk)"
                if moved.recopied else "")
    return (f"{moved.count} moved or renamed files ({human_bytes(moved.size)}) linked, "
            f"not copied{recopied}, ")


def finish_interrupted(layout: Layout, job: Job, times: Dict[str, float], run: Run) -> Dict[str, float]:
    """Clear work that a crash cut short and put in place snapshots that were complete."""
    for name in discard_unfinished(layout, run.log):
        run.log.info("job %s: removed %s, left by an interrupted run", job.name, name)
    finished = ready_trees(layout)
    finished_intervals = {interval for interval, _, _ in finished}
    pending = [interval for interval in pending_recycled_drops(layout, times)
               if interval not in finished_intervals]
    for interval, taken_at, ready in finished:
        keep = job.keep_counts.get(interval, 0)
        if keep <= 0:
            run.log.warning("job %s: removed a finished %s snapshot: the interval is no longer "
                            "configured", job.name, interval)
            remove_tree(ready)
            continue
        times = _place(layout, job, interval, keep, ready, taken_at, times, run)
        run.log.info("job %s: finished the %s snapshot of %s that an interrupted run left",
                     job.name, interval, format_moment(taken_at))
    empty_trash(layout, run.log, pending)
    return times


def _recyclable(layout: Layout, job: Job, interval: str) -> Optional[int]:
    """Return the number of the snapshot the rotation of `interval` drops, which the new
    `<interval>.0` can be recycled from: when the interval is at its keep count and no drop
    is pending; else None. (Recycling also needs room: has_room_to_recycle.)"""
    numbers = snapshot_numbers(os.listdir(layout.root), interval)
    if len(numbers) >= job.keep_counts[interval] and not drop_is_pending(layout, interval):
        return numbers[-1]
    return None


def _new_snapshot(layout: Layout, job: Job, interval: str, times: Dict[str, float], run: Run,
                  early: Optional[str] = None, head: Optional[Early] = None,
                  changed: bool = True) -> Dict[str, float]:
    """Make the new `<interval>.0`: from `early`, an up-to-date tree linked while rsync ran
    (vhpi.act.head_start), when there is one; else by recycling the snapshot the rotation
    drops, when there is one (and room), visiting only the folders `head` found to differ
    while rsync looked when the transfer `changed` nothing (vhpi.act.head_start.take_look);
    else by hard-linking a fresh tree."""
    try:
        oldest = _recyclable(layout, job, interval) if early is None else None
        if early is not None:
            ready = declare_ready(layout, early, interval, run.now)
        elif oldest is not None and has_room_to_recycle(layout):
            expiring = layout.snapshot(snapshot_name(interval, oldest))
            ready = recycle_oldest(layout, interval, oldest, run.now, run.log,
                                   take_look(head, interval, expiring, changed))
        else:
            ready = link_tree(layout, interval, run.now, run.log)
    except SnapshotError as error:
        raise JobFailed(str(error))
    return _place(layout, job, interval, job.keep_counts[interval], ready, run.now, times, run)


def _place(layout: Layout, job: Job, interval: str, keep: int, ready: str, taken_at: float,
           times: Dict[str, float], run: Run) -> Dict[str, float]:
    """Rotate `interval`, record `taken_at` for it, and put the ready tree in as `<interval>.0`."""
    plan = make_room(layout, interval, keep)
    if plan.excess:
        run.log.warning("job %s: %s keeps %d snapshots beyond its keep count of %d (it was "
                        "lowered?); vhpi drops at most one per run. Delete the extra ones by "
                        "hand if that is what you want.", job.name, interval, plan.excess, keep)
    vanished = destination_problem(layout, used_before=True)
    if vanished:
        raise JobFailed(vanished)
    times = {**times, interval: taken_at}
    write_snapshot_times(layout, times, new_snapshot=(ready, taken_at))
    checkpoint("state-written")
    put_in_place(layout, ready, interval)
    return times
