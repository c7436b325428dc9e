"""`vhpi du`: real snapshots, real hard links; figures checked against st_blocks sums
computed here and against GNU du, which counts a hard-linked inode once across all its
arguments (so, given the snapshots oldest first, its figure per argument is vhpi's `new`)."""

from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

import yaml

from tests.integration.helpers import vhpi, walk, write_files

OLD, NEW = 1_700_000_000, 1_700_000_600


def du_json(world, *args: str) -> dict:
    return json.loads(vhpi(world, "du", *args, "--json", code=0).stdout)


def gnu_du(paths: List[Path]) -> List[int]:
    """GNU du's bytes for each path in order, hard links counted once across them all."""
    out = subprocess.run(["du", "-s", "-B1", *map(str, paths)], capture_output=True, text=True,
                         check=True).stdout
    return [int(line.split("\t")[0]) for line in out.splitlines()]


def own_by_hand(roots: List[Path]) -> List[int]:
    """Each tree's folder blocks plus the blocks of the inodes whose every link is in it."""
    own = [0] * len(roots)
    names: Dict[tuple, Dict[int, int]] = defaultdict(lambda: defaultdict(int))
    facts = {}
    for index, root in enumerate(roots):
        for folder, folders, files in walk(os.fsencode(root)):
            own[index] += os.lstat(folder).st_blocks * 512
            for name in files + [f for f in folders if os.path.islink(os.path.join(folder, f))]:
                st = os.lstat(os.path.join(folder, name))
                key = (st.st_dev, st.st_ino)
                names[key][index] += 1
                facts[key] = (st.st_nlink, st.st_blocks * 512)
    for key, per_tree in names.items():
        links, blocks = facts[key]
        if len(per_tree) == 1 and sum(per_tree.values()) == links:
            own[next(iter(per_tree))] += blocks
    return own


def busy_history(world) -> None:
    """Four runs two hours apart: big and small files, edits, deletions, a folder and a
    file swapping kinds, and files hard-linked inside the source."""
    write_files(world.source, {"big.bin": os.urandom(300_000), "small.txt": "s",
                               "keep/a.bin": os.urandom(50_000), "keep/b.txt": "b" * 5000,
                               "gone-later.bin": os.urandom(70_000), "swap": "a file"}, mtime=OLD)
    os.link(world.source / "keep/a.bin", world.source / "a-link.bin")
    vhpi(world, code=0)
    write_files(world.source, {"big.bin": os.urandom(310_000), "added.bin": os.urandom(20_000)},
                mtime=NEW)
    vhpi(world, at="+2h", code=0)
    (world.source / "gone-later.bin").unlink()
    (world.source / "swap").unlink()
    write_files(world.source, {"swap/inside.bin": os.urandom(9000)})
    os.link(world.source / "added.bin", world.source / "keep/added-link.bin")
    vhpi(world, at="+4h", code=0)
    write_files(world.source, {"small.txt": "S" * 40_000}, mtime=NEW + 60)
    vhpi(world, at="+6h", code=0)


def snapshot_paths(world, figures: dict) -> List[Path]:
    return [world.dest / snapshot["name"] for snapshot in figures["snapshots"]]


def test_new_and_total_agree_with_gnu_du_and_own_with_st_blocks(world):
    busy_history(world)
    write_files(world.source, {"after-last-run.bin": os.urandom(30_000)})
    figures = du_json(world)["jobs"][0]
    names = [snapshot["name"] for snapshot in figures["snapshots"]]
    assert names == ["daily.0", "hourly.2", "hourly.1", "hourly.0", "backup.latest"]
    times = [s["taken_at"] for s in figures["snapshots"][:-1]]
    assert all(t is not None for t in times) and times == sorted(times)

    paths = snapshot_paths(world, figures)
    assert [s["new"] for s in figures["snapshots"]] == gnu_du(paths)
    assert figures["total"] == sum(gnu_du(paths))
    assert [s["own"] for s in figures["snapshots"]] == own_by_hand(paths)
    assert figures["complete"] is True and figures["linked_elsewhere"] == 0


def test_what_only_one_snapshot_holds_is_its_own(world):
    """hourly.1 alone holds the first big.bin (hourly.0 has the new one): it is hourly.1's
    own; shared.bin, in both, is nobody's own and new in hourly.1, the older."""
    world.write_config(snapshots={"hourly": 3})
    write_files(world.source, {"big.bin": os.urandom(200_000), "shared.bin": os.urandom(100_000)},
                mtime=OLD)
    vhpi(world, code=0)
    write_files(world.source, {"big.bin": os.urandom(200_000)}, mtime=NEW)
    vhpi(world, at="+2h", code=0)
    old, new = world.dest / "hourly.1", world.dest / "hourly.0"
    assert os.lstat(old / "big.bin").st_ino != os.lstat(new / "big.bin").st_ino
    assert os.lstat(old / "shared.bin").st_ino == os.lstat(new / "shared.bin").st_ino

    def blocks(path: Path) -> int:
        return os.lstat(path).st_blocks * 512

    by_name = {s["name"]: s for s in du_json(world)["jobs"][0]["snapshots"]}
    assert list(by_name) == ["hourly.1", "hourly.0", "backup.latest"]
    assert by_name["hourly.1"]["own"] == blocks(old) + blocks(old / "big.bin")
    assert by_name["hourly.1"]["new"] == blocks(old) + blocks(old / "big.bin") + blocks(old / "shared.bin")
    # hourly.0 and backup.latest share the new big.bin: it is new in hourly.0, nobody's own
    assert by_name["hourly.0"]["own"] == blocks(new)
    assert by_name["hourly.0"]["new"] == blocks(new) + blocks(new / "big.bin")
    latest = world.dest / "backup.latest"
    assert by_name["backup.latest"]["own"] == by_name["backup.latest"]["new"] == blocks(latest)


