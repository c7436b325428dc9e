"""vhpi.config: reading the YAML file and validating it, with exact problem sentences."""

import copy
import os

import pytest

from vhpi.config.loading import ConfigError, load_raw_config, parse_config_text, read_config_text
from vhpi.act.real_paths import real_destination_problems
from vhpi.config.model import DEFAULT_SOURCE_TIMEOUT, Config, Job
from vhpi.config.validation import resolve_path, validate_config
from vhpi.decide.paths import nesting_problem

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXAMPLE = os.path.join(REPO, "example", "config", "config.yaml")

CFG = "/etc/vhpi/config.yaml"
SRC = "/vhpi-test-nowhere/src"
DEST = "/vhpi-test-nowhere/dest"
DEFAULT_OPTIONS = ("-aHAXS", "--delete", "--numeric-ids")
NO_DELETE = "no --delete: files deleted from the source stay in every new snapshot"
INTERVAL_NAME_RULE = ("interval names may hold only letters, digits, '-' and '_' (they become "
                      "folder names like daily.0)")


def load(path):
    """What vhpi.main does with --config PATH."""
    return validate_config(load_raw_config(path), os.path.expanduser(path))


def job(**changes):
    raw = {"source_ip": "127.0.0.1", "rsync_src": SRC, "rsync_dest": DEST,
           "snapshots": {"hourly": 3, "daily": 2}}
    for key, value in changes.items():
        if value is DROP:
            raw.pop(key)
        else:
            raw[key] = value
    return raw


DROP = object()


def config(*jobs, intervals=None, exclude_lib=None, **top):
    app = {"intervals": {"hourly": 3600, "daily": 86400} if intervals is None else intervals}
    if exclude_lib is not None:
        app["exclude_lib"] = exclude_lib
    raw = {"app_cfg": app, "jobs_cfg": list(jobs) if jobs else [job()]}
    raw.update(top)
    return raw


def problems(raw, path=CFG):
    with pytest.raises(ConfigError) as caught:
        validate_config(raw, path)
    error = caught.value
    assert str(error) == "\n".join(error.problems)
    return error.problems


def write(folder, text, name="config.yaml"):
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


# ---------------------------------------------------------------- the example config

def test_example_config_loads_with_paths_relative_to_its_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)           # the working directory must not matter
    folder = os.path.dirname(EXAMPLE)
    assert load(EXAMPLE) == Config(
        path=EXAMPLE,
        intervals={"hourly": 3600, "six-hourly": 21600, "daily": 86400, "weekly": 604800,
                   "monthly": 2592000, "yearly": 31536000},
        jobs=(Job(
            name="laptop",
            source_ip="192.168.178.20",
            source=os.path.join(folder, "tests", "dummy_src", "src1"),
            destination=os.path.join(folder, "tests", "dummy_dest", "dest1"),
            rsync_options=("-aAHSvX", "--delete"),
            excludes=(),   # the example's exclude lists and patterns are comments
            keep_counts={"hourly": 0, "six-hourly": 0, "daily": 7, "weekly": 4, "monthly": 6,
                         "yearly": 6},
            warnings=(), scrub_every=30 * 86400),))  # the template scrubs every 30 days


def test_example_config_active_intervals():
    (example_job,) = load(EXAMPLE).jobs
    assert example_job.active_keep_counts() == {"daily": 7, "weekly": 4, "monthly": 6, "yearly": 6}


def test_relative_config_path_and_relative_folders(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    write(tmp_path / "etc", "app_cfg: {intervals: {daily: 86400}}\n"
                            "jobs_cfg:\n"
                            "  - {source_ip: nas.local, rsync_src: ../data/, rsync_dest: 'backups/./b1//',"
                            " snapshots: {daily: 3}}\n")
    monkeypatch.chdir(tmp_path)
    loaded = load(os.path.join("etc", "config.yaml"))
    assert loaded.path == str(tmp_path / "etc" / "config.yaml")
    (only,) = loaded.jobs
    assert only.source == str(tmp_path / "data")
    assert only.destination == str(tmp_path / "etc" / "backups" / "b1")
    assert only.name == "b1"
    assert only.source_ip == "nas.local"


def test_home_relative_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path, "app_cfg: {intervals: {daily: 86400}}\n"
                    "jobs_cfg: [{source_ip: '::1', rsync_src: ~/src, rsync_dest: /vhpi-x/d,"
                    " snapshots: {daily: 1}}]\n", name="vhpi.yaml")
    loaded = load("~/vhpi.yaml")
    assert loaded.path == str(tmp_path / "vhpi.yaml")
    assert loaded.jobs[0].source == str(tmp_path / "src")
    assert loaded.jobs[0].destination == "/vhpi-x/d"


