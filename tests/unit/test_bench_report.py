"""bench/vhpibench: the pure report code (medians, ratios, cells, rows, the case d target
line, the whole Markdown text) and the pure helpers of trees, tools, measuring and cli.

Fast and self-contained: no tool runs, no rsnapshot, no files written."""

import json
import os
import subprocess
import sys
import time

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench")
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)

from vhpibench import report  # noqa: E402
from vhpibench.plan import CASES, IDLE_RUNS, INTERVALS, KEEP  # noqa: E402
from vhpibench.results import Results  # noqa: E402
from vhpibench.trees import (LARGE_COUNT, Tree, changed_indices, make_trees,  # noqa: E402
                             sampled_indices, small_content)

CASE = {case.key: case for case in CASES}


def small_tree(count=3000, name="small3000"):
    return Tree(name, "/nowhere/" + name, count, False)


def large_tree():
    return Tree("large", "/nowhere/large", LARGE_COUNT, True)


def figures():
    """Results of one small tree: every tool in case a, vhpi and floor in case d."""
    results = Results(trees=[small_tree()], generation={"small3000": 0.34}, idle={"small3000": 0.0851})
    results.seconds = {
        ("small3000", "a", "vhpi"): [0.5, 0.3, 0.2],             # median 0.3
        ("small3000", "a", "rsnapshot-cp"): [0.4],
        ("small3000", "a", "rsnapshot-ld"): [0.2, 0.4],          # median 0.3 (even count)
        ("small3000", "a", "floor"): [0.12],
        ("small3000", "d", "vhpi"): [0.2],
        ("small3000", "d", "floor"): [0.19],
    }
    results.memory = {("small3000", "a"): [(19000, 7000), (19456, 100)]}
    return results


# --------------------------------------------------------------------------- figures

@pytest.mark.parametrize("values, expected", [
    ([0.5, 0.3, 0.2], 0.3),
    ([0.2, 0.4], pytest.approx(0.3)),
    ([7.0], 7.0),
    ([], None),
    (None, None),
])
def test_median_of_values_or_none(values, expected):
    assert report.median(values) == expected


def test_median_of_looks_up_tree_case_and_tool():
    results = figures()
    assert report.median_of(results, "small3000", "a", "vhpi") == 0.3
    assert report.median_of(results, "small3000", "b", "vhpi") is None
    assert report.median_of(results, "other", "a", "vhpi") is None


@pytest.mark.parametrize("top, bottom, value, cell", [
    (0.3, 0.4, pytest.approx(0.75), "0.75"),
    (0.3, 0.12, pytest.approx(2.5), "2.50"),
    (1.0, 3.0, pytest.approx(1 / 3), "0.33"),
    (0.2, 0.19, pytest.approx(1.0526, abs=1e-4), "1.05"),
    (None, 0.4, None, "—"),
    (0.3, None, None, "—"),
    (0.3, 0.0, None, "—"),          # a zero median has no ratio
])
def test_ratio_and_its_cell(top, bottom, value, cell):
    assert report.ratio(top, bottom) == value
    assert report.ratio_cell(top, bottom) == cell


def test_fastest_ignores_missing_figures():
    assert report.fastest([0.4, None, 0.3]) == 0.3
    assert report.fastest([None, None]) is None
    assert report.fastest([]) is None


@pytest.mark.parametrize("vhpi, floor, met, text", [
    (0.2, 0.19, True, "met"),
    (1.1, 1.0, True, "met"),        # exactly 1.1 × floor still meets the target
    (1.2, 1.0, False, "MISSED"),
    (0.345, 0.120, False, "MISSED"),
    (None, 0.1, None, "—"),
    (0.2, None, None, "—"),
    (0.2, 0.0, None, "—"),
])
def test_case_d_target(vhpi, floor, met, text):
    assert report.target_met(vhpi, floor) is met
    assert report.target_text(vhpi, floor) == text


# --------------------------------------------------------------------------- cells

def test_seconds_cell_median_missing_and_not_in_case():
    results = figures()
    assert report.seconds_cell(results, "small3000", CASE["a"], "vhpi") == "0.300"
    assert report.seconds_cell(results, "small3000", CASE["b"], "vhpi") == "—"
    assert report.seconds_cell(results, "small3000", CASE["d"], "rsnapshot-cp") == "—"


