"""`vhpi versions JOB PATH [--json]` and `vhpi restore JOB vN PATH`, run for real: snapshots
made by real vhpi runs at faked times, real rsync, real hard links. The versions are checked
against the snapshots' own inodes, and every test checks that the destination is exactly as
it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections import OrderedDict

import pytest
import yaml

from tests.conftest import World
from tests.integration.helpers import (assert_same_listing, ino, listing, read, vhpi, write_config,
                                       write_files)

OLD = 1_600_000_000
FILES = {"docs/a.txt": "one\n", "docs/b.txt": "bee\n", "docs/sub/c.txt": "sea\n"}


def _history(world: World) -> World:
    """Runs at +0 (daily.1), +2h (a.txt rewritten), +4h (nothing changed) and +26h (a.txt
    made 0600): docs/a.txt has three versions, docs/b.txt one."""
    write_config(world, name="home")
    write_files(world.source, FILES, mtime=OLD)
    vhpi(world, code=0)
    write_files(world.source, {"docs/a.txt": "two!\n"}, mtime=OLD + 60)
    vhpi(world, at="+2h", code=0)
    vhpi(world, at="+4h", code=0)
    os.chmod(world.source / "docs/a.txt", 0o600)
    vhpi(world, at="+26h", code=0)
    return world


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """One history for the tests that only read it."""
    return _history(World(tmp_path_factory.mktemp("versions")))


def versions_json(world, *args, code=0) -> dict:
    return json.loads(vhpi(world, "versions", *args, "--json", code=code).stdout)


def by_inode(world, path: str) -> "OrderedDict[int, list]":
    """{inode: [snapshot names]} of `path` in the snapshots, oldest first by vhpi list's times."""
    listed = json.loads(vhpi(world, "list", "--json", code=0).stdout)["snapshots"]
    groups: "OrderedDict[int, list]" = OrderedDict()
    for snapshot in sorted((s for s in listed if s["interval"]), key=lambda s: (s["taken_at"], s["name"])):
        groups.setdefault(ino(os.path.join(snapshot["path"], path)), []).append(snapshot["name"])
    return groups


# ---------------------------------------------------------------- listing versions

def test_each_inode_is_a_version_oldest_first(history):
    world = history
    before = listing(world.dest)
    data = versions_json(world, "home", "docs/a.txt")

    assert data["job"] == "home" and data["path"] == "docs/a.txt"
    groups = by_inode(world, "docs/a.txt")
    assert len(groups) == 3
    assert [v["version"] for v in data["versions"]] == ["v1", "v2", "v3"]
    assert [sorted(v["snapshots"]) for v in data["versions"]] == [sorted(g) for g in groups.values()]
    v1, v2, v3 = data["versions"]
    assert v1["snapshots"] == ["daily.1"] and v1["size"] == 4 and v1["mode"] == "0644"
    assert v2["size"] == 5 and v3["size"] == 5 and v3["mode"] == "0600"
    assert v2["mtime"] == v3["mtime"] and v1["mtime"] < v2["mtime"]
    assert v1["backed_up"] < v2["backed_up"] < v2["last_backed_up"] < v3["backed_up"]
    assert v3["last"] in ("hourly.0", "daily.0") and all(v["kind"] == "file" for v in data["versions"])
    assert_same_listing(before, listing(world.dest))


def test_the_table_names_first_and_last_snapshot_with_their_times(history):
    world = history
    listed = {s["name"]: s for s in json.loads(vhpi(world, "list", "--json", code=0).stdout)["snapshots"]}
    lines = vhpi(world, "versions", "home", "/docs/a.txt", code=0).stdout.splitlines()

    assert lines[0] == "job home: docs/a.txt: 3 versions in 5 snapshots, oldest first"
    assert lines[1].split()[:5] == ["version", "what", "size", "modified", "change"]
    rows = [line.split() for line in lines[2:5]]
    assert [row[0] for row in rows] == ["v1", "v2", "v3"]
    # version, what, size (2 words), modified (2), change, snapshots, first (3), last (3)
    assert [row[6] for row in rows] == ["first", "content", "mode"]
    assert [row[7] for row in rows] == ["1", "2", "2"]
    assert [row[8] for row in rows] == ["daily.1", "hourly.2", "hourly.0"]
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(listed["hourly.2"]["taken_at"]))
    assert f"hourly.2  {when}" in lines[3]
    assert lines[-1] == "restore one with: vhpi restore home v3 docs/a.txt [--to DIR]"


def test_an_unchanged_file_is_one_version_in_every_snapshot(history):
    data = versions_json(history, "home", "docs/b.txt")
    (only,) = data["versions"]
    assert len(only["snapshots"]) == 5 == data["snapshots_looked_at"]
    assert len(by_inode(history, "docs/b.txt")) == 1


def test_a_folder_is_compared_as_a_tree(history):
    data = versions_json(history, "home", "docs")
    assert [v["kind"] for v in data["versions"]] == ["folder"] * 3
    assert [(v["files"], v["size"]) for v in data["versions"]] == [(3, 12), (3, 13), (3, 13)]
    assert [len(v["snapshots"]) for v in data["versions"]] == [1, 2, 2]
    sub = versions_json(history, "home", "docs/sub")  # nothing below it changed
    assert len(sub["versions"]) == 1 and sub["versions"][0]["folders"] == 1


