"""The crash campaign: a power cut (SIGKILL of vhpi's whole process group: vhpi, rsync, cp)
at every checkpoint of a run, at several occurrences of each, in the first run, in a run
that rotates three intervals at once, and in the recovery run after such a crash; then at
random instants. After every crash vhpi runs again normally (at the same fake time) and
tests.fault.invariants checks the destination; the state the crash left is checked too.

What tests/integration/test_vhpi_kill9.py and test_vhpi_crash_states.py do not: every named
checkpoint (so every step of vhpi.act.snapshots' protocol and of the transfer) as the run
itself reaches it, not states built by hand; crashes while recovering from a crash; a source
that changes in every way between runs (content, modes, mtimes only, deletes, new files,
file <-> folder, symlink, hard links); file mtimes and inodes of every older snapshot
checked after every run.
"""

import os
import random

import pytest

from tests.fault.crash_world import KEEP, CrashWorld, rsync_lines
from tests.integration.helpers import job_line, work_leftovers
from vhpi.act.checkpoints import CHECKPOINTS

#: How often a run that rotates all three intervals at their keep counts (hourly 3, daily
#: 2, weekly 2, after three earlier runs), with a changed source, reaches each checkpoint,
#: and the occurrences the campaign crashes at. Every one of them is reachable, "locked"
#: included (it is reached right after the lock is taken, before anything is written).
ROTATING_RUN = {
    "locked": (1, (1,)),
    "recovered": (1, (1,)),
    "rsync-started": (2, (1, 2)),          # the dry run, then the transfer of the listed paths
    # one checkpoint per output line (about 70 lines: dry-run items and stats, then the
    # transfer's); 1 and 10: dry-run items, 30: its stats, 40: transfer items, 55 and 62:
    # transfer stats
    "rsync-line": (62, (1, 10, 30, 40, 55, 62)),
    "rsync-done": (2, (1, 2)),
    "unlinked": (1, (1,)),                 # changed files unlinked from backup.latest
    "cp-started": (3, (1, 2, 3)),          # once per interval: hourly, daily, weekly
    "linked": (3, (1, 2, 3)),
    "ready": (3, (1, 2, 3)),
    "dropped": (3, (1, 2, 3)),             # each interval is at its keep count: one drop each
    "renamed": (4, (1, 2, 3, 4)),          # hourly 1->2, 0->1; daily 0->1; weekly 0->1
    "state-written": (3, (1, 2, 3)),
    "placed": (3, (1, 2, 3)),
    "job-done": (1, (1,)),
}

#: What the work folder must hold right after a crash at a checkpoint of a rotating run
#: (proof that the crash landed where the checkpoint says).
MUST_LEAVE = {
    "linked": ("building.",),
    "ready": ("ready.",),
    "dropped": ("ready.", "trash."),
    "renamed": ("ready.", "trash."),
    "state-written": ("ready.", "trash."),
    "placed": ("trash.",),
}

_TRIED = set()


def _tally_point(campaign, phase: str, crash_at: str) -> None:
    """One "crash point" per distinct (run, checkpoint, occurrence): the same checkpoint
    in a first run, a rotating run or a recovery run is a different point of the protocol."""
    if (phase, crash_at) not in _TRIED:
        _TRIED.add((phase, crash_at))
        campaign.add("crash points")


def _crash(cw: CrashWorld, campaign, phase: str, crash_at: str, reachable: bool = True):
    """Crash the current trial's run at `crash_at`; check it died (or finished, when the
    checkpoint is not reachable there) and check the state it left. Returns its debug log."""
    _tally_point(campaign, phase, crash_at)
    code, log = cw.crash_run(crash_at)
    if reachable:
        assert code == -9, (f"{phase}, VHPI_CRASH_AT={crash_at}: exit {code}, not killed\n"
                            f"{cw.world.info_log[-2000:]}\n{log[-3000:]}")
        name, _, count = crash_at.partition(":")
        if name == "rsync-line":
            # the checkpoint comes before the line is logged: exactly count-1 were
            assert rsync_lines(log) == int(count) - 1, log[-3000:]
    else:
        assert code == 0, f"{phase}, VHPI_CRASH_AT={crash_at} is not reachable there: exit {code}"
    cw.check(f"{phase}, right after a crash at {crash_at}", mode="crashed")
    return log


@pytest.mark.parametrize("name", list(ROTATING_RUN))
def test_crash_at_every_checkpoint_of_a_rotating_run(world, campaign, name):
    cw = CrashWorld(world, campaign)
    cw.fill(3)
    reached, occurrences = ROTATING_RUN[name]
    for occurrence in occurrences:
        assert occurrence <= reached
        crash_at = f"{name}:{occurrence}"
        cw.next_state()
        _crash(cw, campaign, "rotating run", crash_at)
        left = work_leftovers(world)
        for prefix in MUST_LEAVE.get(name, ()):
            assert any(entry.startswith(prefix) for entry in left), (crash_at, left)
        cw.normal_run(f"recovery after a crash at {crash_at} (left {left})")