def test_seconds_cell_says_failed_for_the_case_or_the_setup():
    results = figures()
    results.failures[("small3000", "a", "floor")] = "rsync: exit code 23"
    results.failures[("small3000", "setup", "rsnapshot-ld")] = "configtest failed"
    assert report.seconds_cell(results, "small3000", CASE["a"], "floor") == "failed"
    assert report.seconds_cell(results, "small3000", CASE["b"], "floor") == "—"
    for key in "abc":
        assert report.seconds_cell(results, "small3000", CASE[key], "rsnapshot-ld") == "failed"
    assert report.seconds_cell(results, "small3000", CASE["d"], "rsnapshot-ld") == "—"


def test_memory_cell_is_the_largest_own_peak_in_mib():
    assert report.memory_cell([(19000, 7000), (19456, 100)]) == "19.0"
    assert report.memory_cell([(1024, 999999)]) == "1.0"
    assert report.memory_cell([]) == "—"
    assert report.memory_cell(None) == "—"


@pytest.mark.parametrize("kib, text", [(19353, "18.9 MiB"), (7168, "7.0 MiB"), (0, "0.0 MiB"), (None, "—")])
def test_kib_text(kib, text):
    assert report.kib_text(kib) == text


# --------------------------------------------------------------------------- rows and tables

def test_case_row_with_every_tool():
    results = figures()
    row = report.case_row(results, results.trees[0], CASE["a"])
    assert row == ["3,000 small", "a", "0.300", "0.400", "0.300", "0.120",
                   "1.00", "0.75", "1.00", "2.50", "19.0"]
    assert len(row) == len(report.TABLE_HEADER)


def test_case_row_of_vhpi_and_floor_only():
    results = figures()
    row = report.case_row(results, results.trees[0], CASE["d"])
    assert row == ["3,000 small", "d", "0.200", "—", "—", "0.190", "—", "—", "—", "1.05", "—"]


def test_best_rsnapshot_ratio_uses_the_mode_that_worked():
    results = figures()
    del results.seconds[("small3000", "a", "rsnapshot-ld")]
    results.failures[("small3000", "setup", "rsnapshot-ld")] = "no"
    row = report.case_row(results, results.trees[0], CASE["a"])
    assert row[4] == "failed"
    assert row[6] == row[7] == "0.75"
    assert row[8] == "—"


def test_table_rows_one_per_tree_and_case_in_order():
    results = figures()
    results.trees.append(large_tree())
    rows = report.table_rows(results)
    assert [(row[0], row[1]) for row in rows] == [
        (label, case.key) for label in ("3,000 small", "4 × 32 MiB") for case in CASES]


def test_summary_row_generation_idle_and_target():
    results = figures()
    assert report.summary_rows(results) == [["3,000 small", "0.3", "0.085", "met"]]
    results.idle.clear()
    results.seconds[("small3000", "d", "vhpi")] = [0.5]
    assert report.summary_row(results, results.trees[0]) == ["3,000 small", "0.3", "failed", "MISSED"]


def test_summary_header_names_the_idle_runs_and_the_target():
    assert report.SUMMARY_HEADER[2] == f"vhpi nothing due s (median of {IDLE_RUNS})"
    assert report.SUMMARY_HEADER[3] == "vhpi ≤ 1.1 × floor, nothing expiring (case d)"


def test_markdown_table_pads_every_column():
    text = report.markdown_table(["tree", "s"], [["3,000 small", "0.3"], ["x", "12.345"]])
    assert text.splitlines() == [
        "| tree        | s      |",
        "|-------------|--------|",
        "| 3,000 small | 0.3    |",
        "| x           | 12.345 |",
    ]


def test_peak_rows():
    results = Results(peaks={("3,000 small", "first"): (19353, None), ("4 × 32 MiB", "second"): (None, 7168)})
    assert report.peak_rows(results) == [["3,000 small", "first", "18.9 MiB", "—"],
                                         ["4 × 32 MiB", "second", "—", "7.0 MiB"]]


# --------------------------------------------------------------------------- text

def test_report_text_parts_in_order():
    text = report.report_text(figures(), 5)
    assert text.startswith(f"Medians of 5 measured rounds (after one warm-up round), seconds of wall "
                           f"time per backup run. Keep count {KEEP} for every interval and tool; rsync "
                           f"options `-aHAXS --delete --numeric-ids` for all.\n\n| tree ")
    assert text.endswith("\n") and not text.endswith("\n\n")
    lines = text.splitlines()
    assert "| 3,000 small | a    | 0.300  | 0.400          | 0.300          | 0.120   | 1.00" in text
    assert "* case d: nothing changed, 1 interval due, nothing expires (vhpi and floor only)" in lines
    assert "* case a: nothing changed, 1 interval due, oldest expires" in lines
    assert lines.index("* case a: nothing changed, 1 interval due, oldest expires") < lines.index(
        next(line for line in lines if line.startswith("| tree        | generation s")))
    assert "Peak memory" not in text and "Failures:" not in text


