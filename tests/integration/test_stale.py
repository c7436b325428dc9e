"""A job whose newest snapshot is older than its stale_after (default 3 days; app_cfg
default, per-job override) makes every run say so: an ERROR line "STALE: …" in info.log, on
stderr (cron mails), exit 1; `vhpi status` shows the problem and exits 1. A laptop away for
weeks is the case: its offline runs alone are quiet and exit 0."""

import json

import yaml

from tests.conftest import needs_root
from tests.integration.helpers import job_line, vhpi, write_config, write_files

OFFLINE = ("unshare", "--net")   # a network namespace of its own: 127.0.0.1 does not answer


def _backed_up(world, **job_keys):
    write_config(world, snapshots={"hourly": 3, "daily": 2}, **job_keys)
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, code=0)
    return world


@needs_root("an offline host is a network namespace (unshare --net)")
def test_a_host_away_for_days_makes_each_run_say_the_backups_are_stale(world):
    world = _backed_up(world)

    quiet = vhpi(world, at="+2d", prefix=OFFLINE, code=0)   # two days away: still quiet
    assert quiet.stderr == "" and "offline, skipped" in job_line(world)

    result = vhpi(world, at="+4d", prefix=OFFLINE, code=1)

    line = job_line(world)
    assert " ERROR   job dest: STALE: the newest snapshot is 4 days old, older than stale_after " \
           "(3 days)" in line, line
    assert "offline, skipped" in line, "the line still says what this run did"
    assert "STALE" in result.stderr

    status = vhpi(world, "status", at="+4d", code=1)
    assert "PROBLEM: the newest snapshot is 4 days old, older than stale_after (3 days)" in status.stdout
    (job,) = json.loads(vhpi(world, "status", "--json", at="+4d", code=1).stdout)["jobs"]
    assert job["stale"]["limit"] == 3 * 86400 and job["stale"]["age"] > 4 * 86400 - 60

    vhpi(world, at="+4d", code=0)   # the laptop is back: a snapshot, and all is well again
    assert "STALE" not in job_line(world)
    vhpi(world, "status", at="+4d", code=0)


@needs_root("an offline host is a network namespace (unshare --net)")
def test_stale_after_per_job_overrides_the_app_default(world):
    world = _backed_up(world, stale_after=4 * 3600)
    config = yaml.safe_load(world.config.read_text())
    config["app_cfg"]["stale_after"] = 30 * 86400   # the default for all jobs: the job's wins
    world.config.write_text(yaml.safe_dump(config))

    vhpi(world, at="+5h", prefix=OFFLINE, code=1)

    assert "STALE: the newest snapshot is 5 h old, older than stale_after (4 h)" in job_line(world)


def test_a_failing_job_says_it_is_stale_too(world):
    world = _backed_up(world)
    (world.source / ".backup_valid").unlink()   # the share is not mounted any more

    result = vhpi(world, at="+4d", code=1)

    line = job_line(world)
    assert "FAILED" in line and "older than stale_after (3 days)" in line, line
    assert "older than stale_after" in result.stderr


@needs_root("an offline host is a network namespace (unshare --net)")
def test_a_job_that_never_made_a_snapshot_goes_stale_from_its_first_run(world):
    """A new job whose host never answers (a wrong address, a laptop that is never on at
    the hour): quiet at first, loud once stale_after has passed since vhpi first ran it."""
    write_config(world, snapshots={"hourly": 3, "daily": 2})
    vhpi(world, prefix=OFFLINE, code=0)
    vhpi(world, at="+2d", prefix=OFFLINE, code=0)

    result = vhpi(world, at="+4d", prefix=OFFLINE, code=1)

    line = job_line(world)
    assert "STALE: no snapshot yet, 4 days after vhpi first ran this job, longer than stale_after " \
           "(3 days)" in line, line
    assert "STALE" in result.stderr
    status = vhpi(world, "status", at="+4d", code=1)
    assert "PROBLEM: no snapshot yet, 4 days after vhpi first ran this job" in status.stdout