@pytest.mark.parametrize("text, folder, resolved", [
    ("/abs/path/", "/cfg", "/abs/path"),
    ("rel", "/cfg", "/cfg/rel"),
    ("./a/../b//c/", "/cfg", "/cfg/b/c"),
    ("../up", "/cfg/sub", "/cfg/up"),
])
def test_resolve_path(text, folder, resolved):
    assert resolve_path(text, folder) == resolved


# ---------------------------------------------------------------- defaults

def test_defaults_when_options_and_excludes_are_absent():
    loaded = validate_config(config(), CFG)
    assert loaded == Config(CFG, {"hourly": 3600, "daily": 86400}, (
        Job("dest", "127.0.0.1", SRC, DEST, DEFAULT_OPTIONS, (), {"hourly": 3, "daily": 2}, ()),))


def test_defaults_when_options_and_excludes_are_null():
    raw = config(job(rsync_options=None, exclude_lists=None, excludes=None), exclude_lib=None)
    assert validate_config(raw, CFG).jobs[0] == Job(
        "dest", "127.0.0.1", SRC, DEST, DEFAULT_OPTIONS, (), {"hourly": 3, "daily": 2}, ())


def test_explicit_name_and_options_and_warning():
    raw = config(job(name="laptop", rsync_options="-a --numeric-ids"))
    loaded = validate_config(raw, CFG).jobs[0]
    assert loaded.name == "laptop"
    assert loaded.rsync_options == ("-a", "--numeric-ids")
    assert loaded.warnings == (f"jobs_cfg[0].rsync_options: {NO_DELETE}",)


def test_exclude_lists_in_order_then_excludes():
    library = {"one": ["a", "b"], "two": ["c"], "unused": ["zzz"]}
    raw = config(job(exclude_lists=["two", "one"], excludes=["own1", "own2"]), exclude_lib=library)
    assert validate_config(raw, CFG).jobs[0].excludes == ("c", "a", "b", "own1", "own2")


def test_same_list_twice_and_empty_lists():
    raw = config(job(exclude_lists=["one", "one"], excludes=[]), exclude_lib={"one": ["a"], "e": []})
    assert validate_config(raw, CFG).jobs[0].excludes == ("a", "a")


def test_keep_zero_is_allowed_when_another_is_above_zero():
    raw = config(job(snapshots={"hourly": 0, "daily": 1}))
    loaded = validate_config(raw, CFG).jobs[0]
    assert loaded.keep_counts == {"hourly": 0, "daily": 1}
    assert loaded.active_keep_counts() == {"daily": 1}


def test_input_is_not_modified():
    raw = config(job(exclude_lists=["one"]), exclude_lib={"one": ["a"]})
    before = copy.deepcopy(raw)
    validate_config(raw, CFG)
    assert raw == before


def test_two_valid_jobs():
    raw = config(job(name="a"), job(name="b", rsync_dest="/vhpi-test-nowhere/dest2"))
    assert [j.name for j in validate_config(raw, CFG).jobs] == ["a", "b"]


# ---------------------------------------------------------------- every problem sentence

@pytest.mark.parametrize("raw, type_name", [
    ([1, 2], "list"), ("text", "str"), (None, "NoneType"), (5, "int"),
])
def test_top_level_not_a_mapping(raw, type_name):
    assert problems(raw) == [f"{CFG}: must be a mapping with the keys app_cfg and jobs_cfg, got {type_name}"]


def test_unknown_top_key_with_did_you_mean():
    raw = config()
    raw["jobs_cgf"] = raw.pop("jobs_cfg")
    assert problems(raw) == [
        "jobs_cgf: unknown key (did you mean 'jobs_cfg'?)",
        "jobs_cfg: must be a list of one or more jobs, got None",
    ]


def test_unknown_top_key_without_a_close_match():
    assert problems(config(zzz=1)) == ["zzz: unknown key (known keys: app_cfg, jobs_cfg)"]


def test_app_cfg_missing():
    raw = config()
    del raw["app_cfg"]
    assert problems(raw) == [
        "app_cfg: must be a mapping of keys to values, got None",
        "app_cfg.intervals: missing: name each interval with its length in seconds",
        "jobs_cfg[0].snapshots.hourly: no such interval in app_cfg.intervals",
        "jobs_cfg[0].snapshots.daily: no such interval in app_cfg.intervals",
    ]