def test_report_text_peaks_and_sorted_failures():
    results = figures()
    results.peaks[("3,000 small", "nothing changed, 3 intervals due")] = (19353, 7168)
    results.failures[("small3000", "c", "floor")] = "boom"
    results.failures[("small3000", "a", "floor")] = "bang"
    lines = report.report_text(results, 1).splitlines()
    assert "| 3,000 small | nothing changed, 3 intervals due | 18.9 MiB      | 7.0 MiB        |" in lines
    assert lines[-3:] == ["Failures:", "* small3000 a floor: bang", "* small3000 c floor: boom"]


def test_results_document_heads_the_body_with_the_machine():
    text = report.results_document([("CPU", "AMD EPYC"), ("cores", "2")], "0.10, 0.20, 0.30",
                                   "python3 bench/run.py --sizes 3000", "BODY\n", 0.34)
    assert text == ("# vhpi benchmark results\n\n* CPU: AMD EPYC\n* cores: 2\n"
                    "* load average at the end: 0.10, 0.20, 0.30\n"
                    "* command: `python3 bench/run.py --sizes 3000`\n"
                    "* whole benchmark took 0.3 min\n\nBODY\n")


def test_report_imports_no_vhpi_and_no_tool_code():
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import vhpibench.report; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('vhpi.', 'vhpibench.')))))")
    done = subprocess.run([sys.executable, "-c", code, BENCH], stdout=subprocess.PIPE, check=True)
    loaded = json.loads(done.stdout.decode())
    assert loaded == ["vhpibench.plan", "vhpibench.report", "vhpibench.results", "vhpibench.trees"]


# --------------------------------------------------------------------------- trees

@pytest.mark.parametrize("index, path", [
    (0, "d0000/d00/f0000000.txt"),
    (99, "d0000/d00/f0000099.txt"),
    (100, "d0000/d01/f0000100.txt"),
    (3199, "d0000/d31/f0003199.txt"),
    (3200, "d0001/d00/f0003200.txt"),
    (999999, "d0312/d15/f0999999.txt"),
])
def test_relative_path_of_small_file(index, path):
    assert small_tree(1_000_000).relative(index) == path


def test_relative_path_and_label_of_large_files():
    tree = large_tree()
    assert [tree.relative(i) for i in range(tree.count)] == [f"large/file{i}.bin" for i in range(4)]
    assert tree.label() == "4 × 32 MiB"
    assert small_tree(100000).label() == "100,000 small"


def test_small_content_has_constant_length():
    assert small_content(7, 0) == b"vhpi bench file 0000007 version 00000\n"
    assert len(small_content(9999999, 99999)) == len(small_content(0, 0))


def test_changed_indices_take_another_percent_each_round():
    assert changed_indices(1000, False, 1) == list(range(0, 1000, 100))
    assert changed_indices(1000, False, 2) == list(range(1, 1000, 100))
    assert changed_indices(1000, False, 101) == changed_indices(1000, False, 1)
    rounds = [set(changed_indices(1000, False, version)) for version in range(1, 101)]
    assert set().union(*rounds) == set(range(1000)) and sum(map(len, rounds)) == 1000
    assert [changed_indices(4, True, version) for version in range(1, 6)] == [[0], [1], [2], [3], [0]]


def test_sampled_indices_are_deterministic_and_include_changed_files():
    tree = small_tree(3000)
    first = sampled_indices(tree)
    assert first == sampled_indices(small_tree(3000)) == sorted(first)
    assert len(first) == 20 and all(0 <= index < 3000 for index in first)
    tree.changed = [5, 105, 205, 305, 405, 505]
    assert set(first) | {5, 105, 205, 305, 405} == set(sampled_indices(tree))
    assert sampled_indices(small_tree(7)) == list(range(7))


def test_make_trees_small_in_order_then_large():
    trees = make_trees([30000, 10000], True, "/w")
    assert [(t.name, t.path, t.count, t.large) for t in trees] == [
        ("small30000", "/w/src/small30000", 30000, False),
        ("small10000", "/w/src/small10000", 10000, False),
        ("large", "/w/src/large", LARGE_COUNT, True)]
    assert make_trees([], False, "/w") == []


