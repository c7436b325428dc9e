"""The validated-config cache: used only while the config file is unchanged."""

import json
import stat

import yaml

from tests.integration.helpers import vhpi


def _modules_loaded(world) -> str:
    """Run vhpi with -X importtime (PYTHONPROFILEIMPORTTIME) and return its import log."""
    result = vhpi(world, env={"PYTHONPROFILEIMPORTTIME": "1"}, timeout=60)
    assert result.returncode == 0, result
    return result.stderr


def test_an_unchanged_config_is_not_parsed_again(world):
    vhpi(world, code=0)
    cache = world.vhpi_home / "config.cache.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600     # the user's only (vhpi.act.umask)
    imports = _modules_loaded(world)
    assert "| yaml" not in imports and "schema" not in imports
    assert "nothing due" in world.info_log.splitlines()[-1]


def test_a_changed_config_is_read_again(world):
    vhpi(world, code=0)
    world.write_config(snapshots={"hourly": 3, "daily": 2, "weekly": 1},
                       intervals={"hourly": 3600, "daily": 86400, "weekly": 604800})
    vhpi(world, code=0)
    assert "due weekly; done" in world.info_log.splitlines()[-1]
    assert "weekly.0" in world.snapshots()


def test_a_broken_config_is_reported_even_after_a_good_one_was_cached(world):
    vhpi(world, code=0)
    world.config.write_text("app_cfg: [\n")
    result = vhpi(world, code=2)
    assert "line 2" in result.stderr


def test_a_damaged_cache_means_a_full_load(world):
    vhpi(world, code=0)
    (world.vhpi_home / "config.cache.json").write_text("{not json")
    vhpi(world, code=0)
    cached = json.loads((world.vhpi_home / "config.cache.json").read_text())
    assert cached["config"]["jobs"][0]["destination"] == str(world.dest)


def test_hooks_and_healthcheck_urls_survive_the_cache(world):
    marks = world.root / "marks"
    hooks = {"before": f"echo run >> {marks}", "after_success": f"echo run-ok >> {marks}"}
    world.config.write_text(yaml.safe_dump({
        "app_cfg": {"intervals": {"hourly": 3600}, "hooks": hooks,
                    "healthcheck_url": "http://127.0.0.1:9/run"},
        "jobs_cfg": [{"source_ip": "127.0.0.1", "rsync_src": str(world.source),
                      "rsync_dest": str(world.dest), "snapshots": {"hourly": 2},
                      "hooks": {"after_failure": "true"}, "healthcheck_url": "http://127.0.0.1:9/job"}]}))
    vhpi(world, code=0)
    cached = json.loads((world.vhpi_home / "config.cache.json").read_text())["config"]
    assert cached["hooks"] == {**hooks, "after_failure": None}
    assert cached["healthcheck_url"] == "http://127.0.0.1:9/run"
    assert cached["jobs"][0]["hooks"] == {"before": None, "after_success": None, "after_failure": "true"}
    assert cached["jobs"][0]["healthcheck_url"] == "http://127.0.0.1:9/job"
    imports = _modules_loaded(world)          # from the cache: no YAML, hooks still run
    assert "| yaml" not in imports
    assert marks.read_text().split() == ["run", "run-ok", "run", "run-ok"]
