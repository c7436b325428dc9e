"""The crash campaign for checksums (vhpi.act.new_checksums, `vhpi verify`): a kill at any
instant of a backup run or a verify never leaves a wrong checksum recorded: not one of a
file recorded before it was complete, not one of another inode that reused the number.

After every kill and after the run that recovers, tests.fault.checksum_checks compares
every record of DEST/.vhpi/content.sqlite3 that describes a present file (look_up's rule:
inode number, size, mtime and birth time) with the file's real sha256; at the end a full
`vhpi verify` exits 0, finds nothing damaged, and every non-empty file has a valid record.

(a) a backup run killed at every checkpoint and at random instants, on ext4 (birth times
    kept), over a source that rewrites, deletes, adds, moves and hard-links files, plus
    files deleted and added with the same size and mtime but other bytes, so that freed
    inode numbers come back with the same facts (ext4 hands a freed number out again at
    once; tmpfs never does);
(b) `vhpi verify` killed at random instants while it records the checksums of a disk whose
    index was deleted;
(c) a destination without birth times (an ext4 whose 128-byte inodes have no room for
    one, and vhpi run through NO_BIRTH_TIMES, statx without STATX_BTIME): a run killed
    between its transfer and its recording, after files were replaced by ones that got
    the old ones' inode numbers, size and mtime; the next run must drop the records it
    cannot tell apart. And the same replacement in a run that is not killed, and
    `vhpi verify --source` after a killed run (both once gave false alarms);
(d) power cuts (tests.fault.power_cut_disk) inside a run's recording, before and after
    its (unsynced) commit, and right after it.
"""

from __future__ import annotations

import os
import random
import sqlite3
import statistics
import time

import pytest

from tests.conftest import needs_root
from tests.fault.checksum_checks import (NO_BIRTH_TIMES, FalseAlarm, WrongChecksum,
                                         assert_no_wrong_checksum, damaged_counts, dest_on_ext4,
                                         present_files, records, unrecorded)
from tests.fault.fault_helpers import mounts
from tests.fault.power_cut_disk import power_cut_disk  # noqa: F401  (a fixture)
from tests.integration.helpers import (kill_group, lock_free, start_vhpi, wait_or_kill_group,
                                       write_config, write_files)
from tests.procs import process_state
from vhpi.act.checkpoints import CHECKPOINTS
from vhpi.act.content_index import index_path

_ = mounts  # the fixture
SIZE = 3000
MTIME = 1_700_000_000


def _wait_unlocked(world) -> None:
    deadline = time.monotonic() + 10
    while not lock_free(world, world.dest):
        assert time.monotonic() < deadline, "a killed run's lock was never released"
        time.sleep(0.005)


def _run(world, *args, at, env=None, births=True, code=None):
    """Run vhpi ARGS (through NO_BIRTH_TIMES when not `births`) to its end in its own
    session; return (exit code, what it printed)."""
    out = world.root / "vhpi.out"
    process = start_vhpi(world, *args, at=at, env=env, log_to=out,
                         script=None if births else NO_BIRTH_TIMES)
    result = wait_or_kill_group(process)
    _wait_unlocked(world)
    text = out.read_text(errors="replace")
    if code is not None:
        assert result == code, f"vhpi {' '.join(args)}: exit {result}\n{text}\n{world.info_log[-3000:]}"
    return result, text


def _verify_finds_nothing(world, note: str, births: bool = True) -> None:
    """`vhpi verify --json` exits 0 and finds nothing damaged (else FalseAlarm)."""
    code, text = _run(world, "verify", "--json", at="+0d", births=births)
    if code != 0 or damaged_counts(text) != [0]:
        raise FalseAlarm(f"{note}: vhpi verify exit {code}\n{text}")


def _same_facts_file(tag: str) -> bytes:
    """SIZE bytes of their own, for files that all have size SIZE and mtime MTIME."""
    return (f"{tag} " * SIZE).encode()[:SIZE]


# ---------------------------------------------------------------- the check itself