# --------------------------------------------------------------------------- other pure helpers

def test_due_times_two_lengths_back_for_due_a_minute_for_others():
    from vhpibench.tools import due_times
    times = due_times(1_000_000_000.0, ("hourly", "weekly"))
    assert times == {"hourly": 1_000_000_000.0 - 7200, "daily": 1_000_000_000.0 - 60,
                     "weekly": 1_000_000_000.0 - 2 * 604800}
    assert set(due_times(time.time(), ())) == set(INTERVALS)


def test_cron_order_is_longest_first():
    from vhpibench.tools import cron_order
    assert cron_order(("hourly", "daily", "weekly")) == ["weekly", "daily", "hourly"]
    assert cron_order(("hourly",)) == ["hourly"]


@pytest.mark.parametrize("before, after, problem", [
    ([1, 2, 3, 4], [5, 1, 2, 3], None),
    ([1, 2, 3, 4], [1, 2, 3, 4], "did not rotate"),
    ([1, 2, 3, 4], [5, 1, 2, None], f"holds fewer than {KEEP} snapshots after the run"),
])
def test_rotation_problem(before, after, problem):
    from vhpibench.measuring import rotation_problem
    assert rotation_problem(before, after) == problem


@pytest.mark.parametrize("text, million, sizes", [
    ("10000,30000", False, [10000, 30000]),
    ("100_000", True, [100000, 1000000]),
    ("1000000,", True, [1000000]),
    ("", False, []),
])
def test_tree_sizes(text, million, sizes):
    from vhpibench.cli import tree_sizes
    assert tree_sizes(text, million) == sizes


# --------------------------------------------------------------------------- the scan comparison

def scan_figures():
    """Results of one tree with the scan comparison: three rounds of each tool."""
    results = Results(trees=[small_tree(100000, "small100000")], generation={"small100000": 2.5},
                      idle={"small100000": 0.071}, cases=("scan",))
    key = "small100000", "scan"
    results.seconds = {(*key, "vhpi"): [2.2, 2.0, 2.4], (*key, "rsync"): [2.0, 1.9, 2.0],
                       (*key, "rsnapshot-cp"): [4.0, 4.2, 4.1]}
    results.sync_seconds = {(*key, "vhpi"): [0.0, 0.1, 0.0], (*key, "rsync"): [0.2, 0.1, 0.4],
                            (*key, "rsnapshot-cp"): [0.5, 0.3, 0.4]}
    return results


def test_durable_seconds_add_each_round_s_sync():
    results = scan_figures()
    assert report.durable_seconds(results, "small100000", "scan", "rsync") == pytest.approx([2.2, 2.0, 2.4])
    assert report.durable_seconds(results, "small100000", "scan", "floor") == []


@pytest.mark.parametrize("tops, bottoms, value", [
    ([2.2, 2.0, 2.4], [2.0, 1.9, 2.0], pytest.approx(1.1)),        # rounds 1.1, 1.0526, 1.2
    ([1.0, 3.0], [2.0, 1.0], pytest.approx(1.75)),                 # median of 0.5 and 3.0
    ([1.0, 2.0, 3.0], [1.0, 1.0], pytest.approx(1.5)),             # only rounds that have both
    ([], [1.0], None),
    ([1.0], [0.0], None),
])
def test_paired_ratio_is_the_median_of_the_rounds_ratios(tops, bottoms, value):
    assert report.paired_ratio(tops, bottoms) == value


def test_scan_rows_run_alone_then_durable():
    rows = report.scan_rows(scan_figures())
    assert rows == [
        ["100,000 small", "run", "2.200", "2.000", "4.100", "1.10", "0.55"],
        ["100,000 small", "run + sync (durable)", "2.200", "2.200", "4.500", "1.00", "0.49"],
    ]
    assert len(rows[0]) == len(report.SCAN_HEADER)


def test_scan_rows_say_failed_and_missing():
    results = scan_figures()
    results.failures[("small100000", "scan", "rsnapshot-cp")] = "exit code 1"
    del results.seconds[("small100000", "scan", "rsync")]
    assert report.scan_row(results, results.trees[0], True)[2:] == ["2.200", "—", "failed", "—", "0.49"]


