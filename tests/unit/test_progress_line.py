"""The progress line's figures (vhpi.decide.progress) and how often TerminalProgress
redraws it, from synthetic rsync --info=progress2 lines at made-up times.

rsync's own rate says "MB/s" and its time field counts the time taken so far, so vhpi
shows neither: its own rate (binary units) and a time left that, at a steady rate, only
ever goes down."""

import io
import re

import pytest

from tests.conftest import Clock
from vhpi.act.progress import TerminalProgress
from vhpi.decide.progress import (CopyProgress, Reading, Redraws, View, ends_run, format_duration,
                                  format_line, parse_reading)

MiB = 1 << 20


def rsync_line(copied: int, total: int, elapsed: float, files_left=None, listing=False) -> bytes:
    """A progress2 line as rsync writes it: its time field is the time taken so far."""
    percent = 100 if copied == total else int(100.0 * copied / total)
    seconds = int(elapsed)
    line = (f"{copied:>15,} {percent:>3}%   {copied / max(elapsed, 0.001) / 1e6:.2f}MB/s    "
            f"{seconds // 3600}:{seconds // 60 % 60:02}:{seconds % 60:02}")
    if files_left is not None:
        line += f" (xfr#7, {'ir' if listing else 'to'}-chk={files_left}/1000)"
    return line.encode()


def steady_copy(total: int, rate: float, every: float, start: float = 0.0):
    """(time, line) pairs of one rsync run copying `total` bytes at `rate` bytes a second,
    a line every `every` seconds and a last one at 100 %."""
    moment, lines = start, []
    while True:
        copied = min(total, int(rate * (moment - start)))
        lines.append((moment, rsync_line(copied, total, moment - start, files_left=1)))
        if copied == total:
            return lines
        moment += every


def etas_of(text: str):
    return [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in re.findall(r"ETA (\d+):(\d\d):(\d\d)", text)]


# ---------------------------------------------------------------- reading rsync's lines

@pytest.mark.parametrize("line, expected", [
    (b"   20000000 100%  514.66MB/s    0:00:00 (xfr#1, to-chk=0/2)", Reading(20000000, 100, False)),
    (b"      32768   0%    0.00kB/s    0:00:00  ", Reading(32768, 0, None)),
    (b"  1,234,567,890  42%   12.34MB/s    0:01:02", Reading(1234567890, 42, None)),
    (b"5 7% 1.00kB/s 12:03:04 (xfr#3, ir-chk=1000/2000)", Reading(5, 7, True)),
])
def test_a_reading_is_bytes_percent_and_whether_rsync_is_still_listing(line, expected):
    assert parse_reading(line) == expected


@pytest.mark.parametrize("line", [b"", b">f+++++++++ big.bin", b"   20000000 100%", b"Number of files: 2"])
def test_other_lines_are_no_reading(line):
    assert parse_reading(line) is None


def test_the_stats_report_ends_a_run():
    assert ends_run(b"Number of files: 2 (reg: 1, dir: 1)")
    assert not ends_run(b"Number of created files: 1")   # not the first line of the report
    assert not ends_run(b"   20000000 100%  514.66MB/s    0:00:00 (xfr#1, to-chk=0/2)")


# ---------------------------------------------------------------- rate and time left

def test_at_a_steady_rate_the_time_left_only_goes_down_and_is_right():
    total, rate = 100 * MiB, 5 * MiB   # 20 s; rsync's time field climbs from 0:00:00 to 0:00:20
    copy, seen = CopyProgress(), []
    for moment, line in steady_copy(total, rate, every=0.01):
        copy.add(parse_reading(line), moment)
        view = copy.view()
        if view.eta is not None:
            seen.append((moment, view.eta))
    assert seen and seen[0][0] < 1.0, seen[:3]   # known within the first second
    assert all(later <= earlier + 1e-9 for (_, earlier), (_, later) in zip(seen, seen[1:])), seen
    for moment, eta in seen:
        assert abs(eta - (20.0 - moment)) < 0.25, (moment, eta)
    assert seen[-1][1] == 0


def test_the_time_left_is_not_rsyncs_time_field():
    stream, clock = io.StringIO(), Clock()
    shown = TerminalProgress("pi", stream, clock=clock)
    for moment, line in steady_copy(100 * MiB, 5 * MiB, every=0.01):
        clock.now = 1000 + moment
        shown.show_rsync(line)
    shown.show_rsync(b"Number of files: 2 (reg: 1, dir: 1)")   # rsync's --stats: the pass is over
    etas = etas_of(stream.getvalue())
    assert len(etas) > 10, stream.getvalue()
    assert etas == sorted(etas, reverse=True), etas   # rsync's field would count 0, 1, 2, … 20
    assert etas[0] >= 18 and etas[-1] == 0, etas