def test_app_cfg_not_a_mapping():
    raw = config()
    raw["app_cfg"] = ["intervals"]
    assert problems(raw)[0] == "app_cfg: must be a mapping of keys to values, got ['intervals']"


def test_unknown_app_key_with_did_you_mean():
    raw = config()
    raw["app_cfg"]["exclude_libs"] = {}
    assert problems(raw) == ["app_cfg.exclude_libs: unknown key (did you mean 'exclude_lib'?)"]


def test_unknown_app_key_without_a_close_match():
    raw = config()
    raw["app_cfg"]["colour"] = "blue"
    assert problems(raw) == ["app_cfg.colour: unknown key (known keys: exclude_lib, intervals, hooks, healthcheck_url, source_timeout, stale_after, snapshot_group, scrub_every)"]


@pytest.mark.parametrize("intervals, expected", [
    (None, "app_cfg.intervals: missing: name each interval with its length in seconds"),
    (["hourly"], "app_cfg.intervals: must be a mapping of keys to values, got ['hourly']"),
    ("hourly", "app_cfg.intervals: must be a mapping of keys to values, got 'hourly'"),
    ({}, "app_cfg.intervals: is empty: name at least one interval"),
])
def test_intervals_missing_or_wrong(intervals, expected):
    raw = config(job(snapshots={"daily": 1}))
    raw["app_cfg"]["intervals"] = intervals
    assert problems(raw) == [expected,
                             "jobs_cfg[0].snapshots.daily: no such interval in app_cfg.intervals"]


@pytest.mark.parametrize("seconds", [0, -5, True, False, 3600.0, 1.5, "3600", None, [3600]])
def test_interval_length_must_be_a_whole_number_of_seconds(seconds):
    raw = config(job(snapshots={"daily": 1}), intervals={"daily": 86400, "hourly": seconds})
    assert problems(raw) == [
        f"app_cfg.intervals.hourly: must be a whole number of seconds >= 1, got {seconds!r}"]


@pytest.mark.parametrize("name", ["da.ily", "a/b", "x*", "..", ".", "-daily", "_x", "daily ",
                                  "dai ly", "d[1]", "a\\b", "ü", "", "x?", "daily.0", 7, None, True])
def test_interval_names_that_cannot_be_folder_names(name):
    raw = config(job(snapshots={"daily": 1}), intervals={"daily": 86400, name: 60})
    assert problems(raw) == [f"app_cfg.intervals.{name}: {INTERVAL_NAME_RULE}, got {name!r}"]


def test_bad_interval_name_and_bad_length_give_two_sentences():
    raw = config(job(snapshots={"daily": 1}), intervals={"daily": 86400, "x*": "soon"})
    assert problems(raw) == [
        f"app_cfg.intervals.x*: {INTERVAL_NAME_RULE}, got 'x*'",
        "app_cfg.intervals.x*: must be a whole number of seconds >= 1, got 'soon'",
    ]


@pytest.mark.parametrize("name", ["daily", "six-hourly", "a_b", "X1", "1h", "9"])
def test_good_interval_names(name):
    raw = config(job(snapshots={name: 1}), intervals={name: 60})
    assert validate_config(raw, CFG).intervals == {name: 60}


def test_exclude_lib_not_a_mapping():
    raw = config(exclude_lib=["a"])
    assert problems(raw) == ["app_cfg.exclude_lib: must be a mapping of keys to values, got ['a']"]


@pytest.mark.parametrize("patterns", ["foo", [""], ["  "], [1], None, {"a": 1}])
def test_exclude_lib_entry_must_be_a_list_of_patterns(patterns):
    raw = config(exclude_lib={"good": ["x"], "std": patterns})
    assert problems(raw) == [
        f"app_cfg.exclude_lib.std: must be a list of exclude patterns, got {patterns!r}"]


@pytest.mark.parametrize("jobs", [None, [], {}, "job", {"source_ip": "x"}])
def test_jobs_cfg_must_be_a_non_empty_list(jobs):
    raw = config()
    raw["jobs_cfg"] = jobs
    assert problems(raw) == [f"jobs_cfg: must be a list of one or more jobs, got {jobs!r}"]


@pytest.mark.parametrize("raw_job", ["job", None, ["a"], 3])
def test_job_not_a_mapping(raw_job):
    assert problems(config(job(), raw_job)) == [
        f"jobs_cfg[1]: must be a mapping of keys to values, got {raw_job!r}"]