def test_the_check_finds_a_wrong_checksum(world):
    """The invariant's check can fail: a record given other bytes' checksum is named; the
    same record without a birth time, under an "adding" mark, is only distrusted."""
    write_config(world, intervals={"hourly": 3600}, snapshots={"hourly": 1})
    write_files(world.source, {"s/a.bin": _same_facts_file("a")}, mtime=MTIME)
    _run(world, at="+0h", code=0)
    assert assert_no_wrong_checksum(world.dest, "a normal run").compared == 1
    ino = os.stat(world.dest / "backup.latest" / "s" / "a.bin").st_ino
    index = sqlite3.connect(index_path(str(world.dest)))
    index.execute("UPDATE inodes SET sha256 = ? WHERE ino = ?", (bytes(32), ino))
    index.commit()
    with pytest.raises(WrongChecksum, match="1 wrong checksum"):
        assert_no_wrong_checksum(world.dest, "a record tampered with")
    index.execute("UPDATE inodes SET birth_ns = NULL WHERE ino = ?", (ino,))
    index.execute("INSERT INTO meta (key, value) VALUES ('adding_since', 1)")
    index.commit()
    index.close()
    found = assert_no_wrong_checksum(world.dest, "a weak record under the mark", births=False)
    assert found.marked and len(found.distrusted) == 1, found


# ---------------------------------------------------------------- (a) backup runs

#: Where the backup runs (one interval, keep 1: every run's rotation recycles the snapshot
#: it drops, freeing the inodes of what the source lost) are killed: every checkpoint, and
#: in the transfer's output. Not reached there, so the run finishes: cp-started (the tree
#: is recycled, not linked with cp -al) and renamed (keep 1: nothing to rename).
RUN_CRASHES = [f"{name}:1" for name in CHECKPOINTS] + ["rsync-line:12"]
UNREACHED = {"cp-started:1", "renamed:1"}
RANDOM_KILLS = 3
#: Files of the same size and mtime that the source holds or not by turns (a/t<k>.bin),
#: and files that change in other ways (c/f<k>.txt).
TURNS, CHANGING = 8, 16


def _evolve(source, trial: int) -> None:
    """Move the source on to state `trial` (every file two levels down: one copy pass):
    every other a/t<k>.bin exists, with bytes of its own, all of size SIZE and mtime MTIME
    (deleted ones free their inode numbers when the rotation drops the last snapshot that
    holds them, and new ones get those numbers with the same facts); c/ has files
    rewritten (other size and mtime), deleted and added; c/same.txt gets other bytes of
    the same size and mtime (rsync's quick check passes it over: the backup keeps the old
    bytes, and their checksum); a hard-linked pair gets a new inode every other trial; a
    file moves to the other m<n>/ folder (vhpi links it instead of copying it)."""
    rng = random.Random(f"vhpi-checksum-crash-{trial}")
    mtime = MTIME + 100 * trial
    for k in range(TURNS):
        path = source / "a" / f"t{k}.bin"
        if (trial + k) % 2 and path.exists():
            path.unlink()
        elif not (trial + k) % 2:
            write_files(source, {f"a/t{k}.bin": _same_facts_file(f"{trial}-{k}")}, mtime=MTIME)
    write_files(source, {"c/same.txt": f"same size, other bytes: {trial % 10}\n"}, mtime=MTIME)
    if trial == 0:
        write_files(source, {f"c/f{k:02}.txt": f"{k} v0\n" * (1 + k) for k in range(CHANGING)},
                    mtime=mtime)
        write_files(source, {"m0/moving-0.txt": "a file that moves\n" * 40}, mtime=mtime)
    else:
        names = sorted(name for name in os.listdir(source / "c") if name != "same.txt")
        for name in rng.sample(names, 3):
            write_files(source, {f"c/{name}": f"{name} v{trial}\n" + "x" * rng.randrange(200)},
                        mtime=mtime)
        os.unlink(source / "c" / rng.choice(names))
        write_files(source, {f"c/new-{trial}.txt": f"new in {trial}\n"}, mtime=mtime)
        os.rename(source / f"m{(trial - 1) % 2}" / f"moving-{trial - 1}.txt",
                  source / f"m{trial % 2}" / f"moving-{trial}.txt")
    if trial % 2 == 0:
        for name in ("a.txt", "b.txt"):
            if (source / "hl" / name).exists():
                os.unlink(source / "hl" / name)
        write_files(source, {"hl/a.txt": f"linked, {trial}\n"}, mtime=mtime)
        os.link(source / "hl" / "a.txt", source / "hl" / "b.txt")


