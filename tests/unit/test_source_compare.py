"""The pure rules of `vhpi verify --source` (vhpi.decide.source_compare): the sample, the
batches, the verdict of each pair, the copy's state, the words and the JSON."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from vhpi.decide.source_compare import (BATCH_BYTES, BATCH_FILES, SLOWEST_BYTES_PER_SECOND,
                                        Compared, Copy, Look, Report, Verdict, as_json,
                                        batch_timeout, classify, copy_state, damage_summary,
                                        exit_code, finding_lines, in_groups, log_line, needs_telling,
                                        reservoir_sample, share_batches, summary_line)

A, B = b"a" * 32, b"b" * 32
COPY = Look(10, 1_000_000_001, A)


# ---------------------------------------------------------------- choosing

@pytest.mark.parametrize("items, count", [(0, 5), (3, 5), (5, 5), (6, 5), (1000, 1), (1000, 200)])
def test_the_sample_has_min_of_count_and_items_in_walk_order(items, count):
    picked, seen = reservoir_sample(iter(range(items)), count, random.Random(7).randrange)
    assert seen == items
    assert len(picked) == min(items, count) and len(set(picked)) == len(picked)
    assert picked == sorted(picked) and all(0 <= item < items for item in picked)


def test_all_keeps_everything():
    assert reservoir_sample(iter("abc"), None, random.Random().randrange) == (["a", "b", "c"], 3)


def test_the_sample_is_uniform():
    """Every item of 10 is kept about equally often when 3 are chosen (30 % each)."""
    rng = random.Random(12345)
    kept: Counter = Counter()
    rounds = 6000
    for _ in range(rounds):
        kept.update(reservoir_sample(iter(range(10)), 3, rng.randrange)[0])
    expected = rounds * 3 / 10
    assert all(abs(kept[item] - expected) < expected * 0.08 for item in range(10)), kept


def test_the_sample_reads_the_items_once():
    seen = []

    def items():
        for number in range(50):
            seen.append(number)
            yield number

    reservoir_sample(items(), 10, random.Random(1).randrange)
    assert seen == list(range(50))


@pytest.mark.parametrize("count, size, expected", [(0, 3, []), (2, 3, [2]), (3, 3, [3]), (7, 3, [3, 3, 1])])
def test_groups(count, size, expected):
    assert [len(group) for group in in_groups(iter(range(count)), size)] == expected


@pytest.mark.parametrize("sizes, expected", [
    ([], []),
    ([1, 2, 3], [range(0, 3)]),
    ([1] * (BATCH_FILES + 1), [range(0, BATCH_FILES), range(BATCH_FILES, BATCH_FILES + 1)]),
    ([BATCH_BYTES // 2, BATCH_BYTES // 2, 1], [range(0, 2), range(2, 3)]),
    ([BATCH_BYTES * 3, 5, BATCH_BYTES * 2], [range(0, 1), range(1, 2), range(2, 3)]),
    ([5, BATCH_BYTES], [range(0, 1), range(1, 2)]),
])
def test_share_batches(sizes, expected):
    batches = share_batches(sizes)
    assert batches == expected
    assert [index for batch in batches for index in batch] == list(range(len(sizes)))


def test_a_batch_may_take_the_timeout_plus_its_bytes_at_the_slowest_rate():
    assert batch_timeout(300, 0) == 300
    assert batch_timeout(2, 10 * SLOWEST_BYTES_PER_SECOND) == 12


# ---------------------------------------------------------------- judging

@pytest.mark.parametrize("share, verdict", [
    (Look(10, 1_000_000_001, A), Verdict.SAME),
    (Look(10, 1_000_000_001, B), Verdict.DIFFERS),
    (Look(10, 1_000_000_002, B), Verdict.CHANGED_SINCE),   # a nanosecond is a new time to rsync
    (Look(10, 1_000_000_002, A), Verdict.CHANGED_SINCE),   # touched: normal
    (Look(11, 1_000_000_001, B), Verdict.CHANGED_SINCE),
    (Look(10, 1_000_000_001, None, moving=True), Verdict.CHANGED_SINCE),
    (Look(error="no longer on the share", absent=True), Verdict.GONE),
    (Look(error="Permission denied"), Verdict.UNREADABLE),
    (Look(error="Input/output error"), Verdict.UNREADABLE),
])
def test_classify(share, verdict):
    assert classify(COPY, share)[0] is verdict


def test_an_unreadable_snapshot_copy_is_unreadable_whatever_the_share_says():
    verdict, detail = classify(Look(error="Input/output error"), Look(10, 1, A))
    assert verdict is Verdict.UNREADABLE and detail == "in the snapshot: Input/output error"


def test_details_say_which_side():
    assert classify(COPY, Look(error="Permission denied"))[1] == "on the share: Permission denied"
    assert classify(COPY, Look(error="no longer on the share", absent=True))[1] == "no longer on the share"
    assert classify(COPY, COPY)[1] is None


@pytest.mark.parametrize("recorded, actual, state", [
    (A, A, Copy.INTACT), (A, B, Copy.DAMAGED), (None, A, Copy.NOT_RECORDED), (A, None, Copy.NOT_RECORDED),
])
def test_copy_state(recorded, actual, state):
    assert copy_state(recorded, actual) is state


# ---------------------------------------------------------------- the report

def _report(*pairs, files=100, chosen=None, problems=()):
    report = Report("home", "daily.0", "/srv/share", files_in_snapshot=files)
    for compared in pairs:
        report.add(compared)
    report.chosen = len(pairs) if chosen is None else chosen
    report.problems.extend(problems)
    return report


SAME = Compared(b"x/same", Verdict.SAME, Copy.INTACT)
CHANGED = Compared(b"x/changed", Verdict.CHANGED_SINCE)
GONE = Compared(b"x/gone", Verdict.GONE, detail="no longer on the share")
DIFFERS = Compared(b"docs/my file.txt", Verdict.DIFFERS, Copy.INTACT)


def test_the_summary_line_counts_every_verdict():
    report = _report(SAME, SAME, CHANGED, GONE, files=12345)
    assert summary_line(report) == ("job home: compared 4 of 12,345 files of daily.0 with the "
                                    "share: 2 same, 1 changed since, 1 gone, 0 differ")
    assert exit_code(report) == 0 and not needs_telling(report)
    assert [item.path for item in report.named] == [b"x/changed", b"x/gone"]


@pytest.mark.parametrize("pairs, problems, chosen, code, tell", [
    ((SAME, CHANGED, GONE), (), None, 0, False),
    ((SAME, DIFFERS), (), None, 1, True),
    ((SAME, Compared(b"u", Verdict.UNREADABLE, detail="on the share: Permission denied")), (), None, 1, False),
    ((SAME,), ("the share stopped answering",), 5, 1, False),
    ((SAME,), (), 5, 1, False),   # fewer compared than chosen
    ((Compared(b"rot", Verdict.CHANGED_SINCE, Copy.DAMAGED),), (), None, 1, True),
    ((Compared(b"rot", Verdict.SAME, Copy.DAMAGED),), (), None, 1, True),
])
def test_exit_code_and_telling(pairs, problems, chosen, code, tell):
    report = _report(*pairs, chosen=chosen, problems=problems)
    assert exit_code(report) == code
    assert needs_telling(report) is tell
    assert as_json(report)["ok"] is (code == 0)


def test_a_differing_file_gets_its_path_and_the_restore_command():
    lines = finding_lines(_report(SAME, DIFFERS))
    text = "\n".join(lines)
    assert lines[0] == ("  DIFFERS docs/my file.txt: same size and modification time as daily.0's "
                        "copy, other content.")
    assert "matches its recorded checksum, so the share's file changed without a new" in text
    assert "vhpi restore home daily.0 'docs/my file.txt' --overwrite" in text
    assert "--checksum" in text


@pytest.mark.parametrize("copy, words, restore", [
    (Copy.INTACT, "matches its recorded checksum", True),
    (Copy.NOT_RECORDED, "has no recorded checksum: vhpi cannot tell which side changed", True),
    (Copy.DAMAGED, "no longer matches its recorded checksum: the backup disk damaged it", False),
])
def test_the_advice_follows_the_copy_state(copy, words, restore):
    text = "\n".join(finding_lines(_report(Compared(b"f", Verdict.DIFFERS, copy))))
    assert words in text
    assert ("vhpi restore" in text) is restore


def test_unreadable_files_are_named_up_to_a_limit_and_problems_follow():
    pairs = [Compared(b"u%d" % number, Verdict.UNREADABLE, detail="on the share: EIO")
             for number in range(13)]
    lines = finding_lines(_report(*pairs, problems=("the share stopped answering",)))
    assert lines[0] == "  unreadable u0: on the share: EIO"
    assert "  ... and 3 more unreadable" in lines
    assert lines[-1] == "  problem: the share stopped answering"
    assert summary_line(_report(*pairs)).endswith("0 differ, 13 unreadable")


def test_a_damaged_copy_is_named_in_the_summary_and_the_lines():
    report = _report(SAME, Compared(b"rot", Verdict.SAME, Copy.DAMAGED))
    assert summary_line(report).endswith("; 1 snapshot copy damaged")
    assert finding_lines(report)[0].startswith("  DAMAGED COPY rot: daily.0's copy no longer matches")


def test_the_damage_summary_names_the_paths_without_the_job():
    words = damage_summary(_report(SAME, DIFFERS))
    assert words.startswith("verify --source: compared 2 of 100 files of daily.0")
    assert words.endswith("1 differ (docs/my file.txt)")


def test_paths_that_are_not_utf8_are_shown_escaped():
    report = _report(Compared(b"bad\xff.txt", Verdict.DIFFERS, Copy.INTACT))
    assert "bad\\xff.txt" in finding_lines(report)[0]
    assert as_json(report)["files"][0]["path"] == "bad\\xff.txt"


def test_json_shape():
    data = as_json(_report(SAME, CHANGED, GONE, DIFFERS, files=40))
    assert data["job"] == "home" and data["snapshot"] == "daily.0" and data["source"] == "/srv/share"
    assert (data["files_in_snapshot"], data["chosen"], data["compared"], data["all"]) == (40, 4, 4, False)
    assert data["counts"] == {"same": 1, "changed_since": 1, "gone": 1, "differs": 1, "unreadable": 0}
    assert data["files"] == [
        {"path": "x/changed", "result": "changed_since", "copy": "not_recorded", "detail": None},
        {"path": "x/gone", "result": "gone", "copy": "not_recorded", "detail": "no longer on the share"},
        {"path": "docs/my file.txt", "result": "differs", "copy": "intact", "detail": None}]
    assert data["problems"] == [] and data["ok"] is False


def test_the_log_line_names_the_command_and_the_problems():
    assert log_line(_report(SAME)) == ("job home: verify --source: compared 1 of 100 files of "
                                       "daily.0 with the share: 1 same, 0 changed since, 0 gone, "
                                       "0 differ")
    stopped = log_line(_report(SAME, chosen=3, problems=("the share stopped answering",)))
    assert stopped.endswith("0 differ (the share stopped answering)")