def test_unknown_job_key_with_did_you_mean():
    assert problems(config(job(rsync_destination="/x"))) == [
        "jobs_cfg[0].rsync_destination: unknown key (did you mean 'rsync_dest'?)"]


def test_unknown_job_key_misspelt_snapshots():
    raw = config(job(snapshots=DROP, snapshot={"daily": 1}))
    assert problems(raw) == [
        "jobs_cfg[0].snapshot: unknown key (did you mean 'snapshots'?)",
        "jobs_cfg[0].snapshots: missing",
    ]


def test_unknown_job_key_without_a_close_match():
    assert problems(config(job(colour="red"))) == [
        "jobs_cfg[0].colour: unknown key (known keys: name, source_ip, rsync_src, rsync_dest, "
        "rsync_options, exclude_lists, excludes, snapshots, hooks, healthcheck_url, source_timeout, stale_after, snapshot_group, scrub_every)"]


@pytest.mark.parametrize("key", ["source_ip", "rsync_src", "rsync_dest", "snapshots"])
def test_each_required_job_key(key):
    assert problems(config(job(**{key: DROP}))) == [f"jobs_cfg[0].{key}: missing"]


def test_all_required_job_keys_missing():
    assert problems(config({"name": "empty"})) == [
        "jobs_cfg[0].source_ip: missing",
        "jobs_cfg[0].rsync_src: missing",
        "jobs_cfg[0].rsync_dest: missing",
        "jobs_cfg[0].snapshots: missing",
    ]


@pytest.mark.parametrize("ip", [192, 1.5, True, None, "my host", "", "a/b", "10.0.0.1;rm", ["x"]])
def test_source_ip_must_be_a_host(ip):
    assert problems(config(job(source_ip=ip))) == [
        f"jobs_cfg[0].source_ip: must be an IP address or host name in quotes, got {ip!r}"]


@pytest.mark.parametrize("ip", ["127.0.0.1", "192.168.178.20", "nas", "nas.fritz.box", "::1",
                                "fe80::1%eth0", "my-nas"])
def test_good_source_ips(ip):
    assert validate_config(config(job(source_ip=ip)), CFG).jobs[0].source_ip == ip


@pytest.mark.parametrize("key", ["rsync_src", "rsync_dest"])
@pytest.mark.parametrize("value", [5, "", "   ", None, ["/a"], True])
def test_folder_paths_must_be_text(key, value):
    assert problems(config(job(**{key: value}))) == [
        f"jobs_cfg[0].{key}: must be a folder path, got {value!r}"]


def test_both_paths_wrong_gives_two_sentences():
    assert problems(config(job(rsync_src=1, rsync_dest=2))) == [
        "jobs_cfg[0].rsync_src: must be a folder path, got 1",
        "jobs_cfg[0].rsync_dest: must be a folder path, got 2",
    ]


@pytest.mark.parametrize("src, dest, expected", [
    ("/data", "/data/backup", "jobs_cfg[0].rsync_dest: lies inside rsync_src: every backup would "
                              "copy the backups again"),
    ("/", "/mnt/backup", "jobs_cfg[0].rsync_dest: lies inside rsync_src: every backup would "
                         "copy the backups again"),
    ("/mnt/backup/home", "/mnt/backup", "jobs_cfg[0].rsync_src: lies inside rsync_dest, among the "
                                        "snapshots"),
    ("/data", "/data", "jobs_cfg[0]: rsync_src and rsync_dest are the same folder"),
    ("/data/", "/data/./", "jobs_cfg[0]: rsync_src and rsync_dest are the same folder"),
])
def test_nesting(src, dest, expected):
    assert problems(config(job(rsync_src=src, rsync_dest=dest, name="j"))) == [expected]


@pytest.mark.parametrize("src, dest", [("/data", "/data2"), ("/data2", "/data"), ("/a/b", "/a/c")])
def test_siblings_are_not_nested(src, dest):
    loaded = validate_config(config(job(rsync_src=src, rsync_dest=dest, name="j")), CFG)
    assert (loaded.jobs[0].source, loaded.jobs[0].destination) == (src, dest)