def test_the_campaign_covers_every_checkpoint():
    assert set(ROTATING_RUN) == set(CHECKPOINTS), "a checkpoint was added or renamed: crash at it too"


#: The first run: nothing to rotate, one plain rsync pass (about 77 lines of output), three
#: snapshots linked and placed. Not reachable there: "unlinked" (no second pass), "dropped"
#: and "renamed" (nothing to rotate); they are tried too, to prove the run then finishes.
FIRST_RUN = [
    ("locked:1", True), ("recovered:1", True), ("rsync-started:1", True), ("rsync-line:1", True),
    ("rsync-line:40", True), ("rsync-line:70", True), ("rsync-done:1", True),
    ("cp-started:1", True), ("cp-started:3", True), ("linked:1", True), ("linked:3", True),
    ("ready:1", True), ("ready:2", True), ("state-written:1", True), ("state-written:3", True),
    ("placed:1", True), ("placed:2", True), ("placed:3", True), ("job-done:1", True),
    ("unlinked:1", False), ("dropped:1", False), ("renamed:1", False), ("rsync-started:2", False),
]


@pytest.mark.parametrize("crash_at, reachable", FIRST_RUN, ids=[c for c, _ in FIRST_RUN])
def test_crash_in_the_first_run(world, campaign, crash_at, reachable):
    cw = CrashWorld(world, campaign)
    cw.next_state()
    _crash(cw, campaign, "first run", crash_at, reachable)
    cw.normal_run(f"recovery after a crash at {crash_at} in the first run")
    # and the next run rotates normally from there
    cw.next_state()
    cw.normal_run("the run after the recovery")


#: A crash in the run that recovers from a crash: (first crash, the recovery run's crashes).
#: The recovery run first finishes the rotation the first crash left (its own dropped,
#: renamed, state-written and placed), then backs up the intervals still due.
RECOVERY_CRASHES = {
    # weekly's tree is ready, not rotated: recovery drops weekly.1, renames, places
    "ready:3": ("dropped:1", "renamed:1", "state-written:1", "placed:1"),
    # hourly.2 is in the trash, hourly.1 and .0 not yet moved up
    "dropped:1": ("renamed:1", "renamed:2", "placed:1", "dropped:1", "cp-started:2"),
    # hourly.1 moved to .2, a gap at .1
    "renamed:1": ("renamed:1", "state-written:1", "ready:1"),
    # hourly done; daily rotated and recorded, its tree not yet in place
    "state-written:2": ("placed:1", "rsync-line:2", "linked:1"),
    # while vhpi reads the transfer's output: backup.latest may be half updated. (rsync may
    # also have finished before vhpi read that far, so the recovery run may have nothing
    # left to copy: only its first pass, about 17 lines at least, is certain to run)
    "rsync-line:45": ("rsync-line:3", "unlinked:1", "rsync-done:1"),
    # hourly complete, its dropped snapshot still in the trash
    "placed:1": ("rsync-started:1", "dropped:1", "placed:1"),
}


@pytest.mark.slow
@pytest.mark.parametrize("first", list(RECOVERY_CRASHES))
def test_crash_while_recovering_from_a_crash(world, campaign, first):
    cw = CrashWorld(world, campaign)
    cw.fill(3)
    for second in RECOVERY_CRASHES[first]:
        cw.next_state()
        _crash(cw, campaign, "rotating run", first)
        _crash(cw, campaign, f"recovery run after {first}", second)
        cw.normal_run(f"recovery after crashes at {first}, then {second}")


def test_kill_in_the_middle_of_cp_al(world, campaign):
    """The checkpoint crash at cp-started lands before cp has linked anything: here vhpi is
    paused right after starting cp, and the group is killed once cp has linked part of the
    tree (1000 more files, so that it takes a while), for each interval's cp."""
    cw = CrashWorld(world, campaign, bulk=1000)
    cw.fill(3)
    landed = []
    for occurrence in (1, 2, 3):
        cw.next_state()
        _tally_point(campaign, "rotating run, mid cp", f"cp-started:{occurrence}")
        running, left = cw.kill_mid_cp(occurrence)
        landed.append((occurrence, running, left))
        cw.check(f"killed in the middle of cp -al number {occurrence} (left {left})", mode="crashed")
        cw.normal_run(f"recovery after a kill in the middle of cp -al number {occurrence} (left {left})")
    assert sum(running for _, running, _ in landed) >= 2, f"cp was not running at most kills: {landed}"


#: Runs vhpi, SIGKILLing its process group the n-th time it is about to rename a finished
#: temporary file over DEST/.vhpi/state.json: a power cut inside write_json_atomically.
KILL_AT_STATE_REPLACE = """
import os, signal, sys
seen, wanted, replace = [0], int(os.environ["KILL_AT_STATE_REPLACE"]), os.replace
def replace_or_die(source, target, *args, **kwargs):
    if os.fspath(target).endswith(os.sep + "state.json"):
        seen[0] += 1
        if seen[0] == wanted:
            os.killpg(os.getpgrp(), signal.SIGKILL)
    return replace(source, target, *args, **kwargs)
os.replace = replace_or_die
from vhpi.main import main
sys.exit(main(sys.argv[1:]))
"""


