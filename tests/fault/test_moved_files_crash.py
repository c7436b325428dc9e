"""The crash campaign for runs that link moved and renamed files (vhpi.act.transfer_moves).

Every trial of the campaign's source (tests.fault.crash_world.evolve) moves a file to
another folder and renames a folder; such a run makes three rsync passes: the dry run, the
check of the linked names' attributes, the copy. A kill before, between and after them,
and at random instants, must leave every snapshot whole and unchanged (the ledger of
tests.fault.invariants checks each one against the source state it was taken of), and the
next run must finish the backup."""

from __future__ import annotations

import random

from tests.fault.crash_world import CrashWorld
from tests.integration.helpers import job_line

#: A run that links moves: the three rsync passes, the names made room for, the copy done.
MOVE_RUN_POINTS = ("rsync-started:2", "rsync-line:3", "rsync-done:2", "unlinked:1",
                   "rsync-started:3", "rsync-done:3", "copied:1", "placed:1")


def _moves_linked(world) -> bool:
    return "moved or renamed files" in job_line(world)


def test_the_campaigns_trials_link_moved_files(world, campaign):
    cw = CrashWorld(world, campaign)
    cw.fill(3)
    cw.next_state()
    cw.normal_run("a run with a moved file and a renamed folder")
    assert _moves_linked(world), job_line(world)


def test_crash_at_every_step_of_a_run_that_links_moves(world, campaign):
    cw = CrashWorld(world, campaign)
    cw.fill(3)
    for crash_at in MOVE_RUN_POINTS:
        cw.next_state()
        code, log = cw.crash_run(crash_at)
        campaign.add("crash points")
        assert code == -9, f"VHPI_CRASH_AT={crash_at}: exit {code}, not killed\n{log[-3000:]}"
        cw.check(f"right after a crash at {crash_at} in a run linking moves", mode="crashed")
        cw.normal_run(f"recovery after a crash at {crash_at} in a run linking moves")


def test_kill_at_random_instants_of_runs_that_link_moves(world, campaign):
    rng = random.Random("vhpi-moves-random")
    cw = CrashWorld(world, campaign)
    duration = max(cw.fill(3), 0.2)
    for _ in range(8):
        cw.next_state()
        delay = rng.uniform(duration * 0.2, duration * 1.1)
        running, left = cw.kill_after(delay)
        cw.check(f"killed after {delay:.3f} s of {duration:.3f} s (left {left})", mode="crashed")
        cw.normal_run(f"recovery after a kill at {delay:.3f} s")