class Trials:
    """The world of (a): its trial number, each trial an hour on (every run is due)."""

    def __init__(self, world, campaign):
        self.world, self.campaign = world, campaign
        self.trial = -1
        (world.source / "m1").mkdir()
        self.told_apart: list = []

    def next(self) -> None:
        self.trial += 1
        _evolve(self.world.source, self.trial)

    @property
    def at(self) -> str:
        return f"+{self.trial}h"

    def finished(self, note: str) -> float:
        """Run the trial's backup to its end; check; return how long it took."""
        started = time.monotonic()
        _run(self.world, at=self.at, code=0)
        seconds = time.monotonic() - started
        self.check(note)
        return seconds

    def check(self, note: str) -> None:
        found = assert_no_wrong_checksum(self.world.dest, f"trial {self.trial}: {note}")
        assert not found.distrusted, found  # every record here has a birth time
        self.told_apart.append(found.told_apart)


@needs_root("mounts an ext4 image as the backup disk")
def test_backup_runs_killed_at_every_checkpoint_and_at_random_instants(world, mounts, campaign):
    """(a), on ext4 (birth times kept): after each kill and each recovery run no record
    that matches a present file is wrong; at the end verify finds nothing damaged and
    every file has its checksum."""
    dest_on_ext4(world, mounts)
    write_config(world, intervals={"hourly": 3600}, snapshots={"hourly": 1})
    trials = Trials(world, campaign)
    durations = []
    for _ in range(3):
        trials.next()
        durations.append(trials.finished("a normal run"))
    assert "moved or renamed files" in world.info_log.splitlines()[-1], world.info_log
    for crash_at in RUN_CRASHES:
        trials.next()
        code, _ = _run(world, at=trials.at, env={"VHPI_CRASH_AT": crash_at})
        campaign.add("crash points")
        campaign.add("crash trials")
        assert code == (0 if crash_at in UNREACHED else -9), (crash_at, code, world.info_log[-2000:])
        trials.check(f"right after a crash at {crash_at}")
        trials.finished(f"the recovery from a crash at {crash_at}")
    rng = random.Random("vhpi-checksum-crash")
    limit = max(statistics.median(durations), 0.2)
    kills: list = []
    while sum(running for _, running in kills) < RANDOM_KILLS:
        assert len(kills) < 3 * RANDOM_KILLS, f"vhpi had ended before most kills: {kills}"
        trials.next()
        delay = rng.uniform(0.05, limit)
        process = start_vhpi(world, at=trials.at)
        time.sleep(delay)
        kills.append((round(delay, 3), process.poll() is None))
        kill_group(process)
        _wait_unlocked(world)
        if kills[-1][1]:
            campaign.add("random-instant kills")
        else:  # the run had ended (a busy machine times runs badly): aim earlier
            limit = max(limit / 2, 0.1)
        trials.check(f"right after a kill at {delay:.3f} s")
        trials.finished(f"the recovery from a kill at {delay:.3f} s")
    assert sum(trials.told_apart) > 0, "no freed inode number came back with the same size and mtime"
    _verify_finds_nothing(world, "the verify after the campaign")
    assert unrecorded(world.dest) == []


# ---------------------------------------------------------------- (b) verify

#: A disk that `vhpi verify` takes about a second to read and record (it commits every
#: 256 records: a kill lands between commits, or in one).
VERIFY_FILES, VERIFY_FILE_SIZE = 2000, 12288


