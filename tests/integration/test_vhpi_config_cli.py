"""Bad configs through the real command line: exit 2, every problem named with its place
on stderr, no traceback, and nothing written anywhere."""

import subprocess
import sys

import pytest
import yaml

from tests.integration.helpers import assert_same_listing, listing


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

    result = subprocess.run([sys.executable, "-m", "vhpi.main", "--config", str(world.config)],
                            env=world.env(), cwd=world.root, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=60)

    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.startswith("vhpi: the config cannot be used"), result.stderr
    for fragment in expected:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert str(world.config) in result.stderr or "jobs_cfg[0]" in result.stderr
    assert not world.vhpi_home.exists(), "~/.very_hungry_pi must not be created"
    assert_same_listing(before["dest"], listing(world.dest))
    assert_same_listing(before["source"], listing(world.source))
    assert_same_listing(before["home"], listing(world.home))


def test_the_default_config_path_is_in_home(world):
    result = subprocess.run([sys.executable, "-m", "vhpi.main"], env=world.env(), cwd=world.root,
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 2
    assert f"{world.vhpi_home}/config.yaml: no such config file" in result.stderr
    assert not world.vhpi_home.exists()


@pytest.mark.parametrize("argv, code", [(["--no-such-option"], 2), (["--version"], 0), (["--help"], 0)])
def test_usage_errors_and_info_options_write_nothing(world, argv, code):
    result = subprocess.run([sys.executable, "-m", "vhpi.main", *argv], env=world.env(),
                            cwd=world.root, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr
    assert not world.vhpi_home.exists()
    assert world.snapshots() == []
