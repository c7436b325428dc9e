"""The pure decisions of verify and the scrub: what a read inode is, the words, and how
much a scrub step reads."""

from __future__ import annotations

import pytest

from vhpi.decide.scrub_pace import MIN_STEP_BYTES, cycle_share, new_cycle_due, step_bytes
from vhpi.decide.verify_report import (Damaged, Finding, VerifyReport, advice, damage_words,
                                       finding_of, snapshots_of, sort_paths, summary_line)

A, B = b"a" * 32, b"b" * 32
GIB = 1 << 30
DAY = 86400.0


@pytest.mark.parametrize("recorded, digest, read_error, expected", [
    (A, A, False, Finding.INTACT),
    (A, B, False, Finding.DAMAGED),
    (None, B, False, Finding.RECORDED),
    (A, None, False, Finding.CHANGED),    # changed while read: not judged
    (None, None, False, Finding.CHANGED),
    (A, None, True, Finding.DAMAGED),     # the disk could not read it
    (None, None, True, Finding.DAMAGED),
])
def test_finding_of(recorded, digest, read_error, expected):
    assert finding_of(recorded, digest, read_error) is expected


@pytest.mark.parametrize("started, finished, period, now, due", [
    (None, None, DAY, 0.0, True),               # never scrubbed
    (0.0, None, DAY, 5 * DAY, False),           # a cycle in progress goes on, however late
    (0.0, 100.0, DAY, DAY - 1, False),          # finished, the period not over
    (0.0, 100.0, DAY, DAY, True),
    (10 * DAY, 10 * DAY + 5, DAY, 0.0, False),  # the clock went back: wait
])
def test_new_cycle_due(started, finished, period, now, due):
    assert new_cycle_due(started, finished, period, now) is due


@pytest.mark.parametrize("total, done, now, expected", [
    (30 * GIB, 0, 0.0, MIN_STEP_BYTES),               # at the start: the least step
    (30 * GIB, 0, DAY, GIB),                          # a day of 30 gone by: a thirtieth
    (30 * GIB, GIB, DAY, MIN_STEP_BYTES),             # on time already: the least step
    (30 * GIB, 0, 60 * DAY, 30 * GIB),                # late: everything left
    (30 * GIB, 30 * GIB, DAY, 0),                     # nothing left
    (10 << 20, 0, 0.0, 10 << 20),                     # less than a step left: that much
    (30 * GIB, 0, -5 * DAY, MIN_STEP_BYTES),          # the clock went back
])
def test_step_bytes(total, done, now, expected):
    assert step_bytes(total, done, 0.0, 30 * DAY, now) == expected


def test_steps_every_hour_cover_everything_within_the_period():
    total, done, now, steps = 500 * GIB, 0, 0.0, 0
    while done < total:
        done += step_bytes(total, done, 0.0, 30 * DAY, now)
        now += 3600.0
        steps += 1
    assert now <= 30 * DAY + 3600.0 and steps > 100


@pytest.mark.parametrize("done, total, finished, expected", [
    (50, 200, None, 25.0), (0, 0, None, None), (200, 200, 5.0, None), (300, 200, None, 100.0)])
def test_cycle_share(done, total, finished, expected):
    assert cycle_share(done, total, finished) == expected


def test_paths_and_snapshots_put_backup_latest_last():
    paths = ["backup.latest/a", "daily.1/a", "hourly.0/a"]
    assert sort_paths(paths) == ["daily.1/a", "hourly.0/a", "backup.latest/a"]
    assert snapshots_of(paths + ["daily.1/b"]) == ["daily.1", "hourly.0", "backup.latest"]


def test_summary_and_damage_words():
    report = VerifyReport("home", "every snapshot")
    for finding in (Finding.INTACT, Finding.INTACT, Finding.RECORDED, Finding.DAMAGED):
        report.add(finding, 1 << 20)
    report.seconds = 2.0
    report.damaged = [Damaged(1 << 20, [f"daily.{n}/x"], [f"daily.{n}"]) for n in range(5)]
    line = summary_line(report)
    assert line.startswith("job home: every snapshot: 4 files (4.0 MiB) read in 2.0 s (2.0 MiB/s)")
    assert "2 intact, 1 had no checksum (now recorded), 5 damaged" in line
    assert not report.fine
    words = damage_words(report)
    assert words.startswith("5 damaged file(s) in the backups (daily.0/x, daily.1/x, daily.2/x and 2 more)")


@pytest.mark.parametrize("good, share, second, expected", [
    ("daily.3", "/src/x", "two", "vhpi restore home daily.3 docs/x"),
    (None, "/src/x", "two", "the share still has a file of the same size and time (/src/x)"),
    (None, None, "two", "job two backs up the same share"),
    (None, None, None, "no other copy is known"),
])
def test_advice_names_the_best_source_of_a_good_copy(good, share, second, expected):
    assert expected in advice(good, share, second, "home", "docs/x")
