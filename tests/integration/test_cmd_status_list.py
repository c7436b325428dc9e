"""`vhpi status [--json]` and `vhpi list [JOB] [--json]` after real runs at faked times.

Snapshot times come from DEST/.vhpi/state.json ("made": inode of a snapshot's top folder ->
when it was taken), so they follow a snapshot through every rename; the last run comes from
~/.very_hungry_pi/last-runs.json, which runs that found nothing due leave alone. Both
commands only read: they change nothing in the destination or in vhpi's home."""

import json
import math
import os
import shutil
import subprocess
import time

import pytest
import yaml

from tests.integration.helpers import (NOBODY, assert_same_listing, describe, ino, job_line, listing,
                                       python_for_nobody, state, vhpi, write_config, write_files)
from vhpi.decide.units import format_moment, relative_moment

AS_NOBODY = (shutil.which("setpriv") or "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
             "--clear-groups")


def frozen_at(moment: float) -> str:
    """A libfaketime spec that stops the clock at local time `moment` (whole seconds)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


def run_records(world) -> dict:
    return json.loads((world.vhpi_home / "last-runs.json").read_text())


def list_json(world, *args, at=None, code=0, **kwargs) -> dict:
    return json.loads(vhpi(world, "list", *args, "--json", at=at, code=code, **kwargs).stdout)


def status_json(world, at=None, code=0, **kwargs) -> dict:
    return json.loads(vhpi(world, "status", "--json", at=at, code=code, **kwargs).stdout)


class History:
    """A world after runs at now, +2h and +4h: the hourly times t[0], t[2], t[4] as the
    runs recorded them, and the inode of the hourly.0 each run made."""

    def __init__(self, world, offsets=("+0", "+2h", "+4h"), **run):
        self.world, self.t, self.made_ino = world, {}, {}
        for offset in offsets:
            hours = int(offset.strip("+h") or 0)
            write_files(world.source, {"which.txt": f"state at +{hours}h"}, mtime=1_700_000_000 + hours * 60)
            vhpi(world, at=offset, code=0, **run)
            self.t[hours] = state(world)["hourly"]
            self.made_ino[hours] = ino(world.dest / "hourly.0")


@pytest.fixture
def history(world):
    return History(world)


def by_name(listed: dict) -> dict:
    return {s["name"]: s for s in listed["snapshots"]}


# ---------------------------------------------------------------- list

def test_list_shows_each_snapshot_with_the_time_of_the_run_that_made_it(history):
    world, t = history.world, history.t
    assert t[0] < t[2] < t[4]
    assert ino(world.dest / "hourly.2") == history.made_ino[0]  # the first run's folder, renamed twice

    listed = list_json(world, at="+250m")

    assert listed["job"] == "dest" and listed["destination"] == str(world.dest)
    assert [(s["name"], s["interval"], s["number"], s["taken_at"]) for s in listed["snapshots"]] == [
        ("hourly.0", "hourly", 0, t[4]), ("hourly.1", "hourly", 1, t[2]), ("hourly.2", "hourly", 2, t[0]),
        ("daily.0", "daily", 0, t[0]), ("backup.latest", None, None, None)]
    assert all(s["path"] == str(world.dest / s["name"]) for s in listed["snapshots"])


def test_list_text_shows_local_times_and_ages(history):
    world, t = history.world, history.t
    now = math.ceil(t[4]) + 3600

    result = vhpi(world, "list", at=frozen_at(now), code=0)

    lines = result.stdout.splitlines()
    assert lines[0] == f"job dest: {world.dest}"
    assert lines[1] == f"  hourly.0       {format_moment(t[4])}  (60 min ago)"
    assert lines[2:] == [
        f"  hourly.1       {format_moment(t[2])}  ({relative_moment(t[2], now)})",
        f"  hourly.2       {format_moment(t[0])}  ({relative_moment(t[0], now)})",
        f"  daily.0        {format_moment(t[0])}  ({relative_moment(t[0], now)})",
        "  backup.latest  the mirror the next snapshot is made from"]
    assert relative_moment(t[0], now).endswith(" h ago")
    assert result.stderr == ""


def test_list_times_stay_right_when_the_oldest_is_recycled_and_daily_rotates(history):
    world, t = history.world, history.t
    for offset, hours in (("+6h", 6), ("+25h", 25)):
        write_files(world.source, {"which.txt": f"state at +{hours}h"}, mtime=1_700_000_000 + hours * 60)
        vhpi(world, at=offset, code=0)
        t[hours] = state(world)["hourly"]
    daily_25 = state(world)["daily"]
    assert daily_25 == t[25]

    listed = by_name(list_json(world, at="+1510m"))

    assert {name: s["taken_at"] for name, s in listed.items()} == {
        "hourly.0": t[25], "hourly.1": t[6], "hourly.2": t[4],
        "daily.0": t[25], "daily.1": t[0], "backup.latest": None}
    made = json.loads((world.dest / ".vhpi" / "state.json").read_text())["made"]
    on_disk = {str(ino(world.dest / name)) for name in listed if name != "backup.latest"}
    assert on_disk <= set(made)
    # the first run's hourly folder was dropped at +6h; the +25h run's write forgets it (the
    # write in the very run that drops a snapshot still sees it in the work folder)
    # (unless the file system gave its inode number to one of today's snapshots)
    assert str(history.made_ino[0]) not in made or str(history.made_ino[0]) in on_disk


def test_list_falls_back_to_the_newest_time_for_records_without_made_times(history):
    world, t = history.world, history.t
    path = world.dest / ".vhpi" / "state.json"
    data = json.loads(path.read_text())
    del data["made"]  # a state file written before "made" existed
    path.write_text(json.dumps(data))

    listed = by_name(list_json(world, at="+250m"))
    text = vhpi(world, "list", at="+250m", code=0).stdout

    assert listed["hourly.0"]["taken_at"] == t[4]   # the interval's newest time is its .0's
    assert listed["daily.0"]["taken_at"] == t[0]
    assert listed["hourly.1"]["taken_at"] is None and listed["hourly.2"]["taken_at"] is None
    assert "  hourly.1       unknown time\n" in text and "  hourly.2       unknown time\n" in text
    assert f"  hourly.0       {format_moment(t[4])}  (" in text


def test_list_before_any_run(world):
    assert vhpi(world, "list", code=0).stdout == f"job dest: {world.dest}\n  no snapshots yet\n"
    assert list_json(world) == {"job": "dest", "destination": str(world.dest), "snapshots": []}


def _two_jobs(world):
    other_source, other_dest = world.root / "other-source", world.root / "other-dest"
    for folder in (other_source, other_dest):
        folder.mkdir()
    (other_source / ".backup_valid").write_text("")
    (other_dest / ".backup_destination").write_text("")
    jobs = [{"name": name, "source_ip": "127.0.0.1", "rsync_src": str(src), "rsync_dest": str(dst),
             "snapshots": snapshots}
            for name, src, dst, snapshots in (("laptop", world.source, world.dest, {"hourly": 2}),
                                              ("photos", other_source, other_dest, {"daily": 2}))]
    world.config.write_text(yaml.safe_dump({"app_cfg": {"intervals": {"hourly": 3600, "daily": 86400}},
                                            "jobs_cfg": jobs}))
    return other_dest


def test_list_with_two_jobs_needs_a_name(world):
    other_dest = _two_jobs(world)
    vhpi(world, code=0)

    unnamed = vhpi(world, "list", code=1)
    unknown = vhpi(world, "list", "desktop", code=1)
    photos = list_json(world, "photos")
    laptop = list_json(world, "laptop")

    assert unnamed.stdout == ""
    assert unnamed.stderr == "vhpi list: name a job: laptop, photos\n"
    assert unknown.stdout == ""
    assert unknown.stderr == f"vhpi list: no job 'desktop' in {world.config}; the jobs are: laptop, photos\n"
    assert photos["destination"] == str(other_dest)
    assert [s["name"] for s in photos["snapshots"]] == ["daily.0", "backup.latest"]
    assert [s["name"] for s in laptop["snapshots"]] == ["hourly.0", "backup.latest"]
    assert vhpi(world, "list", "--config", str(world.config), "photos", code=0).stdout.startswith(
        f"job photos: {other_dest}\n  daily.0  ")


def test_list_of_an_unknown_job_with_one_job_names_it(world):
    result = vhpi(world, "list", "nope", code=1)
    assert result.stderr == f"vhpi list: no job 'nope' in {world.config}; the jobs are: dest\n"


# ---------------------------------------------------------------- status

def test_status_json_after_three_runs(history):
    world, t = history.world, history.t

    data = status_json(world, at="+250m")

    assert data["now"] > t[4]
    (job,) = data["jobs"]
    assert (job["job"], job["source"], job["destination"], job["problem"]) == \
        ("dest", str(world.source), str(world.dest), None)
    assert job["last_run"] == run_records(world)["dest"]
    assert job["last_run"]["at"] == t[4] and job["last_run"]["ok"] is True
    assert job["last_run"]["summary"].startswith("due hourly; done: 1 files ("), job["last_run"]
    hourly, daily = job["intervals"]
    assert hourly == {"interval": "hourly", "keep": 3, "count": 3, "newest": t[4],
                      "next_due": pytest.approx(t[4] + 3600 - 36), "due_now": False,
                      "snapshots": [{"name": "hourly.0", "taken_at": t[4]},
                                    {"name": "hourly.1", "taken_at": t[2]},
                                    {"name": "hourly.2", "taken_at": t[0]}]}
    assert daily == {"interval": "daily", "keep": 2, "count": 1, "newest": t[0],
                     "next_due": pytest.approx(t[0] + 86400 - 300), "due_now": False,
                     "snapshots": [{"name": "daily.0", "taken_at": t[0]}]}
    info = os.statvfs(world.dest)
    assert job["free"]["total_bytes"] == info.f_blocks * info.f_frsize
    assert 0 < job["free"]["bytes"] <= job["free"]["total_bytes"]
    assert (job["free"]["inodes"] is None) == (info.f_files == 0)


def test_status_text_after_three_runs(history):
    world, t = history.world, history.t
    now = math.ceil(t[4]) + 3600  # hourly is due again, daily is not

    result = vhpi(world, "status", at=frozen_at(now), code=0)

    lines = result.stdout.splitlines()
    summary = run_records(world)["dest"]["summary"]
    assert lines[0] == f"job dest: {world.source} -> {world.dest}"
    assert lines[1] == f"  last run: {format_moment(t[4])} (60 min ago), ok: {summary}"
    assert lines[2].startswith("  free: ") and " of " in lines[2]
    assert lines[3] == "  verified: never in full (vhpi verify dest, or set scrub_every)"
    assert lines[4].split() == ["interval", "keep", "have", "newest", "age", "next", "due"]
    assert lines[5].split() == ["hourly", "3", "3", *format_moment(t[4]).split(), "60", "min",
                                "now", "(next", "run)"]
    daily_due = t[0] + 86400 - 300
    assert lines[6].split() == ["daily", "2", "1", *format_moment(t[0]).split(),
                                *relative_moment(t[0], now).replace(" ago", "").split(),
                                *format_moment(daily_due).split(), *f"({relative_moment(daily_due, now)})".split()]
    assert relative_moment(daily_due, now).startswith("in ")
    assert len(lines) == 7 and result.stderr == ""


def test_status_before_any_run(world):
    write_config(world, intervals={"hourly": 3600, "daily": 86400, "weekly": 604800},
                 snapshots={"hourly": 3, "daily": 2, "weekly": 0})

    data = status_json(world)
    text = vhpi(world, "status", code=0).stdout

    (job,) = data["jobs"]
    assert job["last_run"] is None and job["problem"] is None
    assert [(i["interval"], i["count"], i["newest"], i["next_due"], i["due_now"]) for i in job["intervals"]] == [
        ("hourly", 0, None, None, True), ("daily", 0, None, None, True), ("weekly", 0, None, None, False)]
    assert "  last run: none recorded yet\n" in text
    rows = {line.split()[0]: line for line in text.splitlines()[4:]}
    assert rows["hourly"].endswith("now (next run)") and rows["daily"].endswith("now (next run)")
    assert rows["weekly"].split() == ["weekly", "0", "0", "-", "-", "off", "(keep", "0)"]


def test_a_nothing_due_run_keeps_the_last_run_record(history):
    world, t = history.world, history.t
    before = (world.vhpi_home / "last-runs.json").read_bytes()

    vhpi(world, at="+270m", code=0)

    assert job_line(world).endswith("job dest: nothing due")
    assert (world.vhpi_home / "last-runs.json").read_bytes() == before
    assert status_json(world, at="+271m")["jobs"][0]["last_run"]["at"] == t[4]


def test_a_failed_run_shows_in_status_until_a_good_one(history):
    world, t = history.world, history.t
    (world.source / ".backup_valid").unlink()
    vhpi(world, at="+6h", code=1)

    data = status_json(world, at="+365m", code=1)
    text = vhpi(world, "status", at="+365m", code=1).stdout

    record = data["jobs"][0]["last_run"]
    assert record["ok"] is False and record["at"] > t[4] + 3600
    assert record["summary"].startswith("FAILED: due hourly; source ")
    assert ".backup_valid" in record["summary"]
    assert text.splitlines()[1].startswith(f"  source: source {world.source} has no .backup_valid")
    assert data["jobs"][0]["source_problem"].startswith(f"source {world.source} has no .backup_valid")
    last_run_line = text.splitlines()[2]
    assert last_run_line.startswith(f"  last run: {format_moment(record['at'])} (")
    assert f", FAILED: due hourly; source {world.source} has no .backup_valid" in last_run_line
    hourly = data["jobs"][0]["intervals"][0]
    assert hourly["count"] == 3 and hourly["newest"] == t[4] and hourly["due_now"] is True

    (world.source / ".backup_valid").write_text("")
    vhpi(world, at="+8h", code=0)
    record = status_json(world, at="+485m", code=0)["jobs"][0]["last_run"]
    assert record["ok"] is True and record["at"] == state(world)["hourly"]


def test_status_reports_a_missing_destination(history):
    world = history.world
    shutil.move(world.dest, world.root / "unplugged")

    data = status_json(world, code=1)
    text = vhpi(world, "status", code=1).stdout

    (job,) = data["jobs"]
    assert job["problem"] == f"destination {world.dest} does not exist: is the backup disk mounted? (vhpi never creates it; nothing was written)"
    assert job["free"] is None
    assert [i["count"] for i in job["intervals"]] == [0, 0]
    assert job["last_run"]["ok"] is True  # the record lives in vhpi's home, not on the disk
    assert f"  PROBLEM: destination {world.dest} does not exist" in text
    assert not world.dest.exists(), "status must not create the destination"


def test_status_reports_damaged_records(history):
    world = history.world
    (world.dest / ".vhpi" / "state.json").write_text('{"format": 1, "snaps')

    data = status_json(world, code=1)

    (job,) = data["jobs"]
    assert "state.json is damaged" in job["problem"], job["problem"]
    assert [(i["count"], i["newest"]) for i in job["intervals"]] == [(3, None), (1, None)]
    assert "  PROBLEM: " in vhpi(world, "status", code=1).stdout
    listed = by_name(list_json(world))
    assert [s["taken_at"] for s in listed.values()] == [None] * 5  # list still lists them


def test_status_and_list_change_nothing(history):
    world = history.world
    before = listing(world.dest), listing(world.vhpi_home)

    for args in (("status",), ("status", "--json"), ("list",), ("list", "dest", "--json")):
        vhpi(world, *args, at="+5h", code=0)

    assert_same_listing(before[0], listing(world.dest))
    assert_same_listing(before[1], listing(world.vhpi_home))


def test_status_shows_every_job(world):
    other_dest = _two_jobs(world)
    vhpi(world, code=0)

    data = status_json(world)
    text = vhpi(world, "status", code=0).stdout

    assert [job["job"] for job in data["jobs"]] == ["laptop", "photos"]
    assert [job["destination"] for job in data["jobs"]] == [str(world.dest), str(other_dest)]
    assert [[i["interval"] for i in job["intervals"]] for job in data["jobs"]] == [["hourly"], ["daily"]]
    assert set(run_records(world)) == {"laptop", "photos"}
    blocks = text.split("\n\n")
    assert [block.splitlines()[0] for block in blocks] == [
        f"job laptop: {world.source} -> {world.dest}",
        f"job photos: {world.root / 'other-source'} -> {other_dest}"]


def test_status_and_list_work_when_a_snapshot_cannot_be_read(nobody_world):
    """As a normal user (as root a mode of 000 keeps nothing out): the commands read folder
    names and records only, so a snapshot the user cannot open is still listed with its time."""
    world = nobody_world
    python, env = python_for_nobody()
    if python is None:
        pytest.skip("no python that user nobody can run with vhpi's dependencies")
    as_nobody = {"prefix": AS_NOBODY, "python": python, "env": env}
    history = History(world, offsets=("+0", "+2h"), **as_nobody)
    os.chmod(world.dest / "hourly.1", 0o000)
    os.chmod(world.dest / "daily.0", 0o000)
    probe = subprocess.run([*AS_NOBODY, "ls", str(world.dest / "hourly.1")], capture_output=True)
    assert probe.returncode != 0, "nobody can still read hourly.1: the test would prove nothing"
    try:
        data = status_json(world, at="+125m", code=0, **as_nobody)
        listed = by_name(list_json(world, at="+125m", **as_nobody))
        text = vhpi(world, "status", at="+125m", code=0, **as_nobody)
    finally:
        os.chmod(world.dest / "hourly.1", 0o755)
        os.chmod(world.dest / "daily.0", 0o755)

    hourly, daily = data["jobs"][0]["intervals"]
    assert hourly["snapshots"] == [{"name": "hourly.0", "taken_at": history.t[2]},
                                   {"name": "hourly.1", "taken_at": history.t[0]}]
    assert daily["snapshots"] == [{"name": "daily.0", "taken_at": history.t[0]}]
    assert listed["hourly.1"]["taken_at"] == history.t[0]
    assert "Traceback" not in text.stderr, describe(text, world)


def test_status_reports_an_unmounted_destination_it_used_before(history):
    world = history.world
    shutil.move(world.dest, world.root / "unplugged")
    world.dest.mkdir()  # the empty mountpoint an unplugged disk leaves behind

    data = status_json(world, code=1)

    assert data["jobs"][0]["problem"] and ".backup_destination" in data["jobs"][0]["problem"]
