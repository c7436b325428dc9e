"""`--dry-run` says what a run would do and changes nothing at all (one note in info.log)."""

import shlex

from tests.integration.helpers import (assert_same_listing, listing, vhpi, write_config,
                                       write_files)


def _everything(world):
    return {"dest": listing(world.dest), "source": listing(world.source),
            "state": (world.dest / ".vhpi" / "state.json").read_bytes(),
            "debug.log": (world.vhpi_home / "debug.log").read_bytes()}


def test_dry_run_describes_the_run_and_changes_nothing(world):
    write_config(world, snapshots={"hourly": 2, "daily": 2}, excludes=["*.tmp"])
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, code=0)
    write_files(world.source, {"a.txt": "a, changed", "new.txt": "new"})
    vhpi(world, at="+2h", code=0)
    write_files(world.source, {"a.txt": "a, changed again"})
    before = _everything(world)
    info_before = world.info_log.splitlines()

    result = vhpi(world, "--dry-run", at="+4h", code=0)

    out = result.stdout
    assert result.stderr == ""
    assert f"job dest: {world.source} -> {world.dest}" in out
    assert "  due: hourly\n" in out
    assert "would check that host 127.0.0.1 answers" in out
    assert "source: sentinel present" in out
    run_line = next(line for line in out.splitlines() if "would run:" in line)
    argv = shlex.split(run_line.split("would run:", 1)[1])
    assert argv[0] == "rsync" and "--dry-run" in argv and "--delete" in argv
    assert "--exclude=*.tmp" in argv
    assert argv[-2:] == [f"{world.source}/", f"{world.dest}/backup.latest/"]
    assert "rotation: drop hourly.1, hourly.0 -> hourly.1, new hourly.0" in out

    assert_same_listing(before["dest"], listing(world.dest))
    assert_same_listing(before["source"], listing(world.source))
    assert before == _everything(world)
    info_after = world.info_log.splitlines()
    assert info_after[:-1] == info_before and len(info_after) == len(info_before) + 1
    assert "dry run (--dry-run): nothing was changed" in info_after[-1]


def test_dry_run_on_a_fresh_destination_creates_nothing_there(world):
    write_files(world.source, {"a.txt": "a"})
    before = listing(world.dest)
    result = vhpi(world, "--dry-run", code=0)
    assert "due: hourly, daily" in result.stdout
    assert "rotation: new hourly.0" in result.stdout and "rotation: new daily.0" in result.stdout
    assert_same_listing(before, listing(world.dest))
    assert len(world.info_log.splitlines()) == 1


def test_dry_run_reports_what_would_fail(world):
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, code=0)
    (world.source / ".backup_valid").unlink()
    before = listing(world.dest)
    result = vhpi(world, "--dry-run", at="+2h", code=1)
    assert "has no .backup_valid" in result.stdout
    assert_same_listing(before, listing(world.dest))
    (world.dest / ".backup_destination").unlink()
    result = vhpi(world, "--dry-run", at="+2h", code=1)
    assert "would fail:" in result.stdout and "probably not mounted" in result.stdout