def test_a_link_outside_the_snapshots_makes_a_file_no_ones_own(world):
    write_files(world.source, {"linked.bin": os.urandom(64_000), "alone.bin": os.urandom(8000)})
    vhpi(world, code=0)
    latest = world.dest / "backup.latest"
    os.link(world.dest / "hourly.0" / "linked.bin", world.root / "elsewhere.bin")
    # make hourly.0 the only holder of linked.bin among the snapshots
    os.unlink(latest / "linked.bin")
    os.unlink(world.dest / "daily.0" / "linked.bin")
    figures = du_json(world)["jobs"][0]
    blocks = os.lstat(world.root / "elsewhere.bin").st_blocks * 512
    assert figures["linked_elsewhere"] == blocks
    paths = snapshot_paths(world, figures)
    assert [s["own"] for s in figures["snapshots"]] == own_by_hand(paths)
    assert [s["new"] for s in figures["snapshots"]] == gnu_du(paths)


def test_the_table_lists_oldest_first_with_a_total(world):
    busy_history(world)
    result = vhpi(world, "du", code=0)
    lines = result.stdout.splitlines()
    assert lines[0] == f"job {world.dest.name}: {world.dest}"
    assert lines[1].split() == ["snapshot", "taken", "own", "new"]
    assert [line.split()[0] for line in lines[2:7]] == [
        "daily.0", "hourly.2", "hourly.1", "hourly.0", "backup.latest"]
    total = du_json(world)["jobs"][0]["total"]
    from vhpi.decide.units import human_bytes
    assert lines[7].split() == ["total", *human_bytes(total).split()]
    assert lines[6].split()[1] == "-"          # backup.latest has no time of its own


def test_every_job_or_one_by_name(world):
    other = world.root / "other-dest"
    other.mkdir()
    (other / ".backup_destination").write_text("")
    jobs = [{"name": name, "source_ip": "127.0.0.1", "rsync_src": str(world.source),
             "rsync_dest": str(dest), "snapshots": {"hourly": 3}}
            for name, dest in (("first", world.dest), ("second", other))]
    world.config.write_text(yaml.safe_dump({"app_cfg": {"intervals": {"hourly": 3600}},
                                            "jobs_cfg": jobs}))
    write_files(world.source, {"a.bin": os.urandom(10_000)})
    vhpi(world, code=0)
    assert [job["job"] for job in du_json(world)["jobs"]] == ["first", "second"]
    assert [job["job"] for job in du_json(world, "second")["jobs"]] == ["second"]
    result = vhpi(world, "du", "third", code=1)
    assert "third" in result.stderr and "first, second" in result.stderr
    text = vhpi(world, "du", code=0).stdout
    assert "job first:" in text and "job second:" in text


def test_a_destination_without_snapshots(world):
    result = vhpi(world, "du", code=0)
    assert result.stdout.splitlines() == [f"job {world.dest.name}: {world.dest}", "  no snapshots"]
    assert du_json(world)["jobs"][0]["snapshots"] == []


def test_only_files_linked_at_other_paths_are_remembered(world):
    """The ledger keeps nothing for files linked path to path from snapshot to snapshot,
    and at most the source's own hard-linked files while it waits for their other names."""
    from vhpi.act.inventory import list_snapshots
    from vhpi.act.tree_walk import measure_trees
    from vhpi.decide.space_share import SpaceLedger, oldest_first
    from vhpi.main import load_config

    write_files(world.source, {f"f{n}.txt": f"file {n}" for n in range(200)})
    vhpi(world, code=0)
    vhpi(world, at="+2h", code=0)

    def peak() -> int:
        config = load_config(str(world.config))
        job = config.jobs[0]
        snapshots = oldest_first(list_snapshots(job, config.intervals), config.intervals)
        ledger = SpaceLedger(len(snapshots))
        measure_trees([os.fsencode(s.path) for s in snapshots], ledger)
        ledger.finish()
        return ledger.peak_pending

    assert peak() == 0
    for n in range(5):
        os.link(world.source / f"f{n}.txt", world.source / f"z-link{n}.txt")
    vhpi(world, at="+4h", code=0)
    assert 1 <= peak() <= 5
