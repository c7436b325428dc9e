"""The pure parts behind the everyday commands: rsync output split into lines
(vhpi.act.processes.split_output), progress2 lines read and shown (vhpi.decide.progress),
durations and moments for people (vhpi.decide.units), when an interval is due next
(vhpi.decide.due.next_due_time) and the copying passes' argv with and without progress."""

import pytest

from vhpi.act.processes import split_output
from vhpi.decide.due import due_intervals, grace_seconds, next_due_time
from vhpi.decide.progress import Reading, parse_reading
from vhpi.decide.rsync_argv import dry_run_argv, mirror_argv, transfer_argv
from vhpi.decide.units import human_duration, relative_moment


# ---------------------------------------------------------------- split_output

@pytest.mark.parametrize("data, lines, rest", [
    (b"", [], b""),
    (b"one\ntwo\n", [b"one", b"two"], b""),
    (b"one\ntwo", [b"one"], b"two"),                                # unfinished rest held back
    (b"one\n\nthree\n\n", [b"one", b"", b"three", b""], b""),       # blank lines kept
    (b"  \n", [b"  "], b""),                                        # blank-ish line kept as is
    (b"\r  1 0%\r  2 50%\r  3 100%\n", [b"  1 0%", b"  2 50%", b"  3 100%"], b""),
    (b"done\r\n", [b"done"], b""),                                  # \r\n is one line end
    (b"a\rb\rc", [b"a", b"b"], b"c"),                               # \r ends a piece of the rest
    (b"a\rb\r", [b"a"], b"b\r"),                             # a final \r waits: \n may follow
    (b"\r\r\n", [], b""),                                           # blank pieces around \r dropped
    (b"   \rabc\r   \n", [b"abc"], b""),
    (b"x\n\r\ry", [b"x"], b"y"),
    (b"item one\n  12  5%\r  99 100%\nNumber of files: 2\n",
     [b"item one", b"  12  5%", b"  99 100%", b"Number of files: 2"], b""),
])
def test_split_output(data, lines, rest):
    assert split_output(data) == (lines, rest)


def _feed(chunks):
    """Split `chunks` as run_streaming does: the rest of one chunk goes before the next."""
    found, pending = [], b""
    for chunk in chunks:
        lines, pending = split_output(pending + chunk)
        found += lines
    if pending:
        found += split_output(pending + b"\n")[0]
    return found


RSYNC_OUTPUT = (b"\r      32768   0%    0.00kB/s    0:00:00  \r   20000000 100%  514.66MB/s    "
                b"0:00:00 (xfr#1, to-chk=0/2)\n\nNumber of files: 2 (reg: 1, dir: 1)\n"
                b"Total file size: 20000000 bytes\n")


def test_split_output_in_chunks_without_line_ends_at_chunk_edges():
    whole = _feed([RSYNC_OUTPUT])
    assert whole == [b"      32768   0%    0.00kB/s    0:00:00  ",
                     b"   20000000 100%  514.66MB/s    0:00:00 (xfr#1, to-chk=0/2)",
                     b"", b"Number of files: 2 (reg: 1, dir: 1)",
                     b"Total file size: 20000000 bytes"]
    for cut in (5, 40, 90, len(RSYNC_OUTPUT) - 3):  # none of these cuts falls inside "\r\n"
        assert _feed([RSYNC_OUTPUT[:cut], RSYNC_OUTPUT[cut:]]) == whole, cut


def test_split_output_does_not_depend_on_where_a_read_cut_a_carriage_return_line_end():
    assert _feed([b"done\r", b"\nnext\n"]) == _feed([b"done\r\nnext\n"]) == [b"done", b"next"]


# ---------------------------------------------------------------- progress2 lines

@pytest.mark.parametrize("line, expected", [
    (b"   20000000 100%  514.66MB/s    0:00:00 (xfr#1, to-chk=0/2)",
     Reading(20000000, 100, False)),
    (b"      32768   0%    0.00kB/s    0:00:00  ", Reading(32768, 0)),
    (b"     32,768   0%    0.00kB/s    0:00:00  ", Reading(32768, 0)),
    (b"  1,234,567,890  42%   12.34MB/s    0:01:02", Reading(1234567890, 42)),
    (b"5 7% 1.00kB/s 12:03:04 (xfr#3, ir-chk=1000/2000)", Reading(5, 7, True)),
])
def test_parse_progress(line, expected):
    assert parse_reading(line) == expected


@pytest.mark.parametrize("line", [
    b"",
    b"Number of files: 2 (reg: 1, dir: 1)",
    b"Total transferred file size: 20,000,000 bytes",
    b"sending incremental file list",
    b">f+++++++++ big.bin",
    b"rsync error: some files/attrs were not transferred (code 23)",
    b"100% done",
    b"   20000000 100%",                          # cut before the rate
    b"   20000000 100%  514.66MB/s",              # cut before the time
    b"   ,,, 10%  1.00kB/s    0:00:01",           # separators without digits
    b"   20.97M 100%  514.66MB/s    0:00:00",     # -hh style, which vhpi turns off
])
def test_parse_progress_ignores_other_lines(line):
    assert parse_reading(line) is None


