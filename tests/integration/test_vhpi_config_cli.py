"""Bad configs through the real command line: exit 2, every problem named with its place
on stderr, no traceback, and nothing written anywhere."""

import json

import pytest
import yaml

from tests.integration.helpers import assert_same_listing, listing, vhpi


def _job(world, **changes):
    job = {"source_ip": "127.0.0.1", "rsync_src": str(world.source), "rsync_dest": str(world.dest),
           "snapshots": {"hourly": 3, "daily": 2}}
    job.update(changes)
    return job


def _config(world, **changes):
    return yaml.safe_dump({"app_cfg": {"intervals": {"hourly": 3600, "daily": 86400}},
                           "jobs_cfg": [_job(world, **changes)]})


CASES = {
    "broken-yaml": (lambda w: "app_cfg:\n  intervals: {hourly: 3600\njobs_cfg: []\n",
                    ["config.yaml, line 3, column"]),
    "unknown-interval": (lambda w: _config(w, snapshots={"hourly": 3, "fortnightly": 2}),
                         ["jobs_cfg[0].snapshots.fortnightly: no such interval in app_cfg.intervals"]),
    "word-as-keep-count": (lambda w: _config(w, snapshots={"hourly": "three"}),
                           ["jobs_cfg[0].snapshots.hourly: must be a whole number >= 0, got 'three'"]),
    "inplace": (lambda w: _config(w, rsync_options="-a --delete --inplace"),
                ["jobs_cfg[0].rsync_options: --inplace is not allowed"]),
    "all-at-once": (lambda w: _config(w, snapshots={"hourly": "three", "fortnightly": 2},
                                      rsync_options="-a --inplace", colour="blue"),
                    ["(4 problems)",
                     "jobs_cfg[0].snapshots.hourly: must be a whole number >= 0, got 'three'",
                     "jobs_cfg[0].snapshots.fortnightly: no such interval",
                     "jobs_cfg[0].rsync_options: --inplace is not allowed",
                     "jobs_cfg[0].colour: unknown key"]),
    "duplicate-key": (lambda w: _config(w) + "jobs_cfg: []\n", ["duplicate key 'jobs_cfg'"]),
    "empty": (lambda w: "", ["config.yaml: the file is empty"]),
    "only-a-comment": (lambda w: "# nothing here\n",
                       ["config.yaml: holds no settings, only comments"]),
    "a-list": (lambda w: "- 1\n- 2\n", ["must be a mapping with the keys app_cfg and jobs_cfg"]),
    "missing": (None, ["config.yaml: no such config file"]),
    "a-folder": ("folder", ["config.yaml: is a folder, not a config file"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_config_stops_before_anything_is_written(world, case):
    make, expected = CASES[case]
    world.config.unlink()
    if make == "folder":
        world.config.mkdir()
    elif make is not None:
        world.config.write_text(make(world))
    before = {"dest": listing(world.dest), "source": listing(world.source), "home": listing(world.home)}

    result = vhpi(world, timeout=60)

    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.startswith("vhpi: the config cannot be used"), result.stderr
    for fragment in expected:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert str(world.config) in result.stderr or "jobs_cfg[0]" in result.stderr
    assert not (world.home / ".very_hungry_pi").exists(), "~/.very_hungry_pi must not be created"
    assert_same_listing(before["dest"], listing(world.dest))
    assert_same_listing(before["source"], listing(world.source))
    assert_same_listing(before["home"], listing(world.home))


def test_the_default_config_path_is_in_home(world):
    result = vhpi(world, config=False, timeout=60)
    assert result.returncode == 2
    assert f"{world.home}/.very_hungry_pi/config.yaml: no such config file" in result.stderr
    assert not (world.home / ".very_hungry_pi").exists()


@pytest.mark.parametrize("argv, code", [(["--no-such-option"], 2), (["--version"], 0), (["--help"], 0)])
def test_usage_errors_and_info_options_write_nothing(world, argv, code):
    result = vhpi(world, *argv, config=False, timeout=60)
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr
    assert not (world.home / ".very_hungry_pi").exists()
    assert world.snapshots() == []


def test_each_config_has_its_own_logs_lock_and_records(world):
    """Two configs of one user share nothing of vhpi's: each has its own state folder
    (~/.very_hungry_pi/configs/<name>-<hash>), the default config ~/.very_hungry_pi."""
    (world.source / "a.txt").write_text("a")
    other_dest = world.root / "other-dest"
    other_dest.mkdir()
    (other_dest / ".backup_destination").touch()
    other = world.root / "other.yaml"
    text = yaml.safe_load(world.config.read_text())
    text["jobs_cfg"][0].update(name="other", rsync_dest=str(other_dest))
    other.write_text(yaml.safe_dump(text))
    default = world.home / ".very_hungry_pi" / "config.yaml"
    default.parent.mkdir()
    text["jobs_cfg"][0].update(name="third", rsync_dest=str(world.dest))
    default.write_text(yaml.safe_dump(text))

    for config in (world.config, other, default):
        result = vhpi(world, config=config)
        assert result.returncode == 0, result.stderr

    states = world.home / ".very_hungry_pi"
    folders = sorted(path.name for path in (states / "configs").iterdir())
    assert len(folders) == 2 and folders[0].startswith("config-") and folders[1].startswith("other-")
    logs = {name: (states / "configs" / name / "info.log").read_text() for name in folders}
    assert "job dest:" in logs[folders[0]] and "job other" not in logs[folders[0]]
    assert "job other:" in logs[folders[1]] and "job dest" not in logs[folders[1]]
    assert "job third:" in (states / "info.log").read_text()
    for name in folders:
        assert (states / "configs" / name / "last-runs.json").exists()


def test_a_config_of_its_own_still_knows_the_destinations_vhpi_used_before(world):
    """Before each config had a state folder, every config's record of the destinations it
    made snapshots in was ~/.very_hungry_pi/destinations.json: that record still counts, so
    a destination that lost its mark (the disk is not mounted) is never taken for a new one."""
    shared = world.home / ".very_hungry_pi"
    shared.mkdir()
    (shared / "destinations.json").write_text(json.dumps({str(world.dest): 1700000000.0}))
    (world.dest / ".backup_destination").unlink()

    result = vhpi(world)

    assert result.returncode == 1
    assert "has made snapshots in" in result.stderr and "probably not mounted" in result.stderr, result.stderr
    assert "touch" not in result.stderr
