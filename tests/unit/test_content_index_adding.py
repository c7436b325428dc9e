"""The content index's "adding" mark (vhpi.act.content_index), on a real SQLite file: a
backup run killed between its transfer and its records leaves the mark, and the next run
drops the records a reused inode number could match (those without a birth time)."""

from __future__ import annotations

from vhpi.act import content_index
from vhpi.act.content_index import Facts


def _index(tmp_path):
    (tmp_path / ".vhpi").mkdir(exist_ok=True)
    return content_index.open_index(str(tmp_path))


def test_a_finished_run_leaves_no_mark_and_keeps_every_record(tmp_path):
    index = _index(tmp_path)
    assert content_index.begin_adding(index, 10.0) == 0
    assert content_index.adding_since(index) == 10.0
    content_index.record(index, Facts(1, 5, 7, None), b"w" * 32, 11.0)
    content_index.record(index, Facts(2, 5, 7, 99), b"s" * 32, 11.0)
    content_index.finish_adding(index)
    index.close()

    again = _index(tmp_path)
    assert content_index.adding_since(again) is None
    assert content_index.begin_adding(again, 20.0) == 0
    assert not content_index.must_look_everywhere(again)
    # not trusted while a run adds (a new inode may have its number), but kept
    assert content_index.look_up(again, Facts(1, 5, 7, None)) is None
    content_index.finish_adding(again)
    assert content_index.look_up(again, Facts(1, 5, 7, None)) == b"w" * 32


def test_a_killed_run_costs_the_records_without_a_birth_time_only(tmp_path):
    index = _index(tmp_path)
    content_index.record(index, Facts(1, 5, 7, None), b"w" * 32, 1.0)
    content_index.record(index, Facts(2, 5, 7, 99), b"s" * 32, 1.0)
    content_index.commit(index)
    content_index.begin_adding(index, 10.0)
    content_index.record(index, Facts(3, 5, 7, 100), b"n" * 32, 11.0)  # never committed: killed
    index.close()

    again = _index(tmp_path)
    assert content_index.look_up(again, Facts(3, 5, 7, 100)) is None
    assert content_index.begin_adding(again, 20.0) == 1
    assert content_index.must_look_everywhere(again)  # the killed run's new files
    assert content_index.look_up(again, Facts(1, 5, 7, None)) is None
    assert content_index.look_up(again, Facts(2, 5, 7, 99)) == b"s" * 32
    content_index.finish_adding(again)
    assert not content_index.must_look_everywhere(again)


def test_a_record_is_only_valid_for_the_same_size_mtime_and_birth_time(tmp_path):
    index = _index(tmp_path)
    content_index.record(index, Facts(4, 5, 7, 99), b"s" * 32, 1.0)
    assert content_index.look_up(index, Facts(4, 5, 7, 99)) == b"s" * 32
    for other in (Facts(4, 6, 7, 99), Facts(4, 5, 8, 99), Facts(4, 5, 7, 100), Facts(4, 5, 7, None)):
        assert content_index.look_up(index, other) is None