def _forget_every_checksum(dest) -> None:
    for suffix in ("", "-wal", "-shm"):
        path = f"{index_path(str(dest))}{suffix}"
        if os.path.exists(path):
            os.unlink(path)


def test_verify_killed_at_random_instants_while_it_records(world, campaign):
    """(b): the index deleted, every file is unknown: verify records them all, and is
    killed at random instants (every other time the index is deleted again, else the next
    verify goes on from what the killed one committed); what it committed is right, and a
    full verify then records the rest, exits 0 and finds nothing damaged."""
    write_config(world, intervals={"hourly": 3600}, snapshots={"hourly": 2})
    rng = random.Random("vhpi-verify-kills")
    write_files(world.source, {f"v/{n // 100:02}/f{n % 100:02}.bin": rng.randbytes(VERIFY_FILE_SIZE)
                               for n in range(VERIFY_FILES)}, mtime=MTIME)
    _run(world, at="+0h", code=0)
    _forget_every_checksum(world.dest)
    started = time.monotonic()
    _, text = _run(world, "verify", at="+0d", code=0)
    duration = time.monotonic() - started
    assert f"{VERIFY_FILES:,} had no checksum (now recorded)" in text, text
    kept: list = []  # (delay, still running, records committed)
    while len(kept) < 4 or not any(running and 0 < count < VERIFY_FILES for _, running, count in kept):
        assert len(kept) < 10, f"no kill landed while verify was recording: {kept}"
        if len(kept) % 2 == 0:  # else it goes on from what the killed one committed
            _forget_every_checksum(world.dest)
        delay = rng.uniform(0.1, duration)
        process = start_vhpi(world, "verify", at="+0d")
        time.sleep(delay)
        running = process.poll() is None
        kill_group(process)
        _wait_unlocked(world)
        campaign.add("random-instant kills")
        assert_no_wrong_checksum(world.dest, f"verify killed after {delay:.3f} s")
        kept.append((round(delay, 3), running, len(records(world.dest)[0])))
    _verify_finds_nothing(world, f"the verify after the kills {kept}")
    assert unrecorded(world.dest) == []


# ---------------------------------------------------------------- (c) no birth times

#: The two ways a destination has no birth times: an ext4 whose 128-byte inodes have no
#: room for one (real), and an ext4 with them that vhpi is run on through NO_BIRTH_TIMES.
BIRTHLESS = {"ext4 with 128-byte inodes": "real", "statx patched": "patched"}


#: Files of the same size and mtime that a source replaces at once: a backup run makes a
#: few files of its own (the index's journal, lists, state) that may take freed numbers first.
SAME_FACTS = 48


@pytest.fixture(params=list(BIRTHLESS.values()), ids=list(BIRTHLESS))
def birthless(request, world, mounts):
    """A world whose destination keeps no birth times (keep 1 hourly: each run's rotation
    frees the inodes of the files the source lost); returns (world, births for _run)."""
    dest_on_ext4(world, mounts, births=request.param == "patched")
    write_config(world, intervals={"hourly": 3600}, snapshots={"hourly": 1})
    write_files(world.source, {"s/keep.txt": "stays\n", **_same_facts_files("a")}, mtime=MTIME)
    return world, request.param != "patched"


def _same_facts_files(tag: str) -> dict:
    return {f"s/{tag}{n:02}.bin": _same_facts_file(f"{tag}{n}") for n in range(SAME_FACTS)}


def _replace_reusing_numbers(world, births: bool, gone: str, new: str, hour: int) -> set:
    """Delete the `gone` files from the source and back up (the rotation frees their inodes:
    keep 1), then add the `new` ones, of the same size and mtime; return the freed numbers."""
    freed = set()
    for name in _same_facts_files(gone):
        freed.add(os.stat(world.dest / "backup.latest" / name).st_ino)
        os.unlink(world.source / name)
    _run(world, at=f"+{hour}h", births=births, code=0)
    assert not freed & set(present_files(world.dest))
    write_files(world.source, _same_facts_files(new), mtime=MTIME)
    return freed


