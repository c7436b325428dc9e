"""Real power cuts: unflushed writes are lost. kill -9 keeps the page cache (everything
written reaches the disk later), a power cut does not. The backup disk here is ext4 on a
loop device over a file that a FUSE daemon makes durable only when a flush reaches it
(tests/fault/power_cut_disk.py: the loop driver passes fsync, sync and journal commits
down as flushes). A cut freezes the durable image at its last flush; the test then kills
vhpi, mounts the image again (ext4 replays its journal), checks the snapshots as after any
crash, lets the next run finish the work, checks every invariant of tests/fault/invariants
and runs `e2fsck -fn` on the image.

Cut at each checkpoint of a rotating run (the recycle path, and the cp -al path on a disk
with little room), at several occurrences of the repeated ones, and at random instants.
vhpi's own folder (HOME) is on another disk (the SD card) and is not cut here."""

import random
import time

import pytest

from tests.conftest import needs_root
from tests.fault.crash_world import CrashWorld
from tests.fault.fault_helpers import paused_vhpi
from tests.fault.power_cut_disk import power_cut_disk  # noqa: F401  (a fixture)
from tests.integration.helpers import kill_group, start_vhpi

pytestmark = needs_root("loop devices and a FUSE daemon for the disk that loses unflushed writes")

#: Where a rotating run is cut: every checkpoint, with the occurrences that matter.
POINTS = ("locked:1", "recovered:1", "rsync-started:1", "rsync-line:5", "rsync-done:1",
          "unlinked:1", "rsync-started:2", "rsync-done:2", "copied:1", "dropped:1",
          "linked:1", "ready:1", "renamed:1", "state-written:1", "placed:1", "dropped:2",
          "ready:2", "placed:2", "ready:3", "renamed:3", "state-written:3", "placed:3",
          "job-done:1")
#: On a disk with too little room to recycle, the cp -al path.
LINK_PATH_POINTS = ("cp-started:1", "linked:1", "ready:1", "dropped:1", "placed:1",
                    "cp-started:3", "ready:3", "placed:3")
RANDOM_CUTS = 8


class CutWorld:
    """A CrashWorld whose destination is a folder on a PowerCutDisk mounted at `usb`."""

    def __init__(self, world, campaign, disk, usb):
        self.world, self.campaign, self.disk, self.usb = world, campaign, disk, usb
        self.lossy_cuts = 0  # cuts that threw away writes no flush had reached yet
        world.dest = usb / "backup"
        world.dest.mkdir()
        (world.dest / ".backup_destination").write_text("")
        self.cw = CrashWorld(world, campaign)

    def _recover(self, note: str) -> None:
        """After a cut: mount the durable image again, check it as a crash left it, run
        vhpi to the end, check everything, fsck, and serve the image through FUSE again."""
        self.disk.detach()
        lost = self.disk.last_stats
        self.lossy_cuts += bool(lost.get("blocks dropped") or lost.get("writes after cut"))
        self.disk.remount(self.usb)
        self.campaign.add("power cuts")
        self.cw.check(f"right after {note}", mode="crashed")
        self.cw.normal_run(f"the run after {note}")
        code, output = self.disk.fsck()
        assert code == 0, f"e2fsck -fn after {note}:\n{output}"
        self.disk.start()

    def _cut(self) -> None:
        self.disk.cut()

    def cut_at(self, point: str) -> None:
        """One trial: a new source state, a run cut at checkpoint `point`, the recovery."""
        self.cw.next_state()
        with paused_vhpi(self.world, point, at=self.cw.offset) as run:
            self._cut()
            run.kill()
        self._recover(f"a power cut at {point}")

    def cut_after(self, delay: float) -> None:
        """One trial: a new source state, a run cut `delay` seconds after it started."""
        self.cw.next_state()
        process = start_vhpi(self.world, at=self.cw.offset)
        try:
            time.sleep(delay)
            self._cut()
        finally:
            kill_group(process)
        self._recover(f"a power cut {delay:.2f} s into a run")


def _cut_world(world, campaign, power_cut_disk, size_mib: int) -> CutWorld:  # noqa: F811
    usb = world.root / "usb"
    usb.mkdir()
    disk = power_cut_disk(size_mib=size_mib, mountpoint=usb)
    cut = CutWorld(world, campaign, disk, usb)
    cut.cw.fill(3)
    return cut


def test_power_cuts_at_every_checkpoint(world, campaign, power_cut_disk):  # noqa: F811
    cut = _cut_world(world, campaign, power_cut_disk, size_mib=160)
    for point in POINTS:
        cut.cut_at(point)
    assert cut.lossy_cuts >= len(POINTS) // 3, "the cuts lost no unflushed write: no power cut"


def test_power_cuts_on_the_cp_al_path(world, campaign, power_cut_disk):  # noqa: F811
    cut = _cut_world(world, campaign, power_cut_disk, size_mib=40)
    for point in LINK_PATH_POINTS:
        cut.cut_at(point)


@pytest.mark.slow
def test_power_cuts_at_random_instants(world, campaign, power_cut_disk):  # noqa: F811
    cut = _cut_world(world, campaign, power_cut_disk, size_mib=160)
    started = time.monotonic()
    cut.cw.next_state()
    cut.cw.normal_run("a run to time")
    length = time.monotonic() - started
    chance = random.Random(20261201)
    for _ in range(RANDOM_CUTS):
        cut.cut_after(chance.uniform(0.05, length))