def test_nesting_through_a_symlink_is_left_to_the_run(tmp_path):
    """The config is read without looking at the disks (a source share may hang): a
    destination that is a symlink into the source passes here, and the run refuses the job
    once the source's real path is known (tests/integration/test_source_checks.py)."""
    (tmp_path / "data" / "backup").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "data" / "backup")
    raw = config(job(rsync_src="data", rsync_dest="link", name="j"))
    loaded = validate_config(raw, str(tmp_path / "config.yaml"))
    assert (loaded.jobs[0].source, loaded.jobs[0].destination) == (
        str(tmp_path / "data"), str(tmp_path / "link"))
    assert nesting_problem(os.path.realpath(loaded.jobs[0].source),
                           os.path.realpath(loaded.jobs[0].destination)) == (
        "rsync_dest", "lies inside rsync_src: every backup would copy the backups again")


@pytest.mark.parametrize("name", [5, "", "  ", None, ["a"]])
def test_name_must_be_text(name):
    assert problems(config(job(name=name))) == [f"jobs_cfg[0].name: must be a short text, got {name!r}"]


@pytest.mark.parametrize("snapshots", [["daily"], "daily", 3])
def test_snapshots_not_a_mapping(snapshots):
    assert problems(config(job(snapshots=snapshots))) == [
        f"jobs_cfg[0].snapshots: must be a mapping of keys to values, got {snapshots!r}"]


def test_snapshot_of_an_unknown_interval():
    raw = config(job(snapshots={"daily": 1, "fortnightly": 2}))
    assert problems(raw) == ["jobs_cfg[0].snapshots.fortnightly: no such interval in app_cfg.intervals"]


@pytest.mark.parametrize("keep", ["three", -1, True, False, 1.5, 2.0, None, [1]])
def test_keep_count_must_be_a_whole_number(keep):
    raw = config(job(), job(name="second", rsync_dest="/vhpi-test-nowhere/d2",
                            snapshots={"daily": 1, "hourly": keep}))
    assert problems(raw) == [f"jobs_cfg[1].snapshots.hourly: must be a whole number >= 0, got {keep!r}"]


def test_all_keep_counts_zero():
    raw = config(job(snapshots={"hourly": 0, "daily": 0}))
    assert problems(raw) == [
        "jobs_cfg[0].snapshots: every keep count is 0, so this job would never make a snapshot"]


def test_exclude_lists_not_a_list():
    raw = config(job(exclude_lists="std"), exclude_lib={"std": ["a"]})
    assert problems(raw) == [
        "jobs_cfg[0].exclude_lists: must be a list of names from app_cfg.exclude_lib, got 'std'"]


def test_exclude_lists_names_an_unknown_list():
    raw = config(job(exclude_lists=["std", "nope", "std2"]), exclude_lib={"std": ["a"]})
    assert problems(raw) == [
        "jobs_cfg[0].exclude_lists[1]: no list 'nope' in app_cfg.exclude_lib",
        "jobs_cfg[0].exclude_lists[2]: no list 'std2' in app_cfg.exclude_lib",
    ]


def test_exclude_lists_without_any_exclude_lib():
    assert problems(config(job(exclude_lists=["std"]))) == [
        "jobs_cfg[0].exclude_lists[0]: no list 'std' in app_cfg.exclude_lib"]


@pytest.mark.parametrize("excludes", ["tmp", [""], [1], {"a": 1}])
def test_excludes_must_be_a_list_of_patterns(excludes):
    assert problems(config(job(excludes=excludes))) == [
        f"jobs_cfg[0].excludes: must be a list of exclude patterns, got {excludes!r}"]


@pytest.mark.parametrize("options", [["-a"], "", "   ", 5, True])
def test_rsync_options_must_be_text(options):
    assert problems(config(job(rsync_options=options))) == [
        f"jobs_cfg[0].rsync_options: must be a string of rsync options, got {options!r}"]


def test_rsync_options_problems_are_reported_per_job():
    raw = config(job(), job(name="b", rsync_dest="/vhpi-test-nowhere/d2",
                            rsync_options="-anv --delete --inplace /home"))
    assert problems(raw) == [
        "jobs_cfg[1].rsync_options: -n (--dry-run) is not allowed: use `vhpi --dry-run` instead",
        "jobs_cfg[1].rsync_options: --inplace is not allowed: writes into existing files in place, "
        "and so through the hard links into every older snapshot",
        "jobs_cfg[1].rsync_options: '/home' is not an option; give source and destination as "
        "rsync_src and rsync_dest",
    ]


def test_rsync_options_unbalanced_quote():
    assert problems(config(job(rsync_options="-a --exclude 'x"))) == [
        "jobs_cfg[0].rsync_options: cannot split into words: No closing quotation"]