def test_wrong_names_get_clear_messages(history):
    world = history
    absent = vhpi(world, "versions", "home", "docs/nothing.txt", code=1)
    assert absent.stderr == ("vhpi versions: docs/nothing.txt is in none of the 5 snapshots of "
                             "job home (PATH is relative to the snapshot, as in the source: see "
                             "vhpi list home)\n") and absent.stdout == ""
    job = vhpi(world, "versions", "work", "docs", code=2)
    assert "no job 'work'" in job.stderr and "the jobs are: home" in job.stderr
    for path in ("../dest/hourly.0", "docs/../..", "/"):
        result = vhpi(world, "versions", "home", path, code=2)
        assert result.stdout == "" and result.stderr.startswith("vhpi versions: PATH ")


def test_paths_never_leave_the_snapshot(world):
    write_config(world, name="home")
    write_files(world.source, FILES, mtime=OLD)
    os.symlink("docs/sub", world.source / "inner")
    os.symlink("..", world.source / "up")
    os.symlink("/etc", world.source / "etc-link")
    vhpi(world, code=0)

    inner = versions_json(world, "home", "inner/c.txt")["versions"]
    assert inner[0]["snapshots"] == ["hourly.0", "daily.0"] and inner[0]["size"] == 4
    link = versions_json(world, "home", "etc-link")["versions"]
    assert link[0]["kind"] == "symlink" and link[0]["target"] == "/etc"
    for path in ("up/hourly.0/docs/a.txt", "etc-link/passwd", "up/.backup_destination"):
        result = vhpi(world, "versions", "home", path, code=1)
        assert "is in none of the 2 snapshots" in result.stderr, path


def test_an_unmounted_disk_is_said_so(world):
    write_config(world, name="home")
    write_files(world.source, FILES, mtime=OLD)
    vhpi(world, code=0)
    (world.dest / ".backup_destination").unlink()
    result = vhpi(world, "versions", "home", "docs", code=1)
    assert "the backup disk is probably not mounted" in result.stderr


def test_a_copy_with_the_same_content_and_metadata_is_the_same_version(world):
    """backup.latest's copy of a file made anew (as vhpi does at the hard-link limit): the
    next snapshots hold another inode with the same bytes, times, mode and owner."""
    write_config(world, name="home")
    write_files(world.source, FILES, mtime=OLD)
    vhpi(world, code=0)
    latest = world.dest / "backup.latest/docs/b.txt"
    subprocess.run(["cp", "-a", str(latest), f"{latest}.copy"], check=True)
    os.replace(f"{latest}.copy", latest)
    vhpi(world, at="+2h", code=0)
    assert len(by_inode(world, "docs/b.txt")) == 2

    (only,) = versions_json(world, "home", "docs/b.txt")["versions"]
    assert len(only["snapshots"]) == 3


# ---------------------------------------------------------------- two jobs on one disk

def test_two_jobs_sharing_a_disk_see_only_their_own_snapshots(world):
    other_source, other_dest = world.root / "source2", world.root / "dest2"
    other_source.mkdir()
    other_dest.mkdir()
    (other_source / ".backup_valid").write_text("")
    (other_dest / ".backup_destination").write_text("")
    jobs = [{"name": name, "source_ip": "127.0.0.1", "rsync_src": str(src), "rsync_dest": str(dest),
             "snapshots": snapshots}
            for name, src, dest, snapshots in (("home", world.source, world.dest, {"hourly": 3}),
                                               ("work", other_source, other_dest, {"hourly": 3, "daily": 2}))]
    world.config.write_text(yaml.safe_dump({"app_cfg": {"intervals": {"hourly": 3600, "daily": 86400}},
                                            "jobs_cfg": jobs}))
    write_files(world.source, FILES, mtime=OLD)
    write_files(other_source, FILES, mtime=OLD)
    vhpi(world, code=0)
    write_files(other_source, {"docs/a.txt": "work's own\n"}, mtime=OLD + 5)
    vhpi(world, at="+2h", code=0)
    # the same inode in both jobs, as `vhpi dedup` would make it
    os.unlink(other_dest / "hourly.1/docs/b.txt")
    os.link(world.dest / "hourly.0/docs/b.txt", other_dest / "hourly.1/docs/b.txt")

    home = versions_json(world, "home", "docs/b.txt")
    work = versions_json(world, "work", "docs/a.txt")

    assert [v["snapshots"] for v in home["versions"]] == [["hourly.1", "hourly.0"]]
    assert home["snapshots_looked_at"] == 2
    assert [v["snapshots"] for v in work["versions"]] == [["hourly.1", "daily.0"], ["hourly.0"]]
    shared = versions_json(world, "work", "docs/b.txt")["versions"]
    assert sorted(name for v in shared for name in v["snapshots"]) == ["daily.0", "hourly.0", "hourly.1"]