@pytest.mark.parametrize("vhpi, idle, row", [
    ([2.2, 2.0, 2.4], 0.071, ["100,000 small", "1.00", "met", "0.071", "met"]),
    ([2.5, 2.5, 2.5], 0.150, ["100,000 small", "1.14", "MISSED", "0.150", "MISSED"]),
    ([], None, ["100,000 small", "—", "—", "failed", "—"]),
])
def test_scan_target_row(vhpi, idle, row):
    results = scan_figures()
    results.seconds[("small100000", "scan", "vhpi")] = vhpi
    results.sync_seconds[("small100000", "scan", "vhpi")] = [0.0] * len(vhpi)
    if idle is None:
        results.idle.clear()
    else:
        results.idle["small100000"] = idle
    assert report.scan_target_row(results, results.trees[0]) == row


def test_report_text_with_the_scan_comparison_only():
    text = report.report_text(scan_figures(), 5)
    lines = text.splitlines()
    assert "| tree          | case |" not in text                    # no case a-d ran
    assert "The hourly run against one rsync scan (medians of the same rounds):" in lines
    assert "| 100,000 small | run + sync (durable) | 2.200  | 2.200   | 4.500          | 1.00       | 0.49          |" in lines
    assert any(line.startswith("* ratios: the median of the per-round ratios") for line in lines)
    assert "| 100,000 small | 1.00                | met                          | 0.071" in text
    assert "Moved and renamed files" not in text


def test_table_rows_only_of_the_cases_that_ran():
    results = figures()
    results.cases = ("a", "scan")
    assert [row[1] for row in report.table_rows(results)] == ["a"]


# --------------------------------------------------------------------------- moved files

def moved_figures():
    from vhpibench.results import MovedRun
    mib = 1 << 20
    results = Results(cases=(), moved_data={"rename": (50, 200 * mib)})
    results.moved = {
        ("rename", "vhpi"): MovedRun(new_inodes=int(0.5 * mib), disk_growth=mib, read=int(0.2 * mib),
                                     new_inodes_unchanged=int(0.3 * mib), read_unchanged=int(0.1 * mib),
                                     copied=0, seconds=0.81),
        ("rename", "floor"): MovedRun(new_inodes=200 * mib, disk_growth=200 * mib, read=200 * mib,
                                      new_inodes_unchanged=0, read_unchanged=int(0.1 * mib),
                                      copied=200 * mib, seconds=1.2),
    }
    results.failures[("share", "rename", "rsnapshot-ld")] = "boom"
    return results


def test_moved_rows_per_tool_with_the_target_for_vhpi():
    rows = report.moved_rows(moved_figures())
    assert rows == [
        ["rename", "vhpi", "0.5", "0.3", "0.1 %", "1.0", "0.2", "0.1", "0.1 %", "0.0", "0.81", "met"],
        ["rename", "floor", "200.0", "0.0", "100.0 %", "200.0", "200.0", "0.1", "100.0 %", "200.0", "1.20", "—"],
        ["rename", "rsnapshot-ld", "failed"] + ["—"] * 9,
    ]
    assert all(len(row) == len(report.MOVED_HEADER) for row in rows)


def test_moved_target_counts_what_goes_beyond_the_unchanged_run():
    from vhpibench.results import MovedRun
    run = MovedRun(new_inodes=3_000_000, disk_growth=0, read=1_100_000, new_inodes_unchanged=1_000_000,
                   read_unchanged=100_000, copied=None, seconds=1.0)
    assert report.moved_target_met(run, 200_000_000)         # 2 MB and 1 MB beyond: ≤ 1 % of 200 MB
    assert not report.moved_target_met(run, 100_000_000)     # 2 MB > 1 MB
    assert report.mib_text(None) == "—" and report.share_text(1, 0) == "—"


def test_report_text_with_moved_files_only_and_a_skip():
    results = moved_figures()
    results.skipped["move"] = "needs root (loop devices, mount, dropping the page cache)"
    text = report.report_text(results, 5)
    lines = text.splitlines()
    assert lines[0].startswith("Moved and renamed files (one measured run per tool")
    assert "Medians of" not in text
    assert "* rename: 50 files, 200.0 MiB moved or renamed between two backups" in lines
    assert "* move: skipped, needs root (loop devices, mount, dropping the page cache)" in lines
    assert "Failures:" in lines and "* share rename rsnapshot-ld: boom" in lines


# --------------------------------------------------------------------------- the moved-files cases

def test_rename_and_move_cases():
    from vhpibench.moved import move_case, moved_case, rename_case
    rename = rename_case()
    assert (rename.moved_files, rename.moved_bytes) == (50, 200 << 20)
    assert rename.renames == (("photos/summer", "photos/summer-2024"),)
    move = move_case()
    assert (move.moved_files, len(move.renames), len(move.files)) == (10_000, 10_000, 10_100)
    assert move.renames[7] == ("a/f_00007.dat", "b/f_00007.dat")
    assert move.moved_bytes == sum(1024 * (1 + index % 8) for index in range(10_000))
    assert moved_case("move") == move