def test_no_time_left_until_a_rate_is_known():
    copy = CopyProgress()
    copy.add(Reading(10 * MiB, 50, False), 0.0)
    assert copy.view() == View(10 * MiB, 50, 1, None, None, None)
    copy.add(Reading(11 * MiB, 55, False), 0.2)   # 0.2 s: too short to tell a rate
    assert copy.view().rate is None and copy.view().eta is None
    copy.add(Reading(15 * MiB, 75, False), 1.0)
    assert copy.view().rate == pytest.approx(5 * MiB)
    assert copy.view().eta == pytest.approx(1.0)   # 5 MiB of 20 MiB left at 5 MiB/s


def test_no_time_left_while_rsync_is_still_listing_the_source():
    copy = CopyProgress()
    copy.add(Reading(10 * MiB, 50, True), 0.0)
    copy.add(Reading(15 * MiB, 60, None), 1.0)   # still the listing: its total may grow
    assert copy.view().rate == pytest.approx(5 * MiB) and copy.view().eta is None
    copy.add(Reading(20 * MiB, 40, False), 2.0)   # listed: 40 % of about 50 MiB
    assert copy.view().eta == pytest.approx(30 / 5, rel=0.03)


def test_the_rate_is_recent():
    copy = CopyProgress()
    for second in range(30):   # 1 MiB/s for 20 s, then 10 MiB/s
        copy.add(Reading(second * MiB if second <= 20 else (20 + 10 * (second - 20)) * MiB, 1, False),
                 float(second))
    assert copy.view().rate == pytest.approx(10 * MiB, rel=0.1)


def test_with_the_whole_copys_total_the_time_left_is_of_the_whole_copy():
    copy = CopyProgress()
    copy.expect(100 * MiB)
    copy.add(Reading(10 * MiB, 50, False), 0.0)
    copy.add(Reading(20 * MiB, 100, False), 2.0)   # this pass is done; 80 MiB to go at 5 MiB/s
    view = copy.view()
    assert (view.copied, view.total, view.percent) == (20 * MiB, 100 * MiB, 20)
    assert view.eta == pytest.approx(16.0)


# ---------------------------------------------------------------- several passes

def test_the_passes_of_one_copy_add_up():
    copy = CopyProgress()
    copy.add(Reading(3 * MiB, 100, False), 0.0)
    copy.add(Reading(3 * MiB, 100, False), 0.1)     # rsync repeats its last line
    copy.end_pass()                                 # --stats: the pass is over
    copy.add(Reading(0, 100, False), 0.2)           # a pass that only sets a folder's attributes
    copy.end_pass()
    copy.add(Reading(MiB, 25, False), 1.0)          # the third pass, a quarter done
    view = copy.view()
    assert (view.copied, view.pass_number, view.percent) == (4 * MiB, 3, 25)
    assert format_line("pi", view).startswith("job pi: 4.0 MiB copied, pass 3: 25%, ")
    copy.add(Reading(4 * MiB, 100, False), 2.0)
    assert (copy.view().copied, copy.view().percent, copy.view().eta) == (7 * MiB, 100, 0)


def test_a_new_pass_is_also_seen_when_the_bytes_start_again():
    copy = CopyProgress()
    copy.add(Reading(3 * MiB, 100, False), 0.0)
    copy.add(Reading(32768, 1, None), 0.5)   # no --stats line came in between
    assert (copy.view().copied, copy.view().pass_number) == (3 * MiB + 32768, 2)


def test_with_the_whole_copys_total_the_percent_is_of_the_whole_copy_and_ends_at_100():
    copy = CopyProgress(total=6 * MiB)
    for number in range(3):
        copy.add(Reading(MiB, 50, False), number + 0.5)
        assert copy.view().percent == int(100 * (number * 2 + 1) / 6)
        copy.add(Reading(2 * MiB, 100, False), number + 0.9)
        copy.end_pass()
    assert (copy.view().copied, copy.view().percent) == (6 * MiB, 100)
    assert format_line("pi", copy.view()).startswith("job pi: 6.0 MiB of 6.0 MiB copied, 100%, ")


def test_more_than_the_expected_total_shows_as_100_percent_of_what_was_copied():
    copy = CopyProgress(total=MiB)   # the source grew after the dry run
    copy.add(Reading(2 * MiB, 100, False), 0.0)
    assert (copy.view().total, copy.view().percent) == (2 * MiB, 100)


# ---------------------------------------------------------------- one unit system