# ---------------------------------------------------------------- restoring a version

def test_restore_takes_a_version_from_the_newest_snapshot_holding_it(history):
    world = history
    out = world.root / "out-restore"
    out.mkdir()
    before = listing(world.dest)
    v2 = versions_json(world, "home", "docs/a.txt")["versions"][1]

    result = vhpi(world, "restore", "home", "v2", "docs/a.txt", "--to", str(out), code=0)

    assert result.stdout.startswith(f"restored docs/a.txt from version v2 ({v2['last']}) of job "
                                     f"home, taken ")
    assert read(out / "a.txt") == "two!\n" and oct(os.lstat(out / "a.txt").st_mode)[-3:] == "644"
    assert ino(out / "a.txt") != ino(world.dest / v2["last"] / "docs/a.txt")
    vhpi(world, "restore", "home", "v1", "docs", "--to", str(out), code=0)
    assert read(out / "docs/a.txt") == "one\n" and read(out / "docs/sub/c.txt") == "sea\n"
    assert_same_listing(before, listing(world.dest))
    shutil.rmtree(out)


def test_restore_of_a_version_that_is_not_there(history):
    world = history
    missing = vhpi(world, "restore", "home", "v4", "docs/a.txt", "--to", str(world.root), code=2)
    assert missing.stderr == ("vhpi restore: no version v4 of docs/a.txt in job home: there are 3 "
                              "(v1 to v3); see vhpi versions home docs/a.txt\n")
    absent = vhpi(world, "restore", "home", "v1", "docs/zz", "--to", str(world.root), code=1)
    assert "docs/zz is in none of the 5 snapshots of job home" in absent.stderr
    dots = vhpi(world, "restore", "home", "v1", "../x", "--to", str(world.root), code=2)
    assert "'..'" in dots.stderr
    existing = vhpi(world, "restore", "home", "v1", "docs/a.txt", code=1)  # safety kept
    assert "already exists" in existing.stderr


def test_a_rotation_between_finding_the_version_and_restoring_it_is_caught(world, monkeypatch, capsys):
    """A backup run rotates the snapshots right after restore found v2 in hourly.0: the new
    hourly.0 holds another version, so restore must look again and take v2 from hourly.1."""
    import argparse

    import vhpi.actions.restore as restore_action
    from vhpi.main import load_config

    write_config(world, name="home")
    write_files(world.source, FILES, mtime=OLD)
    vhpi(world, code=0)
    write_files(world.source, {"docs/a.txt": "two!\n"}, mtime=OLD + 60)
    vhpi(world, at="+2h", code=0)
    real_find, calls = restore_action.find_versions, []

    def find_then_rotate(*args):
        found = real_find(*args)
        calls.append(found)
        if len(calls) == 1:  # what a backup run does, with docs/a.txt changed once more
            os.rename(world.dest / "hourly.1", world.dest / "hourly.2")
            os.rename(world.dest / "hourly.0", world.dest / "hourly.1")
            subprocess.run(["cp", "-al", str(world.dest / "hourly.1"), str(world.dest / "hourly.0")],
                           check=True)
            newest = world.dest / "hourly.0/docs/a.txt"
            newest.unlink()
            newest.write_text("three\n")
        return found

    monkeypatch.setattr(restore_action, "find_versions", find_then_rotate)
    out = world.root / "out"
    out.mkdir()
    arguments = argparse.Namespace(job="home", snapshot="v2", path="docs/a.txt", to=str(out),
                                   overwrite=False, unsafe=False)

    assert restore_action.run_restore(load_config(str(world.config)), arguments, str(world.home)) == 0

    assert [v.newest.snapshot.name for v in calls[0].versions] == ["daily.0", "hourly.0"]
    assert len(calls) == 2 and read(out / "a.txt") == "two!\n"
    assert "from version v2 (hourly.1)" in capsys.readouterr().out


def test_versions_look_again_when_the_snapshots_are_renamed_meanwhile(world, monkeypatch):
    import vhpi.act.version_lookup as lookup
    from vhpi.main import load_config

    write_config(world, name="home", snapshots={"hourly": 3})
    write_files(world.source, FILES, mtime=OLD)
    vhpi(world, code=0)
    real_look, looked = lookup.look_at, []

    def look_then_rotate(snapshot, parts):
        found = real_look(snapshot, parts)
        looked.append(snapshot.name)
        if len(looked) == 1:  # a run renames hourly.0 once it was looked at
            os.rename(world.dest / "hourly.0", world.dest / "hourly.1")
            subprocess.run(["cp", "-al", str(world.dest / "hourly.1"), str(world.dest / "hourly.0")],
                           check=True)
        return found

    monkeypatch.setattr(lookup, "look_at", look_then_rotate)
    config = load_config(str(world.config))
    found = lookup.find_versions(config.jobs[0], config.intervals, ("docs", "a.txt"))

    assert looked == ["hourly.0", "hourly.1", "hourly.0"]
    assert [[look.snapshot.name for look in v.looks] for v in found.versions] == [["hourly.1", "hourly.0"]]
