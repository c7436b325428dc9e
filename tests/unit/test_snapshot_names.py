"""vhpi.decide.snapshot_names: exact `<interval>.<n>` names."""

import pytest

from vhpi.decide.snapshot_names import LATEST_NAME, snapshot_name, snapshot_number, snapshot_numbers


@pytest.mark.parametrize("interval, number, name", [
    ("daily", 0, "daily.0"),
    ("six-hourly", 12, "six-hourly.12"),
    ("a_b", 100, "a_b.100"),
])
def test_snapshot_name(interval, number, name):
    assert snapshot_name(interval, number) == name
    assert snapshot_number(name, interval) == number


@pytest.mark.parametrize("folder, number", [
    ("daily.0", 0),
    ("daily.1", 1),
    ("daily.10", 10),
    ("daily.1234567", 1234567),
])
def test_matching_names(folder, number):
    assert snapshot_number(folder, "daily") == number


@pytest.mark.parametrize("folder", [
    "six-daily.0",      # another interval that ends in the same word
    "daily.01",         # not canonical
    "daily.00",
    "daily.x",
    "daily.",
    "daily.-1",
    "daily.+1",
    "daily. 1",
    "daily.1 ",
    "daily.1.2",
    "daily.1a",
    "daily.\u00b2",     # superscript two: str.isdigit() says True
    "daily.\u0663",     # Arabic-Indic three: int() would accept it
    "daily.\uff11",     # full-width one
    "daily0",
    "daily",
    "Daily.0",
    "xdaily.0",
    "daily-old.0",
    "backup.latest",
    ".vhpi",
    ".backup_destination",
    "",
])
def test_names_that_never_match_daily(folder):
    assert snapshot_number(folder, "daily") is None


def test_interval_that_is_a_prefix_of_another():
    assert snapshot_number("daily.3", "six-daily") is None
    assert snapshot_number("six-daily.3", "six-daily") == 3
    assert snapshot_number("hourly.2", "hour") is None


def test_latest_is_never_a_snapshot_of_an_interval_named_backup():
    assert LATEST_NAME == "backup.latest"
    assert snapshot_number(LATEST_NAME, "backup") is None


def test_snapshot_numbers_sorted_and_exact():
    folders = ["daily.10", "daily.2", "six-daily.0", "daily.0", "daily.01", "backup.latest",
               "hourly.1", "daily.x", "daily.1", ".vhpi", "daily."]
    assert snapshot_numbers(folders, "daily") == [0, 1, 2, 10]
    assert snapshot_numbers(folders, "six-daily") == [0]
    assert snapshot_numbers(folders, "hourly") == [1]
    assert snapshot_numbers(folders, "weekly") == []


def test_snapshot_numbers_of_nothing_and_of_a_generator():
    assert snapshot_numbers([], "daily") == []
    assert snapshot_numbers((f"daily.{n}" for n in (3, 1, 2)), "daily") == [1, 2, 3]
