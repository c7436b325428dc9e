"""The hooks and healthcheck_url settings: validation with exact problem sentences, the
model's defaults, and the config cache's JSON round trip."""

from dataclasses import asdict

import pytest

from vhpi.config.cache import _config_from
from vhpi.config.errors import ConfigError
from vhpi.config.model import Hooks
from vhpi.config.validation import validate_config

CFG = "/etc/vhpi/config.yaml"
COMMAND_RULE = "must be a shell command line (a non-empty string, run with /bin/sh -c)"
URL_RULE = "must be an http:// or https:// URL with a host, such as https://hc-ping.com/<uuid>"


def raw_config(app=None, **job_keys):
    job = {"source_ip": "127.0.0.1", "rsync_src": "/vhpi-test-nowhere/src",
           "rsync_dest": "/vhpi-test-nowhere/dest", "snapshots": {"hourly": 3}}
    job.update(job_keys)
    return {"app_cfg": {"intervals": {"hourly": 3600}, **(app or {})}, "jobs_cfg": [job]}


def problems(raw):
    with pytest.raises(ConfigError) as caught:
        validate_config(raw, CFG)
    return caught.value.problems


def test_without_the_settings_nothing_is_watched():
    config = validate_config(raw_config(), CFG)
    assert config.hooks == Hooks() and config.healthcheck_url is None and not config.watched()
    assert config.jobs[0].hooks == Hooks() and not config.jobs[0].watched()


def test_hooks_and_urls_of_the_run_and_a_job():
    config = validate_config(raw_config(
        {"hooks": {"before": "wakeonlan aa:bb", "after_failure": "mail -s failed me"},
         "healthcheck_url": "https://hc-ping.com/0f2c"},
        hooks={"after_success": "umount /mnt/laptop", "before": None},
        healthcheck_url="http://10.0.0.2:8000/ping/key/laptop?create=1"), CFG)
    assert config.hooks == Hooks("wakeonlan aa:bb", None, "mail -s failed me")
    assert config.healthcheck_url == "https://hc-ping.com/0f2c" and config.watched()
    job = config.jobs[0]
    assert job.hooks == Hooks(after_success="umount /mnt/laptop") and job.watched()
    assert job.healthcheck_url == "http://10.0.0.2:8000/ping/key/laptop?create=1"
    assert validate_config(raw_config(healthcheck_url="https://[fd00::1]/p"), CFG).jobs[0].watched()


def test_the_cache_round_trips_hooks_and_urls():
    config = validate_config(raw_config({"hooks": {"before": "true"}, "healthcheck_url": "https://h/x"},
                                        hooks={"after_failure": "false"}, healthcheck_url="http://h/j"), CFG)
    assert _config_from(asdict(config)) == config


def test_a_cached_copy_without_hooks_is_not_used():
    data = asdict(validate_config(raw_config(), CFG))
    del data["jobs"][0]["hooks"]
    with pytest.raises(KeyError):
        _config_from(data)


@pytest.mark.parametrize("app, job, expected", [
    ({}, {"hooks": {"befor": "x"}}, "jobs_cfg[0].hooks.befor: unknown key (did you mean 'before'?)"),
    ({}, {"hooks": {"after_succes": "x"}},
     "jobs_cfg[0].hooks.after_succes: unknown key (did you mean 'after_success'?)"),
    ({}, {"hooks": {"on_error": "x"}},
     "jobs_cfg[0].hooks.on_error: unknown key (known keys: before, after_success, after_failure)"),
    ({"hooks": {"after_fail": "x"}}, {},
     "app_cfg.hooks.after_fail: unknown key (did you mean 'after_failure'?)"),
    ({}, {"hook": {"before": "x"}}, "jobs_cfg[0].hook: unknown key (did you mean 'hooks'?)"),
    ({}, {"healthcheck": "https://h/x"},
     "jobs_cfg[0].healthcheck: unknown key (did you mean 'healthcheck_url'?)"),
    ({"healthchecks_url": "https://h/x"}, {},
     "app_cfg.healthchecks_url: unknown key (did you mean 'healthcheck_url'?)"),
    ({}, {"hooks": "mount /mnt/x"}, "jobs_cfg[0].hooks: must map before, after_success and "
                                    "after_failure to shell command lines, got 'mount /mnt/x'"),
    ({"hooks": ["true"]}, {}, "app_cfg.hooks: must map before, after_success and after_failure "
                              "to shell command lines, got ['true']"),
    ({}, {"hooks": {"before": ""}}, f"jobs_cfg[0].hooks.before: {COMMAND_RULE}, got ''"),
    ({}, {"hooks": {"before": "  "}}, f"jobs_cfg[0].hooks.before: {COMMAND_RULE}, got '  '"),
    ({}, {"hooks": {"after_success": 75}}, f"jobs_cfg[0].hooks.after_success: {COMMAND_RULE}, got 75"),
    ({"hooks": {"after_failure": ["mail", "me"]}}, {},
     f"app_cfg.hooks.after_failure: {COMMAND_RULE}, got ['mail', 'me']"),
    ({}, {"healthcheck_url": "hc-ping.com/abc"}, f"jobs_cfg[0].healthcheck_url: {URL_RULE}, got 'hc-ping.com/abc'"),
    ({}, {"healthcheck_url": "ftp://h/abc"}, f"jobs_cfg[0].healthcheck_url: {URL_RULE}, got 'ftp://h/abc'"),
    ({}, {"healthcheck_url": "https://"}, f"jobs_cfg[0].healthcheck_url: {URL_RULE}, got 'https://'"),
    ({}, {"healthcheck_url": "https:///path"}, f"jobs_cfg[0].healthcheck_url: {URL_RULE}, got 'https:///path'"),
    ({}, {"healthcheck_url": "https://h/a b"}, f"jobs_cfg[0].healthcheck_url: {URL_RULE}, got 'https://h/a b'"),
    ({"healthcheck_url": 42}, {}, f"app_cfg.healthcheck_url: {URL_RULE}, got 42"),
    ({"healthcheck_url": ""}, {}, f"app_cfg.healthcheck_url: {URL_RULE}, got ''"),
])
def test_each_bad_setting_is_named_with_its_place(app, job, expected):
    assert problems(raw_config(app, **job)) == [expected]


def test_several_hook_problems_at_once():
    assert problems(raw_config({"hooks": {"before": ""}, "healthcheck_url": "x"},
                               hooks={"befor": "x", "after_failure": 1})) == [
        f"app_cfg.hooks.before: {COMMAND_RULE}, got ''",
        f"app_cfg.healthcheck_url: {URL_RULE}, got 'x'",
        "jobs_cfg[0].hooks.befor: unknown key (did you mean 'before'?)",
        f"jobs_cfg[0].hooks.after_failure: {COMMAND_RULE}, got 1",
    ]
