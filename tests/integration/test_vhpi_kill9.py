"""Crash safety for real: SIGKILL the whole vhpi process tree (vhpi, rsync, cp) at moments
spread over a run, run it again normally, and check that every snapshot is exactly one
complete source state that was backed up, in order, with no gap and no work left over."""

import os
import random
import re
import time

from tests.integration.helpers import (job_line, kill_group, lock_free, manifest, numbers,
                                       start_vhpi, vhpi, walk, work_leftovers, write_config,
                                       write_files)

KEEP = {"hourly": 3, "daily": 2, "weekly": 2}
INTERVALS = {"hourly": 3600, "daily": 86400, "weekly": 604800}
FOLDERS, FILES_PER_FOLDER = 40, 75  # 3000 small files
BIG = 24 << 20
KILLED_TRIALS = 9


def _evolve(source, trial):
    """Move the source on to state `trial`: rewrite, delete and add files, rewrite the big one."""
    rng = random.Random(trial)
    mtime = 1_700_000_000 + trial * 100
    if trial == 0:
        write_files(source, {f"d{d:02}/f{f:03}.txt": f"{d}/{f} v0\n" * 3
                             for d in range(FOLDERS) for f in range(FILES_PER_FOLDER)}, mtime=mtime)
    else:
        existing = sorted(os.path.relpath(os.path.join(folder, name), source)
                          for folder, _, names in walk(source) for name in names
                          if name.endswith(".txt"))
        changed = rng.sample(existing, 60)
        write_files(source, {name: f"{name} v{trial}\n" + "x" * trial for name in changed[:50]},
                    mtime=mtime)
        for name in changed[50:]:
            os.unlink(os.path.join(source, name))
        write_files(source, {f"d{rng.randrange(FOLDERS):02}/new-{trial}-{i}.txt": f"new {trial}"
                             for i in range(10)}, mtime=mtime)
        write_files(source, {f"added-{trial}/a.txt": "a", f"added-{trial}/sub/b.txt": "b"}, mtime=mtime)
        os.chmod(os.path.join(source, changed[0]), 0o600 if trial % 2 else 0o640)
    write_files(source, {"big.bin": os.urandom(BIG)}, mtime=mtime)
    return manifest(source)


def _kill_tree_after(world, offset, delay):
    """Start vhpi, SIGKILL its whole process group after `delay` s; return whether it was
    still running then, and what its work folder held right after the kill."""
    process = start_vhpi(world, at=offset)
    time.sleep(delay)
    running = process.poll() is None
    kill_group(process)
    deadline = time.monotonic() + 10
    while not lock_free(world):  # orphans (rsync, cp) die with the group; wait for them
        assert time.monotonic() < deadline, "the killed run's lock was never released"
        time.sleep(0.01)
    return running, work_leftovers(world)


def _check_invariants(world, states, trial, note):
    assert work_leftovers(world) == [], note
    assert manifest(world.dest / "backup.latest") == states[trial], note
    for interval, keep in KEEP.items():
        kept = min(keep, trial + 1)
        assert numbers(world, interval) == list(range(kept)), (note, world.snapshots())
        for n in range(kept):
            assert manifest(world.dest / f"{interval}.{n}") == states[trial - n], \
                (note, f"{interval}.{n} is not source state {trial - n}")
    expected = sorted(f"{i}.{n}" for i, k in KEEP.items() for n in range(min(k, trial + 1)))
    assert world.snapshots() == expected, note


def test_sigkill_at_any_moment_leaves_only_complete_snapshots(world):
    write_config(world, intervals=INTERVALS, snapshots=KEEP)
    states = []
    # Trial 0: the first backup. Trial 1: an ordinary run, timed, to spread the kills over.
    for trial in (0, 1):
        states.append(_evolve(world.source, trial))
        started = time.monotonic()
        vhpi(world, at=f"+{8 * trial}d", code=0)
        duration = time.monotonic() - started
        _check_invariants(world, states, trial, f"trial {trial}, not killed")

    outcomes = []
    for index in range(KILLED_TRIALS):
        trial = index + 2
        states.append(_evolve(world.source, trial))
        offset = f"+{8 * trial}d"  # every interval is due in every trial
        delay = duration * (index + 0.5) / KILLED_TRIALS
        running, left = _kill_tree_after(world, offset, delay)
        result = vhpi(world, at=offset, code=0)
        note = (f"trial {trial}: killed after {delay:.3f} s of {duration:.3f} s, "
                f"running={running}, left {left}")
        assert result.stdout == result.stderr == "", note
        assert "FAILED" not in job_line(world), note
        _check_invariants(world, states, trial, note)
        outcomes.append((running, tuple(left)))

    still_running = [o for o in outcomes if o[0]]
    assert len(still_running) >= KILLED_TRIALS // 2, \
        f"most kills should hit a running vhpi (run took {duration:.3f} s): {outcomes}"


def _find_temp_file(world, name):
    """rsync's temporary copy of `name`, wherever rsync writes it: `.name.XXXXXX` beside
    the file, or `name.XXXXXX` in a --temp-dir."""
    pattern = re.compile(r"\.?" + re.escape(name) + r"\.[A-Za-z0-9]{6}")
    for folder, _, files in walk(world.dest):
        for candidate in files:
            if pattern.fullmatch(candidate):
                return os.path.join(folder, candidate)
    return None


def test_a_file_cut_off_mid_copy_never_reaches_a_snapshot(world):
    # Excluding dot-files (".*") also protects any such file in backup.latest from --delete,
    # so a temporary file a killed rsync left there would stay, and be snapshotted, forever.
    # --bwlimit: the copy takes seconds, so the kill always lands while it goes on
    write_config(world, excludes=[".*"], rsync_options="-aHAXS --delete --numeric-ids --bwlimit=16384")
    write_files(world.source, {"small.txt": "small"})
    vhpi(world, code=0)
    write_files(world.source, {"big.bin": b"x" * (64 << 20)})

    process = start_vhpi(world, at="+2h")
    deadline, temp = time.monotonic() + 30, None
    try:
        while process.poll() is None and time.monotonic() < deadline:
            temp = _find_temp_file(world, "big.bin")
            if temp and os.path.getsize(temp) > (8 << 20):
                break
            time.sleep(0.002)
    finally:
        kill_group(process)
    assert temp and os.path.exists(temp), "the kill did not land while big.bin was being copied"

    vhpi(world, at="+2h", code=0)
    for snapshot in ("hourly.0", "backup.latest"):
        names = sorted(os.listdir(world.dest / snapshot))
        assert names == ["big.bin", "small.txt"], (snapshot, names)
    assert os.path.getsize(world.dest / "hourly.0" / "big.bin") == 64 << 20