def test_sampled_moves_are_old_and_new_paths_under_the_renamed_folders():
    from vhpibench.moved import move_case, rename_case, sampled_moves
    assert sampled_moves(rename_case()) == [("photos/summer/img_000.jpg", "photos/summer-2024/img_000.jpg"),
                                            ("photos/summer/img_049.jpg", "photos/summer-2024/img_049.jpg")]
    moves = sampled_moves(move_case())
    assert moves[0] == ("a/f_00000.dat", "b/f_00000.dat") and moves[-1] == ("a/f_09999.dat", "b/f_09999.dat")
    assert len(moves) == 12


def test_transferred_bytes_sum_the_passes():
    from vhpibench.moved import transferred_bytes
    output = (b"Number of files: 3\nTotal transferred file size: 1,048,576 bytes\n"
              b"Total transferred file size: 24 bytes\nTotal bytes sent: 99\n")
    assert transferred_bytes(output) == 1048600
    assert transferred_bytes(b"nothing here\n") is None


def test_copied_in_debug_log_skips_the_dry_runs():
    from vhpibench.moved import copied_in_debug_log
    log = (b"2026-12-01 16:20:19 1 DEBUG   running: ['rsync', '-aHAXS', '--dry-run', '--stats', 'a/', 'b/']\n"
           b"rsync: Total transferred file size: 5000 bytes\n"
           b"2026-12-01 16:20:20 1 DEBUG   running: ['rsync', '-aHAXS', '--files-from=x', 'a/', 'b/']\n"
           b"rsync: Total transferred file size: 300 bytes\n"
           b"2026-12-01 16:20:20 1 DEBUG   running: ['cp', '-al', 'x', 'y']\n"
           b"2026-12-01 16:20:21 1 DEBUG   running: ['rsync', '-aHAXS', '--files-from=y', 'a/', 'b/']\n"
           b"rsync: Total transferred file size: 20 bytes\n")
    assert copied_in_debug_log(log) == 320
    assert copied_in_debug_log(log.split(b"2026-12-01 16:20:20")[0]) == 0   # only looked: nothing copied
    assert copied_in_debug_log(b"2026-12-01 16:20:19 1 INFO    job x: nothing due\n") is None


def test_disk_sizes_leave_room_for_every_tool_to_copy_twice():
    from vhpibench.moved import disk_sizes, rename_case
    (share, share_inodes), (backup, backup_inodes) = disk_sizes(rename_case(), 4)
    data = sum(size for _, size in rename_case().files)
    assert share >= data * 3 // 2 and share_inodes >= 2 * len(rename_case().files)
    assert backup >= 4 * data * 2 and backup_inodes >= 4 * 3 * len(rename_case().files)


# --------------------------------------------------------------------------- cli

def test_chosen_cases_in_the_plan_s_order():
    from vhpibench.cli import chosen_cases, tools_for
    timed, moved = chosen_cases(None)
    assert [case.key for case in timed] == ["a", "b", "c", "d", "scan"] and moved == ["rename", "move"]
    timed, moved = chosen_cases(["move", "scan", "rename"])
    assert [case.key for case in timed] == ["scan"] and moved == ["rename", "move"]
    assert tools_for(timed) == ["vhpi", "rsnapshot-cp", "rsync"]
    assert tools_for(chosen_cases(["d"])[0]) == ["vhpi", "floor"]
    assert chosen_cases(["rename"]) == ([], ["rename"])


def test_vhpi_runs_with_a_byte_code_cache_in_the_work_folder():
    from vhpibench.cli import vhpi_environment
    from vhpibench.plan import REPO
    env = vhpi_environment({"PATH": "/bin", "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/root"}, "/w")
    assert env == {"PATH": "/bin", "HOME": "/w/home", "PYTHONPATH": REPO, "LC_ALL": "C",
                   "PYTHONPYCACHEPREFIX": "/w/pycache"}


def test_case_flag_accepts_the_new_cases():
    from vhpibench.cli import parse_arguments
    assert parse_arguments(["--case", "rename", "--case", "move"]).case == ["rename", "move"]
    assert parse_arguments([]).case is None
    with pytest.raises(SystemExit):
        parse_arguments(["--case", "nope"])
