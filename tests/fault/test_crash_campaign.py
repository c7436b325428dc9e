"""The crash campaign: a power cut (SIGKILL of vhpi's whole process group: vhpi, rsync, cp)
at every checkpoint of a run, at several occurrences of each, in the first run, in a run
that rotates three intervals at once, and in the recovery run after such a crash; then at
random instants. After every crash vhpi runs again normally (at the same fake time) and
tests.fault.invariants checks the destination; the state the crash left is checked too.

A rotating run makes each new `<interval>.0` one of two ways (vhpi.act.snapshots), and the
campaign crashes at every checkpoint of both:

* the recycle path, on a normal destination: the interval is at its keep count, so its
  oldest snapshot is dropped first (to `trash.<interval>.recycled@<time>`) and relinked into the
  new tree; no `cp -al`. A crash between that drop and `ready` loses the new tree (the
  next run deletes what is left): the interval holds one snapshot less until the recovery
  run, still due, makes it with `cp -al`.
* the link path, on a destination too small to recycle (a 32 MiB tmpfs: less than
  RECYCLE_MIN_FREE_BYTES free), as in first runs and below the keep count: `cp -al` into
  `building.<interval>`, ready, then make_room drops the oldest.

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

from tests.conftest import needs_root
from tests.fault.crash_world import INTERVALS, KEEP, CrashWorld, paths_taken, rsync_lines
from tests.fault.fault_helpers import dest_on_tmpfs, mounts
from tests.integration.helpers import job_line, work_leftovers
from vhpi.act.checkpoints import CHECKPOINTS
from vhpi.act.layout import Layout
from vhpi.act.snapshots import has_room_to_recycle
from vhpi.act.rsync_pass import LogBatch

_ = mounts  # the fixture

#: The order in which a run makes the due intervals' snapshots: shortest interval first.
ORDER = tuple(sorted(KEEP, key=INTERVALS.get))
SMALL_DISK = "rotating run on a small disk (link path)"

#: How often a run that rotates all three intervals at their keep counts (hourly 3, daily
#: 2, weekly 2, after three earlier runs), with a changed source, reaches each checkpoint,
#: and the occurrences the campaign crashes at; reached 0: not reachable in that run (the
#: occurrences are tried too, to prove the run then finishes). Every other one is
#: reachable, "locked" included (it is reached right after the lock is taken, before
#: anything is written).
#:
#: ROTATING_RUN: on a normal destination, where every interval recycles its oldest snapshot.
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
    "copied": (1, (1,)),                   # every copy pass done: backup.latest complete
    "cp-started": (0, (1,)),               # every interval recycles: no cp -al at all
    "dropped": (3, (1, 2, 3)),             # each interval's oldest, before its tree is made
    "linked": (3, (1, 2, 3)),              # the dropped snapshot relinked into building.*
    "ready": (3, (1, 2, 3)),
    "renamed": (4, (1, 2, 3, 4)),          # hourly 1->2, 0->1; daily 0->1; weekly 0->1
    "state-written": (3, (1, 2, 3)),
    "placed": (3, (1, 2, 3)),
    "checksums-recorded": (1, (1,)),       # the new files' checksums committed
    "job-done": (1, (1,)),
}

#: ROTATING_RUN_ON_A_SMALL_DISK: the destination has too little room to recycle, so each
#: interval's tree is linked with cp -al and make_room drops the oldest afterwards.
ROTATING_RUN_ON_A_SMALL_DISK = {
    **ROTATING_RUN,
    "cp-started": (3, (1, 2, 3)),          # once per interval: hourly, daily, weekly
    "linked": (3, (1, 2, 3)),
    "ready": (3, (1, 2, 3)),
    "dropped": (3, (1, 2, 3)),             # each interval is at its keep count: one drop each
}

#: What the work folder must hold right after a crash at a checkpoint of a rotating run
#: (proof that the crash landed where the checkpoint says), per path.
MUST_LEAVE = {
    "recycle": {
        "dropped": ("trash.",),
        "linked": ("building.", "trash."),
        "ready": ("ready.", "trash."),
        "renamed": ("ready.", "trash."),
        "state-written": ("ready.", "trash."),
        "placed": ("trash.",),
    },
    "link": {
        "linked": ("building.",),
        "ready": ("ready.",),
        "dropped": ("ready.", "trash."),
        "renamed": ("ready.", "trash."),
        "state-written": ("ready.", "trash."),
        "placed": ("trash.",),
    },
}


def _cut(path: str, crash_at: str) -> tuple:
    """The interval whose rotation a crash at `crash_at` cuts after its drop and before its
    new tree is ready (recycle path: at "dropped" or "linked"), as a 0- or 1-tuple."""
    name, _, count = crash_at.partition(":")
    if path == "recycle" and name in ("dropped", "linked"):
        return (ORDER[int(count or 1) - 1],)
    return ()


def _assert_left(path: str, crash_at: str, left: list) -> None:
    """The work folder after a crash in a rotating run holds what that path leaves there."""
    name = crash_at.partition(":")[0]
    for prefix in MUST_LEAVE[path].get(name, ()):
        assert any(entry.startswith(prefix) for entry in left), (path, crash_at, left)
    trash = [entry for entry in left if entry.startswith("trash.")]
    if path == "recycle":
        assert all(".recycled@" in entry for entry in trash), (crash_at, left)
    else:
        assert not any(".recycled@" in entry for entry in trash), (crash_at, left)
    for interval in _cut(path, crash_at):
        # the dropped snapshot is in the trash, the new tree not ready (or not even begun)
        assert any(entry.startswith(f"trash.{interval}.recycled@") for entry in left), (crash_at, left)
        assert not any(entry.startswith(f"ready.{interval}@") for entry in left), (crash_at, left)
        assert (f"building.{interval}" in left) == (name == "linked"), (crash_at, left)


def _assert_paths(path: str, crash_at: str, crash_log: str, recovery_log: str) -> None:
    """Each interval's new snapshot was made the way `path` says: on a normal destination
    by recycling, except that an interval whose recycling a crash cut (below its keep
    count then) is made by the recovery run with cp -al; on the small disk always with
    cp -al, never recycled. No interval is recycled twice (that would be a second drop)."""
    crashed, recovered = paths_taken(crash_log), paths_taken(recovery_log)
    last = {**dict(crashed), **dict(recovered)}
    if path == "recycle":
        cut = _cut(path, crash_at)
        assert [kind for _, kind in crashed if kind != "recycle"] == [], (crash_at, crashed)
        assert [i for i, kind in recovered if kind == "link"] == list(cut), (crash_at, recovered)
        expected = {interval: "link" if interval in cut else "recycle" for interval in ORDER}
    else:
        expected = {interval: "link" for interval in ORDER}
    assert last == expected, (path, crash_at, crashed, recovered)
    recycled = [interval for interval, kind in crashed + recovered if kind == "recycle"]
    assert len(recycled) == len(set(recycled)), (crash_at, crashed, recovered)


@pytest.fixture
def small_disk(world, mounts):
    """The destination on a 32 MiB tmpfs of its own (unmounted again by `mounts`): less
    free space than recycling needs, so every rotation there takes the link path."""
    dest_on_tmpfs(world, mounts, size="32m")
    assert not has_room_to_recycle(Layout(str(world.dest))), os.statvfs(world.dest)
    return world


def _assert_room_to_recycle(world) -> None:
    assert has_room_to_recycle(Layout(str(world.dest))), (
        f"{world.dest} has too little free space or inodes for vhpi to recycle: "
        f"{os.statvfs(world.dest)}")


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
            # the checkpoint comes before the line is read, and lines are logged in
            # batches (flushed at the end of each pass): of the count-1 lines read, all
            # but the last unfinished batch were
            read = int(count) - 1
            assert read - LogBatch.BATCH_SIZE < rsync_lines(log) <= read, log[-3000:]
    else:
        assert code == 0, f"{phase}, VHPI_CRASH_AT={crash_at} is not reachable there: exit {code}"
    cw.check(f"{phase}, right after a crash at {crash_at}", mode="crashed")
    return log


def _crash_at_every_occurrence(cw: CrashWorld, campaign, phase: str, path: str, name: str,
                               reached: int, occurrences: tuple) -> None:
    cw.fill(3)
    for occurrence in occurrences:
        assert occurrence <= reached or not reached
        crash_at = f"{name}:{occurrence}"
        cw.next_state()
        crash_log = _crash(cw, campaign, phase, crash_at, reachable=bool(reached))
        left = work_leftovers(cw.world)
        if reached:
            _assert_left(path, crash_at, left)
        cw.normal_run(f"recovery after a crash at {crash_at} (left {left})")
        _assert_paths(path, crash_at, crash_log, cw.last_debug)


@pytest.mark.parametrize("name", list(ROTATING_RUN))
def test_crash_at_every_checkpoint_of_a_rotating_run(world, campaign, name):
    """On a normal destination: the recycle path."""
    _assert_room_to_recycle(world)
    cw = CrashWorld(world, campaign)
    _crash_at_every_occurrence(cw, campaign, "rotating run", "recycle", name, *ROTATING_RUN[name])


@needs_root("mounts a 32 MiB tmpfs as the backup disk")
@pytest.mark.parametrize("name", list(ROTATING_RUN_ON_A_SMALL_DISK))
def test_crash_at_every_checkpoint_of_a_rotating_run_on_a_small_disk(small_disk, campaign, name):
    """On a destination with too little room to recycle: the link path, with drops."""
    cw = CrashWorld(small_disk, campaign)
    _crash_at_every_occurrence(cw, campaign, SMALL_DISK, "link", name,
                               *ROTATING_RUN_ON_A_SMALL_DISK[name])


def test_the_campaign_covers_every_checkpoint():
    for run in (ROTATING_RUN, ROTATING_RUN_ON_A_SMALL_DISK):
        assert set(run) == set(CHECKPOINTS), "a checkpoint was added or renamed: crash at it too"
    assert all(reached for reached, _ in ROTATING_RUN_ON_A_SMALL_DISK.values())
    unreachable = [name for name, (reached, _) in ROTATING_RUN.items() if not reached]
    assert unreachable == ["cp-started"], unreachable


#: The first run: nothing to rotate, one plain rsync pass (about 77 lines of output), three
#: snapshots linked and placed. Not reachable there: "unlinked" and "copied" (no second
#: pass), "dropped" and "renamed" (nothing to rotate); they are tried too, to prove the run
#: then finishes.
FIRST_RUN = [
    ("locked:1", True), ("recovered:1", True), ("rsync-started:1", True), ("rsync-line:1", True),
    ("rsync-line:40", True), ("rsync-line:70", True), ("rsync-done:1", True),
    ("cp-started:1", True), ("cp-started:3", True), ("linked:1", True), ("linked:3", True),
    ("ready:1", True), ("ready:2", True), ("state-written:1", True), ("state-written:3", True),
    ("placed:1", True), ("placed:2", True), ("placed:3", True), ("checksums-recorded:1", True),
    ("job-done:1", True),
    ("unlinked:1", False), ("dropped:1", False), ("renamed:1", False), ("rsync-started:2", False),
    ("copied:1", False),
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


#: A crash in the run that recovers from a crash: (first crash, the recovery run's crashes),
#: on a normal destination (the recycle path). The recovery run first finishes the rotation
#: the first crash left, if its tree was ready (its own renamed, state-written and placed:
#: the drop was done), then backs up the intervals still due.
RECOVERY_CRASHES = {
    # weekly.1 was recycled into weekly's ready tree (trash.weekly.recycled says the drop is
    # done), not rotated: recovery only renames weekly.0 -> 1 and places, then empties the
    # trash ("recovered"); nothing is due after that
    "ready:3": ("renamed:1", "state-written:1", "placed:1", "recovered:1"),
    # hourly.2 is in the trash, the new tree not begun: recovery deletes it, then makes
    # hourly with cp -al (hourly is below its keep count now), renames 1->2 and 0->1 and
    # places it; daily and weekly recycle (daily's drop is the recovery run's dropped:1)
    "dropped:1": ("cp-started:1", "renamed:1", "renamed:2", "placed:1", "dropped:1"),
    # hourly.1 moved to .2, a gap at .1
    "renamed:1": ("renamed:1", "state-written:1", "ready:1"),
    # hourly done; daily rotated and recorded, its tree not yet in place
    "state-written:2": ("placed:1", "rsync-line:2", "linked:1"),
    # while vhpi reads the transfer's output: backup.latest may be half updated. (rsync may
    # also have finished before vhpi read that far, so the recovery run may have nothing
    # left to copy: only its first pass, about 17 lines at least, is certain to run)
    "rsync-line:45": ("rsync-line:3", "unlinked:1", "rsync-done:1"),
    # hourly complete, the emptied trash.hourly.recycled still there
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


@needs_root("mounts a 32 MiB tmpfs as the backup disk")
def test_kill_in_the_middle_of_cp_al(small_disk, campaign):
    """The checkpoint crash at cp-started lands before cp has linked anything: here vhpi is
    paused right after starting cp, and the group is killed once cp has linked part of the
    tree (1000 more files, so that it takes a while), for each interval's cp. A rotating
    run uses cp -al only where it cannot recycle: on the small disk, every interval."""
    cw = CrashWorld(small_disk, campaign, bulk=1000)
    cw.fill(3)
    landed = []
    for occurrence in (1, 2, 3):
        cw.next_state()
        _tally_point(campaign, "rotating run, mid cp", f"cp-started:{occurrence}")
        running, left = cw.kill_mid_cp(occurrence)
        landed.append((occurrence, running, left))
        assert f"building.{ORDER[occurrence - 1]}" in left or not running, (occurrence, left)
        cw.check(f"killed in the middle of cp -al number {occurrence} (left {left})", mode="crashed")
        cw.normal_run(f"recovery after a kill in the middle of cp -al number {occurrence} (left {left})")
        made = [(interval, "link") for interval in ORDER[occurrence - 1:]]
        assert paths_taken(cw.last_debug) == made, cw.last_debug[-3000:]
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
#: past the drop with the new tree ready, only the `trash.<interval>.*` left in the work
#: folder tells the recovery run that this rotation's drop is done: without it, it would
#: drop a second snapshot. On a normal destination the drop is the recycled oldest, before
#: the tree is made (so "ready"); on the small disk it is make_room's, after ("dropped").
LOWERED_KEEP_CRASHES = ("ready:1", "ready:2", "ready:3", "renamed:1", "renamed:3",
                        "renamed:4", "renamed:7", "state-written:1", "state-written:3")
LOWERED_KEEP_CRASHES_ON_A_SMALL_DISK = ("dropped:1", "dropped:2", "dropped:3", "renamed:1",
                                        "renamed:3", "renamed:4", "renamed:7",
                                        "state-written:1", "state-written:3")


def _crash_after_lowering_the_keep_counts(cw: CrashWorld, campaign, phase: str, crashes) -> None:
    cw.fill(4)
    cw.set_keep(KEEP)
    for crash_at in crashes:
        cw.next_state()
        _crash(cw, campaign, phase, crash_at)
        cw.normal_run(f"recovery after a crash at {crash_at}, keep counts lowered")


def test_crash_while_rotating_after_the_keep_counts_were_lowered(world, campaign):
    _assert_room_to_recycle(world)
    cw = CrashWorld(world, campaign, keep={"hourly": 4, "daily": 3, "weekly": 3})
    _crash_after_lowering_the_keep_counts(cw, campaign, "rotating run, keep lowered",
                                          LOWERED_KEEP_CRASHES)


@needs_root("mounts a 32 MiB tmpfs as the backup disk")
def test_crash_while_rotating_after_the_keep_counts_were_lowered_on_a_small_disk(small_disk,
                                                                                campaign):
    cw = CrashWorld(small_disk, campaign, keep={"hourly": 4, "daily": 3, "weekly": 3})
    _crash_after_lowering_the_keep_counts(cw, campaign, f"{SMALL_DISK}, keep lowered",
                                          LOWERED_KEEP_CRASHES_ON_A_SMALL_DISK)


@pytest.mark.parametrize("crash_at", ["dropped:1", "linked:3"])
def test_crash_between_the_recycled_drop_and_ready_after_the_keep_counts_were_lowered(
        world, campaign, crash_at):
    _assert_room_to_recycle(world)
    cw = CrashWorld(world, campaign, keep={"hourly": 4, "daily": 3, "weekly": 3})
    cw.fill(4)
    cw.set_keep(KEEP)
    cw.next_state()
    _crash(cw, campaign, "rotating run, keep lowered", crash_at)
    assert any(entry.startswith(f"trash.{ORDER[int(crash_at[-1]) - 1]}.recycled@")
               for entry in work_leftovers(world))
    cw.normal_run(f"recovery after a crash at {crash_at}, keep counts lowered")


#: After a power cut the source share may not be mounted yet when cron starts vhpi again.
#: On a normal destination, a crash at "dropped" or "linked" cuts that interval's recycling:
#: the failed run can only delete what is left (the rotation's drop stays done), and the
#: run after it makes the snapshot.
FAILED_RECOVERY_CRASHES = ("dropped:2", "linked:1", "linked:3", "ready:2", "dropped:1",
                           "renamed:2", "state-written:2", "state-written:3", "placed:1")
FAILED_RECOVERY_CRASHES_ON_A_SMALL_DISK = ("cp-started:2", "linked:1", "ready:2", "dropped:1",
                                           "renamed:2", "state-written:3")


def _fail_the_recovery_run(cw: CrashWorld, campaign, phase: str, path: str, crashes) -> None:
    cw.fill(3)
    world = cw.world
    sentinel, away = world.source / ".backup_valid", world.root / "sentinel-away"
    for crash_at in crashes:
        cw.next_state()
        _crash(cw, campaign, phase, crash_at)
        _assert_left(path, crash_at, work_leftovers(world))
        os.rename(sentinel, away)  # keeps its inode and times: the source state is the same
        try:
            result = cw.plain_run()
        finally:
            os.rename(away, sentinel)
        if crash_at == "state-written:3":  # only weekly was left to finish: nothing due then
            assert result.returncode == 0 and job_line(world).endswith("nothing due"), world.info_log
        else:
            assert result.returncode == 1 and "FAILED" in job_line(world), world.info_log
        cw.check(f"a failed recovery run after a crash at {crash_at}", mode="failed",
                 cut=_cut(path, crash_at))
        cw.normal_run(f"the run after a failed recovery from a crash at {crash_at}")


def test_a_recovery_run_that_fails_still_finishes_what_the_crash_left(world, campaign):
    """The run after the crash fails (no source sentinel), but only after it has finished
    the interrupted rotation and cleared the work folder; the run after that completes."""
    _assert_room_to_recycle(world)
    _fail_the_recovery_run(CrashWorld(world, campaign), campaign, "rotating run", "recycle",
                           FAILED_RECOVERY_CRASHES)


@needs_root("mounts a 32 MiB tmpfs as the backup disk")
def test_a_recovery_run_that_fails_still_finishes_what_the_crash_left_on_a_small_disk(
        small_disk, campaign):
    _fail_the_recovery_run(CrashWorld(small_disk, campaign), campaign, SMALL_DISK, "link",
                           FAILED_RECOVERY_CRASHES_ON_A_SMALL_DISK)


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
