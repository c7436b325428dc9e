"""The scrub (scrub_every), run for real: steps after real backup runs at faked times, the
cycle's state read back from DEST/.vhpi/scrub.json, bitrot made by flipping a byte."""

from __future__ import annotations

import json
import os

import yaml

from tests.conftest import World
from tests.integration.helpers import second_job, vhpi, write_config, write_files
from tests.integration.test_cmd_verify import flip_a_byte, inodes

MIB = 1 << 20
OLD = 1_600_000_000
THIRTY_DAYS = 30 * 86400


def scrub_state(world) -> dict:
    return json.loads((world.dest / ".vhpi" / "scrub.json").read_text())


def _big_world(tmp_path) -> World:
    """Three 40 MiB files (more than one step's least 64 MiB) and a few small ones."""
    world = World(tmp_path)
    write_config(world, name="home", scrub_every=THIRTY_DAYS)
    write_files(world.source, {f"big/{n}.bin": os.urandom(40 * MIB) for n in range(3)}, mtime=OLD)
    write_files(world.source, {"small/a.txt": "a\n" * 100, "small/b.txt": "b\n" * 100}, mtime=OLD)
    return world


def test_a_cycle_goes_in_steps_resumes_after_a_rotation_and_finds_bitrot(tmp_path):
    world = _big_world(tmp_path)
    vhpi(world, code=0)
    first = scrub_state(world)
    total = sum(size for _, size, _ in inodes(world).values())
    assert first["indexed"] and first["total"] == total
    assert 64 * MIB <= first["done"] < total and first["finished"] is None
    assert "this cycle" in vhpi(world, "status", code=0).stdout

    unread = max((number for number in inodes(world) if number > first["cursor"]))
    path = next(world.dest / name for _, _, names in [inodes(world)[unread]] for name in names
                if name.startswith("hourly.0/"))
    flip_a_byte(path)
    result = vhpi(world, at="+1h", code=1)  # a new hourly.0: the listed snapshots were renamed

    second = scrub_state(world)
    assert second["finished"] is not None and second["done"] == total
    assert second["damaged"] and second["damaged"][0].endswith(path.name)
    assert "ERROR   job home: DAMAGED: the scrub found 1 damaged file(s)" in world.info_log
    assert "DAMAGED" in result.stderr  # what cron mails
    status = json.loads(vhpi(world, "status", "--json", code=1).stdout)["jobs"][0]["verify"]
    assert status["last_full"]["by"] == "scrub" and status["last_full"]["damaged"] == 1
    assert not (world.dest / ".vhpi" / "scrub-listing.sqlite3").exists()


def test_a_finished_cycle_waits_for_its_period_then_starts_again(tmp_path):
    world = World(tmp_path)
    write_config(world, name="home", scrub_every=86400)
    write_files(world.source, {"a.txt": "a\n" * 1000}, mtime=OLD)
    vhpi(world, code=0)
    done = scrub_state(world)
    assert done["finished"] is not None

    vhpi(world, at="+2h", code=0)
    assert scrub_state(world)["started"] == done["started"]  # within the period: no step
    vhpi(world, at="+25h", code=0)
    assert scrub_state(world)["started"] > done["started"] + 86400


def test_the_scrub_comes_after_every_job_and_none_runs_without_scrub_every(tmp_path):
    world = World(tmp_path)
    write_files(world.source, {"a.txt": "a\n" * 1000}, mtime=OLD)
    source, dest = second_job(world, files={"b.txt": "b\n" * 1000})
    keep = {"hourly": 3}
    world.config.write_text(yaml.safe_dump({
        "app_cfg": {"intervals": {"hourly": 3600}},
        "jobs_cfg": [{"name": "home", "source_ip": "127.0.0.1", "rsync_src": str(world.source),
                      "rsync_dest": str(world.dest), "snapshots": keep, "scrub_every": 86400},
                     {"name": "other", "source_ip": "127.0.0.1", "rsync_src": str(source),
                      "rsync_dest": str(dest), "snapshots": keep}]}))
    vhpi(world, code=0)
    lines = [line for line in world.info_log.splitlines() if "job " in line]
    assert len(lines) == 3 and "job home: scrub:" in lines[2] and "job other:" in lines[1]
    assert scrub_state(world)["finished"] is not None
    assert not (dest / ".vhpi" / "scrub.json").exists()


def test_the_scrub_step_runs_at_idle_priority_after_the_jobs_and_before_the_run_hook(tmp_path):
    world = World(tmp_path)
    nice = tmp_path / "nice.txt"
    write_files(world.source, {"a.txt": "a\n" * 1000}, mtime=OLD)
    world.config.write_text(yaml.safe_dump({
        "app_cfg": {"intervals": {"hourly": 3600},
                    "hooks": {"after_success": f"cut -d' ' -f19 /proc/self/stat > {nice}",
                              "after_failure": f"echo failed > {nice}"}},
        "jobs_cfg": [{"name": "home", "source_ip": "127.0.0.1", "rsync_src": str(world.source),
                      "rsync_dest": str(world.dest), "snapshots": {"hourly": 3}, "scrub_every": 86400}]}))
    vhpi(world, code=0)
    assert nice.read_text().strip() == "19"
    assert scrub_state(world)["finished"] is not None
