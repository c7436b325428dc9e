"""vhpi.decide.work_names: the names of work in progress in DEST/.vhpi/work/, and what the
names there say about a rotation a crash cut short."""

import pytest

from vhpi.decide.work_names import (BUILDING, READY, SET_ASIDE, TRASH, building_name, dropped_trash_name,
                                    has_pending_drop, keeps_contents_only, parse_ready_name,
                                    pending_recycled, ready_by_time, ready_name, recycled_trash_name,
                                    set_aside_name, trash_prefix)


@pytest.mark.parametrize("interval, taken_at, name", [
    ("daily", 1700000000.0, "ready.daily@1700000000.000"),
    ("six-hourly", 1700000000.1234, "ready.six-hourly@1700000000.123"),
    ("a@b", 12.5, "ready.a@b@12.500"),            # the time is after the last "@"
    ("hourly", 0.0, "ready.hourly@0.000"),
])
def test_ready_names_round_trip(interval, taken_at, name):
    assert ready_name(interval, taken_at) == name
    parsed_interval, parsed_time = parse_ready_name(name)
    assert parsed_interval == interval
    assert parsed_time == pytest.approx(taken_at, abs=0.0005)


@pytest.mark.parametrize("name", [
    "ready.daily",                  # no time
    "building.daily",
    "trash.daily.3.99",
    "ready.daily@soon",             # not a number
    "daily.0",
    "",
])
def test_other_names_are_not_ready_names(name):
    with pytest.raises(ValueError):
        parse_ready_name(name)


@pytest.mark.parametrize("names, expected", [
    ([], []),
    (["building.daily", "trash.daily.3.1", "ready.daily@oops"], []),
    (["ready.daily@20.000", "ready.hourly@10.000", "unshare.tmp"],
     [("hourly", 10.0, "ready.hourly@10.000"), ("daily", 20.0, "ready.daily@20.000")]),
    (["ready.weekly@30.000", "ready.daily@30.000", "ready.hourly@5.500"],
     [("hourly", 5.5, "ready.hourly@5.500"), ("weekly", 30.0, "ready.weekly@30.000"),
      ("daily", 30.0, "ready.daily@30.000")]),              # equal times keep their order
])
def test_ready_by_time_is_oldest_first(names, expected):
    assert ready_by_time(names) == expected


@pytest.mark.parametrize("name, pid, aside", [
    ("building.daily", 42, "set-aside.building.daily@42"),
    ("unshare.tmp", 7, "set-aside.unshare.tmp@7"),
    ("set-aside.building.daily@42", 99, "set-aside.building.daily@42"),   # set aside before
])
def test_set_aside_name(name, pid, aside):
    assert set_aside_name(name, pid) == aside
    assert aside.startswith(SET_ASIDE)


@pytest.mark.parametrize("interval, number, pid, trash", [
    ("daily", 6, 1234, "trash.daily.6.1234"),
    ("six-hourly", 0, 1, "trash.six-hourly.0.1"),
])
def test_dropped_trash_name(interval, number, pid, trash):
    assert dropped_trash_name(interval, number, pid) == trash
    assert trash.startswith(trash_prefix(interval))


@pytest.mark.parametrize("interval, taken_at, trash", [
    ("daily", 1700000000.0, "trash.daily.recycled@1700000000.000"),
    ("hourly", 1.23456, "trash.hourly.recycled@1.235"),
])
def test_recycled_trash_name(interval, taken_at, trash):
    assert recycled_trash_name(interval, taken_at) == trash
    assert trash.startswith(TRASH + interval + ".")


def test_building_name():
    assert building_name("daily") == "building.daily"
    assert building_name("daily").startswith(BUILDING)
    assert ready_name("daily", 1.0).startswith(READY)


@pytest.mark.parametrize("names, interval, pending", [
    ([], "daily", False),
    (["trash.daily.6.1234"], "daily", True),
    (["trash.daily.recycled@10.000"], "daily", True),
    (["trash.six-daily.6.1"], "daily", False),      # another interval ending in the same word
    (["trash.daily.6.1"], "six-daily", False),
    (["trash.dailyish.2.1"], "daily", False),
    (["ready.daily@10.000", "building.daily"], "daily", False),
])
def test_has_pending_drop(names, interval, pending):
    assert has_pending_drop(names, interval) is pending


@pytest.mark.parametrize("names, recorded, pending", [
    ([], {}, []),
    # recycled, the new snapshot recorded at the same time: done
    (["trash.daily.recycled@10.000"], {"daily": 10.0}, []),
    # recycled, but the state still has the older time: the drop is pending
    (["trash.daily.recycled@10.000"], {"daily": 5.0}, ["daily"]),
    (["trash.daily.recycled@10.000"], {}, ["daily"]),
    # a plain rotation's trash is no recycling drop
    (["trash.daily.6.1234", "ready.daily@10.000"], {}, []),
    (["trash.daily.recycled@10.000", "trash.hourly.recycled@11.000"], {"hourly": 11.0}, ["daily"]),
    # the recycled mark outside the trash means nothing
    (["ready.daily.recycled@10.000"], {}, []),
])
def test_pending_recycled(names, recorded, pending):
    assert pending_recycled(names, recorded) == pending


@pytest.mark.parametrize("name, pending, keeps", [
    ("trash.daily.recycled@10.000", ["daily"], True),
    ("trash.daily.recycled@10.000", [], False),
    ("trash.daily.recycled@10.000", ["hourly"], False),
    ("trash.daily.6.1234", ["daily"], False),          # a plain drop always goes whole
    ("trash.six-daily.recycled@1.000", ["daily"], False),
])
def test_keeps_contents_only(name, pending, keeps):
    assert keeps_contents_only(name, pending) is keeps