def _reused_with_old_records(world, new: str, freed: set) -> list:
    """The `new` files in backup.latest that got a freed number whose record (birth time
    unknown) has their facts."""
    rows = {tuple(row[:4]) for row in records(world.dest)[0]}
    found = []
    for name in _same_facts_files(new):
        file = os.stat(world.dest / "backup.latest" / name)
        if file.st_ino in freed and (file.st_ino, file.st_size, file.st_mtime_ns, None) in rows:
            found.append(name)
    return found


@needs_root("mounts an ext4 image as the backup disk")
def test_a_run_killed_before_recording_on_a_disk_without_birth_times(birthless, campaign):
    """(c): the deleted file's record describes the new one exactly (number, size, mtime);
    it must not be trusted while the killed run's "adding" mark is there, and the next run
    drops it (and every other record without a birth time)."""
    world, births = birthless
    _run(world, at="+0h", births=births, code=0)
    assert {row[3] for row in records(world.dest)[0]} == {None}, "the disk kept birth times"
    freed = _replace_reusing_numbers(world, births, "a", "b", 1)
    code, _ = _run(world, at="+2h", births=births, env={"VHPI_CRASH_AT": "placed"})
    campaign.add("crash trials")
    assert code == -9
    reused = _reused_with_old_records(world, "b", freed)
    assert reused, "no new file got a freed number"
    right_after = assert_no_wrong_checksum(world.dest, "right after the kill", births=False)
    assert right_after.marked and len(right_after.distrusted) == len(reused), (reused, right_after)
    # the killed run placed its snapshot: a run at the same hour has nothing to do (and
    # leaves the mark); a verify then must not trust the old records either
    _run(world, at="+2h", births=births, code=0)
    assert world.info_log.splitlines()[-1].endswith("nothing due"), world.info_log
    assert_no_wrong_checksum(world.dest, "after a run with nothing due", births=False)
    _verify_finds_nothing(world, "a verify while the mark is there", births=births)
    assert_no_wrong_checksum(world.dest, "after that verify", births=False)
    weak = len(records(world.dest)[0])
    _run(world, at="+3h", births=births, code=0)
    assert f"dropped {weak} checksums after an interrupted run" in world.info_log, world.info_log
    after = assert_no_wrong_checksum(world.dest, "after the next run that was due", births=False)
    assert not after.marked and not after.distrusted, after
    _verify_finds_nothing(world, "a verify after that run", births=births)
    assert unrecorded(world.dest, births=False) == []
    assert_no_wrong_checksum(world.dest, "after the verify", births=False)


@needs_root("mounts an ext4 image as the backup disk")
@pytest.mark.parametrize("birthless", ["real"], indirect=True, ids=["ext4 with 128-byte inodes"])
def test_a_reused_inode_number_on_a_disk_without_birth_times_in_a_run_that_finishes(birthless):
    """(c), no kill: a run that writes a file under a freed number whose old record matches
    it (same size and mtime, no birth time) must record the new file's checksum, not keep
    the old one."""
    world, births = birthless
    _run(world, at="+0h", births=births, code=0)
    freed = _replace_reusing_numbers(world, births, "a", "b", 1)
    _run(world, at="+2h", births=births, code=0)
    reused = _reused_with_old_records(world, "b", freed)
    assert reused, "no new file got a freed number"
    assert_no_wrong_checksum(world.dest, f"after a run that wrote {reused} under freed numbers",
                             births=False)
    _verify_finds_nothing(world, "a verify after it", births=births)


