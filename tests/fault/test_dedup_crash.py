"""The crash campaign for `vhpi dedup`: a power cut (SIGKILL of vhpi's process group) at
every checkpoint of its link batches (vhpi.act.dedup_links.DEDUP_CHECKPOINTS), at several
occurrences, and at random instants. After each:

* no snapshot lost or changed a file: every name is there with its content, mode, owner,
  size and mtime (inodes and link counts may differ: that is dedup's work);
* once the repair a backup run calls (repair_after_dedup) has run, every folder has its
  mtime back too, and no temporary name or journal is left;
* a following dedup finishes the job: every copy of the video is one inode, and nothing of
  any snapshot differs from before the first dedup.
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from tests.integration.helpers import start_vhpi, vhpi, wait_or_kill_group
from tests.integration.test_cmd_dedup import (AT, assert_same_view, snapshot_view, two_jobs,
                                              video_inodes)
from vhpi.act.dedup_links import DEDUP_CHECKPOINTS
from vhpi.act.dedup_repair import repair_after_dedup

_ = two_jobs  # the fixture
LATER = "2026-03-02 11:30:00"

#: How often one dedup of the two_jobs world reaches each checkpoint, and the occurrences
#: the campaign crashes at: 3 candidate inodes hashed; one batch re-pointing 6 names.
REACHED = {
    "dedup-hashed": (3, (1, 3)),
    "dedup-journaled": (1, (1,)),
    "dedup-temp-linked": (6, (1, 4, 6)),
    "dedup-renamed": (6, (1, 3, 6)),
    "dedup-times-restored": (1, (1,)),
    "dedup-batch-done": (1, (1,)),
}
CRASHES = [f"{name}:{n}" for name, (_, occurrences) in REACHED.items() for n in occurrences]


def without_folder_times(view: dict) -> dict:
    """The view with folders' mtimes left out (a crash between a rename and the times put
    back may leave one moved, until the repair)."""
    return {path: entry if entry[0] != 0o040000 else entry[:5] for path, entry in view.items()}


def views(world) -> list:
    return [snapshot_view(world.dest), snapshot_view(world.other_dest)]


def leftovers(world) -> list:
    return [name for dest in (world.dest, world.other_dest) for name in os.listdir(dest / ".vhpi")
            if name.startswith("dedup")]


def check_after_crash(world, before: list, campaign) -> None:
    """What must hold after a crash, after the repair, and after a following dedup."""
    for old, new in zip(before, views(world)):
        assert_same_view(without_folder_times(old), without_folder_times(new))
    for dest in (world.dest, world.other_dest):
        repair_after_dedup(str(dest))
    for old, new in zip(before, views(world)):
        assert_same_view(old, new)
    assert [name for name in leftovers(world) if name != "dedup-listing.sqlite3"] == []
    vhpi(world, "dedup", at=LATER, code=0)
    for old, new in zip(before, views(world)):
        assert_same_view(old, new)
    assert len(video_inodes(world)) == 1
    assert leftovers(world) == []
    campaign.add("snapshots checked", len(os.listdir(world.dest)) + len(os.listdir(world.other_dest)))


def test_the_campaign_covers_every_dedup_checkpoint():
    assert set(REACHED) == set(DEDUP_CHECKPOINTS), "a dedup checkpoint was added or renamed"


@pytest.mark.parametrize("crash_at", CRASHES)
def test_crash_at_every_checkpoint_of_dedup(two_jobs, campaign, crash_at):
    world = two_jobs
    before = views(world)
    process = start_vhpi(world, "dedup", at=LATER, env={"VHPI_CRASH_AT": crash_at})
    assert wait_or_kill_group(process) == -signal.SIGKILL, f"{crash_at} was not reached"
    campaign.add("crash points")
    campaign.add("crash trials")
    check_after_crash(world, before, campaign)


def test_a_crash_after_the_last_checkpoint_is_not_reached(two_jobs):
    """The counts in REACHED are exact: one more occurrence is never reached."""
    world = two_jobs
    name, (reached, _) = "dedup-renamed", REACHED["dedup-renamed"]
    process = start_vhpi(world, "dedup", at=LATER, env={"VHPI_CRASH_AT": f"{name}:{reached + 1}"})
    assert wait_or_kill_group(process) == 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_kill_dedup_at_random_instants(two_jobs, campaign, seed):
    world = two_jobs
    before = views(world)
    chance = random.Random(seed)
    process = start_vhpi(world, "dedup", at=LATER)
    time.sleep(chance.uniform(0.05, 0.6))
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
    campaign.add("random-instant kills")
    check_after_crash(world, before, campaign)


def test_dedup_repairs_what_a_killed_batch_left_before_it_links_again(two_jobs, campaign):
    """A crash right after a rename leaves a folder's mtime moved and the journal; the next
    dedup (no repair by hand) puts it right before its own batch."""
    world = two_jobs
    before = views(world)
    process = start_vhpi(world, "dedup", at=LATER, env={"VHPI_CRASH_AT": "dedup-renamed:2"})
    assert wait_or_kill_group(process) == -signal.SIGKILL
    assert "dedup-journal.json" in leftovers(world)
    vhpi(world, "dedup", at=LATER, code=0)
    for old, new in zip(before, views(world)):
        assert_same_view(old, new)
    assert leftovers(world) == [] and len(video_inodes(world)) == 1
    _ = AT
