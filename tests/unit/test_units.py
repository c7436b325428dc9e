"""vhpi.decide.units: byte counts for people."""

import pytest

from vhpi.decide.units import human_bytes


@pytest.mark.parametrize("count, text", [
    (0, "0 B"),
    (1, "1 B"),
    (1023, "1023 B"),
    (1024, "1.0 KiB"),
    (1536, "1.5 KiB"),
    (1024 ** 2, "1.0 MiB"),
    (int(2.25 * 1024 ** 3), "2.2 GiB"),
    (3 * 1024 ** 4, "3.0 TiB"),
    (5 * 1024 ** 5, "5120.0 TiB"),      # TiB is the largest unit
    (-2048, "-2.0 KiB"),
])
def test_human_bytes(count, text):
    assert human_bytes(count) == text


@pytest.mark.skipif(not hasattr(__import__("time"), "tzset"), reason="needs time.tzset")
@pytest.mark.parametrize("tz, moment, text", [
    ("UTC0", 0, "1970-01-01 00:00:00"),
    ("UTC0", 1_700_000_000.9, "2023-11-14 22:13:20"),      # fractions are cut, not rounded
    ("CET-1", 1_700_000_000, "2023-11-14 23:13:20"),
])
def test_format_moment_in_local_time(monkeypatch, tz, moment, text):
    import time
    from vhpi.decide.units import format_moment
    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        assert format_moment(moment) == text
    finally:
        monkeypatch.undo()
        time.tzset()
