"""vhpi.decide.selection: a job and a snapshot chosen by the names the user typed, and a
job's intervals in order."""

import pytest

from vhpi.config.model import Config, Job
from vhpi.decide.selection import NotFound, Snapshot, find_job, find_snapshot, intervals_by_length


def job(name: str, keep_counts=None) -> Job:
    return Job(name, "127.0.0.1", "/src/", f"/dest/{name}", (), (), keep_counts or {"daily": 7})


def config(*names: str) -> Config:
    return Config("/etc/vhpi.yaml", {"hourly": 3600, "daily": 86400}, tuple(job(name) for name in names))


@pytest.mark.parametrize("names, wanted, found", [
    (["home"], None, "home"),              # the only job needs no name
    (["home"], "home", "home"),
    (["home", "photos"], "photos", "photos"),
    (["home", "photos"], "home", "home"),
])
def test_find_job(names, wanted, found):
    assert find_job(config(*names), wanted).name == found


@pytest.mark.parametrize("names, wanted, message", [
    (["home", "photos"], None, "name a job: home, photos"),
    (["home", "photos"], "music", "no job 'music' in /etc/vhpi.yaml; the jobs are: home, photos"),
    (["home"], "Home", "no job 'Home' in /etc/vhpi.yaml; the jobs are: home"),
])
def test_find_job_says_which_jobs_there_are(names, wanted, message):
    with pytest.raises(NotFound) as raised:
        find_job(config(*names), wanted)
    assert str(raised.value) == message


SNAPSHOTS = (Snapshot("hourly.0", "/d/hourly.0", "hourly", 0, 10.0),
             Snapshot("daily.0", "/d/daily.0", "daily", 0, None),
             Snapshot("backup.latest", "/d/backup.latest", None, None, None))


@pytest.mark.parametrize("name, found", [
    ("hourly.0", "hourly.0"),
    ("daily.0/", "daily.0"),          # as the shell completes a folder
    ("latest", "backup.latest"),
    ("backup.latest", "backup.latest"),
])
def test_find_snapshot(name, found):
    assert find_snapshot(SNAPSHOTS, name).name == found


@pytest.mark.parametrize("snapshots, name, message", [
    (SNAPSHOTS, "daily.1", "no snapshot 'daily.1'; there are: hourly.0, daily.0, backup.latest"),
    ((), "latest", "no snapshot 'latest'; there are: none"),
])
def test_find_snapshot_says_which_there_are(snapshots, name, message):
    with pytest.raises(NotFound) as raised:
        find_snapshot(snapshots, name)
    assert str(raised.value) == message


@pytest.mark.parametrize("keep_counts, intervals, order", [
    ({"daily": 7, "hourly": 24, "weekly": 4}, {"hourly": 3600, "daily": 86400, "weekly": 604800},
     ["hourly", "daily", "weekly"]),
    ({"b": 1, "a": 1}, {"a": 60, "b": 60}, ["a", "b"]),                 # equal lengths: by name
    ({"gone": 1, "daily": 1}, {"daily": 86400}, ["gone", "daily"]),     # unknown length counts as 0
])
def test_intervals_by_length(keep_counts, intervals, order):
    assert intervals_by_length(job("home", keep_counts), intervals) == order
