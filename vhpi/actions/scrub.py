"""The scrub: a full verify of each job's backups (`vhpi verify`, vhpi.act.verify_inodes)
spread over its `scrub_every` period in small steps, one after each backup run, at idle
CPU and I/O priority.

A cycle lists every snapshot once (DEST/.vhpi/scrub-listing.sqlite3, kept between steps;
vhpi.act.scrub_state), then verifies the listed inodes in inode order, each step as many
bytes as the part of the period gone by asks for (vhpi.decide.scrub_pace), resuming at
the inode where the last step stopped. The step runs after every job of the run is done,
holds no destination lock and ends within STEP_SECONDS, so the next backup never waits
for it (a run that finds the run lock taken does its jobs anyway: vhpi.actions.locked_run).
Files added since the cycle began were hashed when they were copied; the next cycle reads
them. A damaged file is told at once (vhpi.actions.damage_notice) and kept for `vhpi
status` (vhpi.act.verify_state); a finished cycle is recorded as a full verify.
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Dict, List, Sequence

from vhpi.act import content_index
from vhpi.act.damage_details import describe_damage
from vhpi.act.snapshot_trees import trees_of
from vhpi.act.dedup_listing import finish_listing, list_tree, listing_path, remove_listing, total_bytes
from vhpi.act.disk_groups import destination_problem
from vhpi.act.idle_priority import go_idle
from vhpi.act.scrub_state import LISTING, new_cycle, read_scrub_state, write_scrub_state
from vhpi.act.verify_inodes import Checked, Limits, verify_listed
from vhpi.act.verify_state import note_verify
from vhpi.actions.damage_notice import tell_damage
from vhpi.actions.run_context import Run
from vhpi.config.model import Config, Job
from vhpi.decide.scrub_pace import STEP_SECONDS, new_cycle_due, step_bytes
from vhpi.decide.verify_report import Finding, VerifyReport, damage_words


def scrubbed_jobs(config: Config) -> List[Job]:
    """Return the jobs that have a scrub (scrub_every above 0)."""
    return [job for job in config.jobs if job.scrub_every]


def run_scrub_steps(config: Config, run: Run) -> List[str]:
    """After a backup run: take one scrub step for each job that has a scrub and a backup
    disk in place, all within STEP_SECONDS; return the names of the jobs whose backups it
    found damaged."""
    jobs = [job for job in scrubbed_jobs(config) if _ready(job)]
    if not jobs:
        return []
    go_idle()
    deadline = time.monotonic() + STEP_SECONDS
    damaged = []
    for job in jobs:
        if time.monotonic() >= deadline:
            break
        try:
            if scrub_step(config, job, run, deadline):
                damaged.append(job.name)
        except (OSError, sqlite3.Error) as error:
            run.log.warning("job %s: the scrub step could not be taken (%s); the next run tries "
                            "again", job.name, error)
    return damaged


def _ready(job: Job) -> bool:
    """True when the job's destination is a marked backup destination with vhpi's folder."""
    return destination_problem(job) is None and os.path.isdir(os.path.join(job.destination, ".vhpi"))


def scrub_step(config: Config, job: Job, run: Run, deadline: float) -> bool:
    """Take one step of the job's scrub (see the module docstring), ending by the monotonic
    time `deadline`; return True when it found damage."""
    root, now = job.destination, time.time()
    own = os.path.join(root, ".vhpi")
    state = read_scrub_state(root)
    if state is None or new_cycle_due(state["started"], state["finished"], job.scrub_every, now):
        remove_listing(own, LISTING)
        state = new_cycle(now)
    elif state["finished"] is not None:
        return False
    listing = _open_listing(own, state, now)
    try:
        if not state["indexed"] and not _list_more(config, job, listing, state, deadline):
            write_scrub_state(root, state)
            return False
        return _verify_more(config, job, run, listing, state, deadline)
    finally:
        listing.close()
        if state["finished"] is not None:
            remove_listing(own, LISTING)


def _open_listing(own: str, state: dict, now: float) -> sqlite3.Connection:
    """Open the cycle's listing, starting the cycle afresh when it is missing or damaged."""
    from vhpi.act.dedup_listing import new_listing
    path = listing_path(own, LISTING)
    if state["listed"] and os.path.exists(path):
        try:
            listing = sqlite3.connect(path, isolation_level="DEFERRED")
            listing.execute("PRAGMA journal_mode=OFF")
            listing.execute("PRAGMA synchronous=OFF")
            listing.execute("SELECT COUNT(*) FROM folders").fetchone()
            return listing
        except sqlite3.Error:
            pass
    state.update(new_cycle(now))
    return new_listing(own, LISTING)


def _list_more(config: Config, job: Job, listing, state: dict, deadline: float) -> bool:
    """List the snapshots not listed yet (one at a time, until `deadline`); return True when
    the listing is complete (then indexed, with its total bytes)."""
    for tree in trees_of(config, [job]):
        try:
            top_ino = os.lstat(os.path.join(tree.root, tree.name)).st_ino
        except OSError:
            continue
        if top_ino in state["listed"]:
            continue
        if time.monotonic() >= deadline:
            return False
        list_tree(listing, tree, lambda path, error: None, min_size=1)
        state["listed"].append(top_ino)
    finish_listing(listing)
    state["indexed"], state["total"] = True, total_bytes(listing)
    return True


def _verify_more(config: Config, job: Job, run: Run, listing, state: dict,
                 deadline: float) -> bool:
    """Verify the next share of the listing; save where it stopped; finish the cycle when
    nothing is left. Return True when damage was found in this step."""
    budget = step_bytes(state["total"], state["done"], state["started"], job.scrub_every, time.time())
    index = content_index.open_index(job.destination)
    found: Dict[int, Checked] = {}

    def checked(result: Checked) -> None:
        state["cursor"] = max(state["cursor"], result.ino)
        state["done"] += result.size
        state["files"] += result.finding is not Finding.CHANGED
        if result.finding is Finding.DAMAGED:
            found[result.ino] = result

    try:
        verify_listed([job.destination], listing, [index], checked, state["cursor"],
                      Limits(budget, deadline))
        damaged = [describe_damage(config, [job], None, listing, [index], result, stale_names=True)
                   for result in found.values()]
    finally:
        index.close()  # committed by verify_listed; the rest (a kill) is dropped
    state["damaged"].extend(item.paths[0] for item in damaged)
    if not _left(listing, state["cursor"]):
        state["finished"] = time.time()
    write_scrub_state(job.destination, state)
    _record(config, job, run, state, damaged)
    return bool(damaged)


def _left(listing, cursor: int) -> bool:
    """True when the listing holds inodes above number `cursor`."""
    return listing.execute("SELECT 1 FROM inodes WHERE ino > ? LIMIT 1", (cursor,)).fetchone() is not None


def _record(config: Config, job: Job, run: Run, state: dict, damaged: Sequence) -> None:
    """Tell about damage found; record a finished cycle as a full verify (vhpi status)."""
    if damaged:
        report = VerifyReport(job.name, "scrub", damaged=list(damaged))
        note_verify(job.destination, time.time(), "scrub", False, 0, 0,
                    [item.paths[0] for item in damaged])
        tell_damage(job, config.path, run.log, "the scrub found " + damage_words(report))
    if state["finished"] is not None:
        note_verify(job.destination, state["finished"], "scrub", True, state["files"],
                    state["done"], state["damaged"])
        run.log.info("job %s: scrub: every byte of the backups verified since %s: %d files, "
                     "%d damaged", job.name, time.strftime("%Y-%m-%d", time.localtime(state["started"])),
                     state["files"], len(state["damaged"]))