class Debris(AssertionError):
    """Files a crash left that no later run removes."""


def test_a_kill_while_the_state_file_is_written_leaves_no_debris(world, campaign):
    cw = CrashWorld(world, campaign)
    cw.fill(3)
    for write in (1, 3):  # hourly's and weekly's state write
        cw.next_state()
        _tally_point(campaign, "rotating run, inside the state write", f"state.json replace:{write}")
        assert cw.injected_run(KILL_AT_STATE_REPLACE, {"KILL_AT_STATE_REPLACE": str(write)}) == -9
        cw.check(f"killed while state.json was replaced ({write})", mode="crashed")
        cw.normal_run(f"recovery after a kill while state.json was replaced ({write})")
    debris = sorted(name for name in os.listdir(world.dest / ".vhpi") if ".tmp" in name)
    if debris:
        raise Debris(f"left in {world.dest / '.vhpi'} for good: {debris}")


#: Keep counts lowered from 4/3/3 to 3/2/2: each interval holds one more than its count, so
#: a rotation drops one and the count stays (one drop per rotation at most). After a crash
#: past the drop, only the `trash.<interval>.*` left in the work folder tells the recovery
#: run that this rotation's drop is done: without it, it would drop a second snapshot.
LOWERED_KEEP_CRASHES = ("dropped:1", "dropped:2", "dropped:3", "renamed:1", "renamed:3",
                        "renamed:4", "renamed:7", "state-written:1", "state-written:3")


def test_crash_while_rotating_after_the_keep_counts_were_lowered(world, campaign):
    cw = CrashWorld(world, campaign, keep={"hourly": 4, "daily": 3, "weekly": 3})
    cw.fill(4)
    cw.set_keep(KEEP)
    for crash_at in LOWERED_KEEP_CRASHES:
        cw.next_state()
        _crash(cw, campaign, "rotating run, keep lowered", crash_at)
        cw.normal_run(f"recovery after a crash at {crash_at}, keep counts lowered")


#: After a power cut the source share may not be mounted yet when cron starts vhpi again.
FAILED_RECOVERY_CRASHES = ("cp-started:2", "linked:1", "linked:3", "ready:2", "dropped:1",
                           "renamed:2", "state-written:2", "state-written:3", "placed:1")


def test_a_recovery_run_that_fails_still_finishes_what_the_crash_left(world, campaign):
    """The run after the crash fails (no source sentinel), but only after it has finished
    the interrupted rotation and cleared the work folder; the run after that completes."""
    cw = CrashWorld(world, campaign)
    cw.fill(3)
    sentinel, away = world.source / ".backup_valid", world.root / "sentinel-away"
    for crash_at in FAILED_RECOVERY_CRASHES:
        cw.next_state()
        _crash(cw, campaign, "rotating run", crash_at)
        os.rename(sentinel, away)  # keeps its inode and times: the source state is the same
        try:
            result = cw.plain_run()
        finally:
            os.rename(away, sentinel)
        if crash_at == "state-written:3":  # only weekly was left to finish: nothing due then
            assert result.returncode == 0 and job_line(world).endswith("nothing due"), world.info_log
        else:
            assert result.returncode == 1 and "FAILED" in job_line(world), world.info_log
        cw.check(f"a failed recovery run after a crash at {crash_at}", mode="failed")
        cw.normal_run(f"the run after a failed recovery from a crash at {crash_at}")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_at_random_instants(world, campaign, seed):
    """SIGKILL the process group at random instants spread over a run's measured duration;
    now and then kill the recovery run too."""
    trials = 12
    rng = random.Random(f"vhpi-crash-campaign-random-{seed}")
    cw = CrashWorld(world, campaign)
    duration = max(cw.fill(3), 0.2)
    outcomes = []
    for _ in range(trials):
        cw.next_state()
        delay = rng.uniform(0, duration * 1.1)
        running, left = cw.kill_after(delay)
        cw.check(f"killed after {delay:.3f} s of {duration:.3f} s (running={running}, left {left})",
                 mode="crashed")
        note = f"recovery after a kill at {delay:.3f} s of {duration:.3f} s (running={running}, left {left})"
        if rng.random() < 0.25:
            again = rng.uniform(0, duration * 1.1)
            running_again, left = cw.kill_after(again)
            cw.check(f"recovery run killed after {again:.3f} s (left {left})", mode="crashed")
            note += f", its recovery killed after {again:.3f} s (running={running_again})"
        cw.normal_run(note)
        outcomes.append((round(delay, 3), running, tuple(left)))
    hits = [outcome for outcome in outcomes if outcome[1]]
    assert len(hits) >= trials // 2, f"most kills must hit a running vhpi (run {duration:.3f} s): {outcomes}"
