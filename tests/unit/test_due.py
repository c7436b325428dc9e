"""vhpi.decide.due: which intervals are due, the grace for early cron starts, and clock checks."""

import pytest

from vhpi.decide.due import (GRACE_LIMIT_SECONDS, clamp_to_now, stale_age, stale_limit, clock_is_behind, due_intervals,
                             grace_seconds, newest_recorded_time)

HOUR, DAY, WEEK = 3600, 86400, 604800
LENGTHS = {"hourly": HOUR, "daily": DAY, "weekly": WEEK}
NOW = 1_700_000_000.0


@pytest.mark.parametrize("length, grace", [
    (100, 1.0),          # 1 % of the interval
    (HOUR, 36.0),
    (20000, 200.0),
    (30000, 300.0),      # exactly at the cap
    (DAY, 300.0),        # capped
    (WEEK, 300.0),       # capped
    (31536000, 300.0),   # a year: still capped
])
def test_grace_seconds_is_one_percent_capped_at_five_minutes(length, grace):
    assert grace_seconds(length) == pytest.approx(grace)
    assert GRACE_LIMIT_SECONDS == 300.0


def test_never_run_intervals_are_all_due_shortest_first():
    keep = {"weekly": 2, "hourly": 3, "daily": 7}
    assert due_intervals(keep, LENGTHS, {}, NOW) == ["hourly", "daily", "weekly"]


@pytest.mark.parametrize("keep", [0, -1])
def test_keep_count_zero_or_below_switches_an_interval_off(keep):
    assert due_intervals({"hourly": keep, "daily": 1}, LENGTHS, {}, NOW) == ["daily"]


def test_keep_zero_interval_needs_no_known_length():
    # an interval that is switched off is skipped before its length is looked up
    assert due_intervals({"gone": 0, "daily": 1}, LENGTHS, {}, NOW) == ["daily"]


@pytest.mark.parametrize("name, elapsed, expected", [
    ("hourly", HOUR, True),            # exactly one length
    ("hourly", HOUR + 1, True),
    ("hourly", 10 * HOUR, True),
    ("hourly", HOUR - 0.5, True),      # cron started 0.5 s early
    ("hourly", HOUR - 36, True),       # right at the edge of the 36 s grace
    ("hourly", HOUR - 36.5, False),    # just outside the grace
    ("hourly", HOUR - 600, False),     # 10 minutes early is not due
    ("hourly", 0, False),
    ("hourly", -5, False),             # last snapshot in the future
    ("daily", DAY - 300, True),        # capped grace: 5 minutes
    ("daily", DAY - 301, False),
    ("daily", DAY - 600, False),
    ("weekly", WEEK - 299, True),
    ("weekly", WEEK - HOUR, False),
])
def test_due_after_length_less_grace(name, elapsed, expected):
    last = {name: NOW - elapsed}
    assert due_intervals({name: 1}, LENGTHS, last, NOW) == ([name] if expected else [])


def test_mixed_records_and_sorting_by_length_then_name():
    lengths = {"b-hour": HOUR, "a-hour": HOUR, "daily": DAY, "weekly": WEEK, "x": 60}
    keep = {"weekly": 1, "daily": 1, "b-hour": 1, "a-hour": 1, "x": 0}
    last = {"daily": NOW - 10, "weekly": NOW - WEEK, "b-hour": NOW - HOUR}
    # daily ran 10 s ago: not due; a-hour never ran; x is off
    assert due_intervals(keep, lengths, last, NOW) == ["a-hour", "b-hour", "weekly"]


def test_records_of_other_intervals_do_not_matter():
    last = {"daily": NOW, "hourly": NOW}
    assert due_intervals({"weekly": 1}, LENGTHS, last, NOW) == ["weekly"]


@pytest.mark.parametrize("records, now, behind", [
    ({}, NOW, False),
    ({"hourly": NOW - 10}, NOW, False),
    ({"hourly": NOW}, NOW, False),                       # equal is not behind
    ({"hourly": NOW + 0.001}, NOW, True),
    ({"hourly": NOW - HOUR, "daily": NOW + DAY}, NOW, True),
    ({"daily": 1_600_000_000.0}, 0.0, True),             # a Pi booted in 1970
])
def test_clock_is_behind(records, now, behind):
    assert clock_is_behind(records, now) is behind


@pytest.mark.parametrize("records, newest", [
    ({}, None),
    ({"a": 5.0}, 5.0),
    ({"a": 5.0, "b": 7.5, "c": 1.0}, 7.5),
])
def test_newest_recorded_time(records, newest):
    assert newest_recorded_time(records) == newest


def test_clamp_to_now_lowers_only_future_times_and_leaves_input_alone():
    records = {"hourly": NOW - 100, "daily": NOW + 500, "weekly": NOW, "monthly": NOW + 0.5}
    original = dict(records)
    assert clamp_to_now(records, NOW) == {"hourly": NOW - 100, "daily": NOW, "weekly": NOW,
                                          "monthly": NOW}
    assert records == original


def test_clamp_to_now_of_nothing():
    assert clamp_to_now({}, NOW) == {}


def test_after_clamping_the_clock_is_no_longer_behind_and_nothing_is_due_yet():
    records = {"hourly": NOW + DAY}
    assert clock_is_behind(records, NOW)
    clamped = clamp_to_now(records, NOW)
    assert not clock_is_behind(clamped, NOW)
    assert due_intervals({"hourly": 1}, LENGTHS, clamped, NOW) == []
    assert due_intervals({"hourly": 1}, LENGTHS, clamped, NOW + HOUR) == ["hourly"]


# ---------------------------------------------------------------- stale_after

DAY = 86400


@pytest.mark.parametrize("stale_after, intervals, limit", [
    (3 * DAY, {"hourly": 3600, "daily": DAY}, 3 * DAY),
    (3 * DAY, {"weekly": 7 * DAY, "monthly": 30 * DAY}, 14 * DAY),   # twice the shortest interval
    (3600, {"hourly": 3600}, 7200),
    (3 * DAY, {}, 3 * DAY),
])
def test_stale_limit_is_stale_after_but_at_least_two_shortest_intervals(stale_after, intervals, limit):
    assert stale_limit(stale_after, intervals) == limit


@pytest.mark.parametrize("times, now, age", [
    ({}, 10 * DAY, None),                                  # no snapshot yet: not stale
    ({"hourly": 0.0, "daily": 7 * DAY}, 10 * DAY, None),   # the newest counts: 3 days is not over
    ({"hourly": 0.0, "daily": 7 * DAY}, 10 * DAY + 1, 3 * DAY + 1),
    ({"hourly": 5 * DAY}, 4 * DAY, None),                  # a newest in the future is no age
])
def test_stale_age_is_the_newest_snapshots_age_once_over_the_limit(times, now, age):
    assert stale_age(times, now, 3 * DAY) == age


@pytest.mark.parametrize("times, first_run, age", [
    ({}, None, None),                    # never run: nothing to age
    ({}, 1 * DAY, 4 * DAY),              # no snapshot: counts from the first run
    ({}, 3 * DAY, None),
    ({"hourly": 4 * DAY}, 1 * DAY, None),   # a snapshot: the first run no longer counts
])
def test_a_job_without_snapshots_ages_from_its_first_run(times, first_run, age):
    assert stale_age(times, 5 * DAY, 3 * DAY, first_run) == age