def test_duplicate_job_names():
    raw = config(job(name="home"), job(name="home", rsync_dest="/vhpi-test-nowhere/d2"),
                 job(name="home", rsync_dest="/vhpi-test-nowhere/d3"))
    assert problems(raw) == [
        "jobs_cfg[1].name: 'home' is already the name of jobs_cfg[0]; give each job its own name",
        "jobs_cfg[2].name: 'home' is already the name of jobs_cfg[0]; give each job its own name",
    ]


def test_duplicate_default_names_from_the_destination_folder():
    raw = config(job(rsync_dest="/mnt/a/backup"), job(rsync_dest="/mnt/b/backup"))
    assert problems(raw) == [
        "jobs_cfg[1].name: 'backup' is already the name of jobs_cfg[0]; give each job its own name"]


def test_duplicate_destinations():
    raw = config(job(name="a", rsync_src="/s1"), job(name="b", rsync_src="/s2", rsync_dest=DEST + "/"))
    assert problems(raw) == ["jobs_cfg[1].rsync_dest: is also the destination of jobs_cfg[0]"]


def test_duplicate_name_and_destination_together():
    raw = config(job(), job())
    assert problems(raw) == [
        "jobs_cfg[1].name: 'dest' is already the name of jobs_cfg[0]; give each job its own name",
        "jobs_cfg[1].rsync_dest: is also the destination of jobs_cfg[0]",
    ]


def test_several_problems_reported_at_once():
    raw = {
        "app_cfg": {"intervals": {"hourly": 3600, "da.ily": 86400, "weekly": True},
                    "exclude_lib": {"std": "not-a-list"}, "extra": 1},
        "jobs_cfg": [
            job(snapshots={"fortnightly": 1, "hourly": 2}, exclude_lists=["std"]),
            job(name="two", rsync_dest="/vhpi-test-nowhere/d2", snapshots={"hourly": "three"},
                rsync_options="-a --append"),
            job(name="three", rsync_src="/vhpi-test-nowhere/d3/inner",
                rsync_dest="/vhpi-test-nowhere/d3", snapshots={"hourly": 1}, sourceip="x"),
        ],
    }
    assert problems(raw) == [
        "app_cfg.extra: unknown key (known keys: exclude_lib, intervals, hooks, healthcheck_url, source_timeout, stale_after, snapshot_group, scrub_every)",
        f"app_cfg.intervals.da.ily: {INTERVAL_NAME_RULE}, got 'da.ily'",
        "app_cfg.intervals.weekly: must be a whole number of seconds >= 1, got True",
        "app_cfg.exclude_lib.std: must be a list of exclude patterns, got 'not-a-list'",
        "jobs_cfg[0].snapshots.fortnightly: no such interval in app_cfg.intervals",
        "jobs_cfg[0].exclude_lists[0]: no list 'std' in app_cfg.exclude_lib",
        "jobs_cfg[1].snapshots.hourly: must be a whole number >= 0, got 'three'",
        "jobs_cfg[1].rsync_options: --append is not allowed: writes into existing files in place, "
        "and so through the hard links into every older snapshot",
        "jobs_cfg[2].sourceip: unknown key (did you mean 'source_ip'?)",
        "jobs_cfg[2].rsync_src: lies inside rsync_dest, among the snapshots",
    ]


def test_config_error_problems_is_a_copy():
    given = ["a: b"]
    error = ConfigError(given)
    given.append("c: d")
    assert error.problems == ["a: b"]
    assert str(error) == "a: b"


# ---------------------------------------------------------------- bugs found

def test_duplicate_indices_after_an_invalid_job():
    raw = config(job(source_ip=5, rsync_dest="/vhpi-test-nowhere/d0"),
                 job(name="x", rsync_dest="/vhpi-test-nowhere/d1"),
                 job(name="x", rsync_dest="/vhpi-test-nowhere/d2"))
    assert problems(raw) == [
        "jobs_cfg[0].source_ip: must be an IP address or host name in quotes, got 5",
        "jobs_cfg[2].name: 'x' is already the name of jobs_cfg[1]; give each job its own name",
    ]


@pytest.mark.parametrize("snapshots", [{}, None])
def test_job_without_any_interval_is_rejected(snapshots):
    assert problems(config(job(snapshots=snapshots))) != []