@needs_root("mounts an ext4 image as the backup disk")
@pytest.mark.parametrize("birthless", ["patched"], indirect=True, ids=["statx patched"])
def test_verify_source_after_a_run_killed_before_recording_on_a_disk_without_birth_times(birthless):
    """(c): `vhpi verify --source` right after the kill of the first test above must not
    call the new files damaged."""
    world, births = birthless
    _run(world, at="+0h", births=births, code=0)
    freed = _replace_reusing_numbers(world, births, "a", "b", 1)
    code, _ = _run(world, at="+2h", births=births, env={"VHPI_CRASH_AT": "placed"})
    assert code == -9 and _reused_with_old_records(world, "b", freed), "no new file got a freed number"
    code, text = _run(world, "verify", "--source", "--all", at="+0d", births=births)
    if code != 0:
        raise FalseAlarm(f"vhpi verify --source exit {code}:\n{text[:2000]}")


# ---------------------------------------------------------------- (d) power cuts

#: `python -c` that runs vhpi stopping itself (SIGSTOP) right before or right after the
#: commit of a backup run's checksums (CUT_AROUND_COMMIT=before|after): the commit is not
#: synced (WAL, synchronous=NORMAL), so a power cut after it may lose it.
STOP_AROUND_COMMIT = """
import os, signal, sys
import vhpi.act.content_index as content_index
finish, when = content_index.finish_adding, os.environ["CUT_AROUND_COMMIT"]
def stopping(index):
    if when == "before":
        os.kill(os.getpid(), signal.SIGSTOP)
    finish(index)
    if when == "after":
        os.kill(os.getpid(), signal.SIGSTOP)
content_index.finish_adding = stopping
from vhpi.main import main
sys.exit(main(sys.argv[1:]))
"""
#: Where a run is cut: in the recording, before and after its commit; right after it.
CUTS = ("before", "after", "checksums-recorded:1")


def _stopped(world, trials: Trials, point: str):
    """Start the trial's run so that it stops itself at `point` (a checkpoint, or "before"
    or "after" the checksums' commit); return the process once it is stopped."""
    if ":" in point:
        process = start_vhpi(world, at=trials.at, env={"VHPI_PAUSE_AT": point})
    else:
        process = start_vhpi(world, at=trials.at, env={"CUT_AROUND_COMMIT": point},
                             script=STOP_AROUND_COMMIT)
    deadline = time.monotonic() + 60
    while process_state(process.pid) != "T":
        assert process.poll() is None, f"vhpi ended before {point}: {world.info_log[-2000:]}"
        assert time.monotonic() < deadline, f"vhpi never stopped at {point}"
        time.sleep(0.002)
    return process


@needs_root("loop devices and a FUSE daemon for the disk that loses unflushed writes")
def test_power_cuts_around_the_recording_of_checksums(world, campaign, power_cut_disk):  # noqa: F811
    """(d): the disk loses every write no flush reached, inside a run's recording (before
    and after its commit) and right after it; after the remount and the next run no
    record is wrong, and verify finds nothing damaged."""
    usb = world.root / "usb"
    usb.mkdir()
    disk = power_cut_disk(size_mib=160, mountpoint=usb)  # room to recycle: 64 MiB free
    world.dest = usb / "backup"
    world.dest.mkdir()
    (world.dest / ".backup_destination").write_text("")
    write_config(world, intervals={"hourly": 3600}, snapshots={"hourly": 1})
    trials = Trials(world, campaign)
    trials.next()
    trials.finished("the first run")
    lossy = []
    for point in CUTS:
        trials.next()
        process = _stopped(world, trials, point)
        try:
            disk.cut()
        finally:
            kill_group(process)
        _wait_unlocked(world)
        disk.detach()
        lossy.append((point, disk.last_stats.get("blocks dropped"), disk.last_stats.get("writes after cut")))
        disk.remount(usb)
        campaign.add("power cuts")
        trials.check(f"right after a power cut at {point}")
        trials.finished(f"the run after a power cut at {point}")
        code, output = disk.fsck()
        assert code == 0, f"e2fsck -fn after a power cut at {point}:\n{output}"
        disk.start()
    assert sum(1 for _, dropped, after in lossy if dropped or after) >= 2, \
        f"the cuts lost no unflushed write: no power cut (point, blocks dropped, writes after): {lossy}"
    _verify_finds_nothing(world, "the verify after the power cuts")
    assert unrecorded(world.dest) == []