def test_a_split_rsync_line_parses_as_shown():
    line = b"\r  1,572,864  37%    1.50MB/s    0:00:02  "
    (piece,), rest = split_output(line + b"\r  next")
    assert rest == b"  next"
    assert parse_reading(piece) == Reading(1572864, 37)


# ---------------------------------------------------------------- durations and moments

@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"),
    (-5, "0 s"),                 # never negative
    (0.4, "0 s"),
    (40, "40 s"),
    (89.4, "89 s"),
    (89.6, "1 min"),             # rounded to 90 s first
    (90, "1 min"),
    (35 * 60 + 20, "35 min"),
    (89 * 60 + 59, "89 min"),
    (90 * 60, "1 h 30 min"),
    (2 * 3600, "2 h"),
    (5 * 3600 + 10 * 60 + 40, "5 h 10 min"),
    (24 * 3600, "24 h"),
    (47 * 3600 + 59 * 60, "47 h 59 min"),
    (48 * 3600, "2 days"),
    (3 * 86400 + 4 * 3600 + 59 * 60, "3 days 4 h"),   # minutes dropped once in days
    (400 * 86400, "400 days"),
])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


@pytest.mark.parametrize("moment, now, text", [
    (1000.0, 1000.0, "now"),
    (1000.0, 1000.9, "now"),
    (1000.9, 1000.0, "now"),
    (1000.0, 1001.0, "1 s ago"),
    (1000.0, 1000.0 + 35 * 60, "35 min ago"),
    (1000.0 + 25 * 60, 1000.0, "in 25 min"),
    (0.0, 3 * 86400.0, "3 days ago"),
    (2 * 3600 + 5 * 60, 0.0, "in 2 h 5 min"),
])
def test_relative_moment(moment, now, text):
    assert relative_moment(moment, now) == text


# ---------------------------------------------------------------- next due time

@pytest.mark.parametrize("length, grace", [(60, 0.6), (3600, 36.0), (21600, 216.0),
                                            (86400, 300.0), (604800, 300.0)])
def test_next_due_time_is_the_last_time_plus_the_length_less_the_grace(length, grace):
    last = 1_700_000_000.0
    assert grace_seconds(length) == pytest.approx(grace)
    assert next_due_time(last, length) == pytest.approx(last + length - grace)
    assert next_due_time(None, length) is None


@pytest.mark.parametrize("length", [60, 3600, 21600, 86400, 604800, 31536000])
def test_next_due_time_agrees_with_due_intervals(length):
    last = 1_700_000_000.0
    due_at = next_due_time(last, length)
    keep, lengths, times = {"x": 1}, {"x": length}, {"x": last}
    assert due_intervals(keep, lengths, times, due_at + 1e-3) == ["x"]
    assert due_intervals(keep, lengths, times, due_at - 1e-3) == []
    assert due_intervals(keep, lengths, {}, last) == ["x"]  # never had one: due now, as None says


# ---------------------------------------------------------------- argv with and without progress

OPTIONS = ("-aHAXS", "--delete", "--numeric-ids")


def test_transfer_argv_asks_for_progress_only_when_told():
    plain = transfer_argv(OPTIONS, ["tmp"], "/src", "/dest/backup.latest", "/w/copy.list", "/w/tmp")
    shown = transfer_argv(OPTIONS, ["tmp"], "/src", "/dest/backup.latest", "/w/copy.list", "/w/tmp",
                          progress=True)
    assert "--info=progress2" not in plain
    assert shown.count("--info=progress2") == 1
    assert [word for word in shown if word != "--info=progress2"] == list(plain)
    assert shown[-2:] == plain[-2:] == ("/src/", "/dest/backup.latest/")
    assert shown.index("--info=progress2") < len(shown) - 2
    assert "--no-human-readable" in shown  # the progress numbers come as plain digits
    assert "--delete" not in shown          # the copying pass never deletes


def test_mirror_argv_asks_for_progress_only_when_told():
    plain = mirror_argv(OPTIONS, [], "/src/", "/dest/backup.latest/", "/w/tmp")
    shown = mirror_argv(OPTIONS, [], "/src/", "/dest/backup.latest/", "/w/tmp", progress=True)
    assert "--info=progress2" not in plain
    assert shown.count("--info=progress2") == 1
    assert [word for word in shown if word != "--info=progress2"] == list(plain)
    assert shown[-2:] == ("/src/", "/dest/backup.latest/")
    assert "--no-human-readable" in shown and "--delete" in shown


def test_the_listing_pass_never_shows_progress():
    argv = dry_run_argv(OPTIONS, [], "/src", "/dest/backup.latest")
    assert "--dry-run" in argv
    assert not any(word.startswith("--info") for word in argv)