def test_interval_name_with_a_trailing_newline_is_rejected():
    raw = config(job(snapshots={"daily\n": 1}), intervals={"daily\n": 86400})
    assert problems(raw) == [f"app_cfg.intervals.daily\n: {INTERVAL_NAME_RULE}, got 'daily\\n'",
                             "jobs_cfg[0].snapshots.daily\n: no such interval in app_cfg.intervals"]


def test_source_ip_with_a_trailing_newline_is_rejected():
    assert problems(config(job(source_ip="10.0.0.1\n"))) == [
        "jobs_cfg[0].source_ip: must be an IP address or host name in quotes, got '10.0.0.1\\n'"]


def test_duplicate_destination_through_a_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    raw = config(job(name="a", rsync_src="/s1", rsync_dest=str(tmp_path / "real")),
                 job(name="b", rsync_src="/s2", rsync_dest=str(tmp_path / "alias")))
    loaded = validate_config(raw, CFG)
    assert real_destination_problems(loaded) == [
        "jobs_cfg[1].rsync_dest: is also the destination of jobs_cfg[0]"]


@pytest.mark.parametrize("timeout, expected", [
    (None, DEFAULT_SOURCE_TIMEOUT), (1, 1), (2.5, 2.5), (86400, 86400)])
def test_source_timeout_default_and_job_value(timeout, expected):
    keys = {} if timeout is None else {"source_timeout": timeout}
    assert validate_config(config(job(**keys)), CFG).jobs[0].source_timeout == expected


def test_source_timeout_of_app_cfg_is_every_job_default_and_a_job_overrides_it():
    raw = config(job(name="a", rsync_dest="/d1"), job(name="b", rsync_dest="/d2", source_timeout=7))
    raw["app_cfg"]["source_timeout"] = 30
    assert [job.source_timeout for job in validate_config(raw, CFG).jobs] == [30, 7]


@pytest.mark.parametrize("value", [0, 0.5, -3, 86401, True, "60", [60], float("nan")])
def test_source_timeout_must_be_seconds_from_1_to_a_day(value):
    assert problems(config(job(source_timeout=value))) == [
        f"jobs_cfg[0].source_timeout: must be a number of seconds from 1 to 86400 (how long a "
        f"source may go without answering), got {value!r}"]


# ---------------------------------------------------------------- reading the file

def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.problems == [f"{path}: no such config file (`vhpi init` writes a commented one to start from)"]


def test_missing_file_under_home_names_the_expanded_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError) as caught:
        load("~/.very_hungry_pi/config.yaml")
    assert caught.value.problems == [
        f"{tmp_path}/.very_hungry_pi/config.yaml: no such config file (`vhpi init` writes a commented one to start from)"]


def test_a_folder_instead_of_a_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(str(tmp_path))
    assert caught.value.problems == [f"{tmp_path}: is a folder, not a config file"]