def test_the_line_uses_binary_units_only():
    line = format_line("pi", View(int(1.5 * MiB), 37, rate=9.3 * MiB, eta=65.2))
    assert line == "job pi: 1.5 MiB copied, 37%, 9.3 MiB/s, ETA 0:01:06"
    assert format_line("pi", View(3 << 30, 42, total=7 << 30, rate=512.0, eta=None)) == \
        "job pi: 3.0 GiB of 7.0 GiB copied, 42%, 512 B/s"
    assert format_line("x", View(0, 0)) == "job x: 0 B copied, 0%"


@pytest.mark.parametrize("seconds, text", [
    (0, "0:00:00"), (0.2, "0:00:01"), (59.5, "0:01:00"), (3600, "1:00:00"), (90061, "25:01:01"),
])
def test_format_duration_rounds_up(seconds, text):
    assert format_duration(seconds) == text


# ---------------------------------------------------------------- how often

def test_redraws_are_a_quarter_second_apart_except_at_the_end_of_a_pass():
    redraws = Redraws(0.25)
    assert redraws.due(10.0)
    redraws.drawn(10.0)
    assert not redraws.due(10.2) and redraws.due(10.25)
    assert redraws.due(10.1, end_of_pass=True)
    redraws.drawn(10.1, end_of_pass=True)
    assert not redraws.due(10.2, end_of_pass=True)   # pass ends in a burst: a quarter second apart
    assert redraws.due(10.35, end_of_pass=True)


def redraws_in(text: str):
    return [piece for piece in text.split("\r") if re.match(r"job pi: [\d.]+ (B|KiB|MiB|GiB) ", piece)]


def test_thousands_of_rsync_lines_a_second_make_four_redraws_a_second():
    stream, clock = io.StringIO(), Clock()
    shown = TerminalProgress("pi", stream, clock=clock)
    shown.say("job pi: looking for changes")
    for moment, line in steady_copy(30 * MiB, 10 * MiB, every=0.0005):   # 3 s, 2,000 lines a second
        clock.now = 1000 + moment
        assert shown.show_rsync(line)
    shown.show_rsync(b"Number of files: 2 (reg: 1, dir: 1)")
    drawn = redraws_in(stream.getvalue())
    assert 3 * 4 <= len(drawn) <= 3 * 4 + 2, len(drawn)
    assert drawn[-1].startswith("job pi: 30.0 MiB copied, 100%, 10.0 MiB/s, ETA 0:00:00"), drawn[-1]


def test_the_end_of_a_pass_is_drawn_at_once():
    stream, clock = io.StringIO(), Clock()
    shown = TerminalProgress("pi", stream, clock=clock)
    shown.show_rsync(b"  32768   1%    0.00kB/s    0:00:00")
    clock.now += 0.05
    shown.show_rsync(b"  3276800 100%    9.00MB/s    0:00:00 (xfr#1, to-chk=0/2)")
    assert "100%" not in stream.getvalue()   # too soon for an ordinary redraw
    shown.show_rsync(b"Number of files: 2 (reg: 1, dir: 1)")
    assert redraws_in(stream.getvalue())[-1].startswith("job pi: 3.1 MiB copied, 100%")


def test_a_final_state_not_drawn_yet_is_drawn_before_the_next_phase():
    stream, clock = io.StringIO(), Clock()
    shown = TerminalProgress("pi", stream, clock=clock)
    shown.show_rsync(f"  {MiB // 2} 50%  1.00MB/s  0:00:00".encode())   # drawn: the first reading
    clock.now += 0.05
    for copied, percent in ((MiB, 100), (2 * MiB, 100)):   # two quick passes
        shown.show_rsync(f"  {copied} {percent}%  1.00MB/s  0:00:00 (xfr#1, to-chk=0/1)".encode())
        shown.show_rsync(b"Number of files: 1")
        clock.now += 0.05
    assert "3.0 MiB" not in stream.getvalue()   # the second end came too soon after the first
    shown.say("job pi: making the hourly snapshot")
    pieces = stream.getvalue().split("\r")
    assert pieces[-2].startswith("job pi: 3.0 MiB copied, pass 2: 100%"), pieces
    assert pieces[-1].startswith("job pi: making the hourly snapshot")


def test_clear_drops_what_was_not_drawn():
    stream, clock = io.StringIO(), Clock()
    shown = TerminalProgress("pi", stream, clock=clock)
    shown.show_rsync(b"  32768   1%    0.00kB/s    0:00:00")
    shown.show_rsync(b"  65536   2%    0.00kB/s    0:00:00")
    shown.clear()
    assert "64.0 KiB" not in stream.getvalue() and stream.getvalue().endswith("\r")