def test_a_path_through_a_file(tmp_path):
    path = write(tmp_path, "x: 1\n")
    with pytest.raises(ConfigError) as caught:
        read_config_text(path + "/more.yaml")
    assert caught.value.problems == [f"{path}/more.yaml: cannot read it: Not a directory"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may read any file")
def test_unreadable_file(tmp_path):
    path = write(tmp_path, "x: 1\n")
    os.chmod(path, 0)
    with pytest.raises(ConfigError) as caught:
        read_config_text(path)
    assert caught.value.problems == [f"{path}: not allowed to read it (check its owner and mode)"]


@pytest.mark.parametrize("data, reason, position", [
    (b"app_cfg:\n  x: caf\xe9\n", "invalid continuation byte", 17),
    (b"\xff\xfeapp_cfg: {}\n", "invalid start byte", 0),
    (b"jobs_cfg: []\n# \xc3", "unexpected end of data", 15),
])
def test_not_utf8(tmp_path, data, reason, position):
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.problems == [f"{path}: not UTF-8 text ({reason} at byte {position})"]


def test_not_utf8_far_into_a_big_file(tmp_path):
    data = b"# " + b"x" * 100_000 + b"\n" + b"a: \xff\n"
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.problems == [f"{path}: not UTF-8 text (invalid start byte at byte 100006)"]


@pytest.mark.parametrize("text", ["", "\n", "   \n\t\n"])
def test_empty_file(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.problems == [f"{path}: the file is empty"]


def test_comment_only_file_says_so(tmp_path):
    path = write(tmp_path, "# nothing here yet\n")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.problems == [f"{path}: holds no settings, only comments"]


@pytest.mark.parametrize("text, line, column, problem", [
    ("app_cfg:\n\tintervals: {}\n", 2, 1, "found character '\\t' that cannot start any token"),
    ("app_cfg: {intervals: [1, 2\n", 2, 1, "expected ',' or ']', but got '<stream end>'"),
    ("app_cfg: a: b\n", 1, 11, "mapping values are not allowed here"),
    ("key: 'unclosed\n", 2, 1, "found unexpected end of stream"),
    ("a: 1\nb: *nowhere\n", 2, 4, "found undefined alias 'nowhere'"),
    ("a: !!python/object:os.system x\n", 1, 4,
     "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object:os.system'"),
    ("--- a\n--- b\n", 2, 1, "but found another document"),
    ("app_cfg:\n  intervals:\n    daily: 1\n   weekly: 2\n", 4, 4,
     "expected <block end>, but found '<block mapping start>'"),
])
def test_broken_yaml_names_file_line_and_column(tmp_path, text, line, column, problem):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.problems == [f"{path}, line {line}, column {column}: {problem}"]


def test_control_character_error_gets_line_and_column(tmp_path):
    path = write(tmp_path, "app_cfg:\n  x: \x01\n")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.problems == [
        f"{path}, line 2, column 6: character '\\x01' is not allowed in YAML "
        "(special characters are not allowed)"]


@pytest.mark.parametrize("text, line, column, key", [
    ("app_cfg: {}\napp_cfg: {}\n", 2, 1, "'app_cfg'"),
    ("app_cfg:\n  intervals: {daily: 1, daily: 2}\n", 2, 25, "'daily'"),
    ("jobs_cfg:\n  - name: a\n    snapshots: {daily: 1}\n    snapshots: {daily: 2}\n", 4, 5, "'snapshots'"),
    ("1: a\n1: b\n", 2, 1, "1"),
    ("x: {true: 1, yes: 2}\n", 1, 14, "True"),
])
def test_duplicate_yaml_keys(tmp_path, text, line, column, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.problems == [f"{path}, line {line}, column {column}: duplicate key {key}"]


def test_parse_config_text_keeps_distinct_keys_and_types():
    assert parse_config_text("p", "a: 1\nb: [x, 'y']\nc: {d: null}\n'1': one\n1: int\n") == {
        "a": 1, "b": ["x", "y"], "c": {"d": None}, "1": "one", 1: "int"}


def test_unquoted_ip_stays_text_and_bool_words_become_bools(tmp_path):
    path = write(tmp_path, "app_cfg: {intervals: {daily: yes}}\n"
                           "jobs_cfg: [{source_ip: 10.0.0.2, rsync_src: /vhpi-t/s, rsync_dest: /vhpi-t/d,"
                           " snapshots: {daily: on}}]\n")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.problems == [
        "app_cfg.intervals.daily: must be a whole number of seconds >= 1, got True",
        "jobs_cfg[0].snapshots.daily: no such interval in app_cfg.intervals",
    ]


def test_yaml_merge_keys_work():
    assert parse_config_text("/p.yaml", "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n") == {
        "base": {"x": 1, "y": 2}, "other": {"x": 1, "y": 3}}


def test_unhashable_yaml_key_is_a_config_error():
    with pytest.raises(ConfigError):
        parse_config_text("/p.yaml", "? [a, b]\n: 1\n")


def test_stale_after_and_snapshot_group_defaults_and_overrides():
    raw = config(job(name="a", rsync_dest="/d1"),
                 job(name="b", rsync_dest="/d2", stale_after=7200, snapshot_group="family"))
    loaded = validate_config(raw, CFG).jobs
    assert [(j.stale_after, j.snapshot_group) for j in loaded] == [(3 * 86400, None), (7200, "family")]
    raw["app_cfg"].update(stale_after=86400, snapshot_group="backup-readers")
    loaded = validate_config(raw, CFG).jobs
    assert [(j.stale_after, j.snapshot_group) for j in loaded] == [(86400, "backup-readers"),
                                                                   (7200, "family")]


@pytest.mark.parametrize("key, value, message", [
    ("stale_after", 60, "must be a whole number of seconds of at least 3600"),
    ("stale_after", "3d", "must be a whole number of seconds of at least 3600"),
    ("snapshot_group", "no spaces", "must be the name of a group of this system"),
    ("snapshot_group", 1000, "must be the name of a group of this system"),
])
def test_stale_after_and_snapshot_group_are_checked(key, value, message):
    found = problems(config(job(**{key: value})))
    assert len(found) == 1 and found[0].startswith(f"jobs_cfg[0].{key}: {message}"), found
