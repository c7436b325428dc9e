"""The report: Results turned into Markdown tables, the case legend and the summary lines.

Pure functions of the data they are given: no files, no processes, no clock.
"""

from __future__ import annotations

import statistics
from typing import Dict, List, Optional, Sequence, Tuple

from .plan import (ALL_TOOLS, CASES, FLOOR_TARGET, IDLE_RUNS, IDLE_TARGET, KEEP, MOVED_TARGET,
                   RSYNC_OPTIONS, SCAN_CASE, SCAN_TARGET, SHARE, Case)
from .results import MovedRun, Results
from .trees import Tree

TABLE_HEADER = ["tree", "case", "vhpi s", "rsnapshot cp s", "rsnapshot ld s", "floor s",
                "vhpi/rsnap best", "vhpi/rsnap cp", "vhpi/rsnap ld", "vhpi/floor",
                "vhpi RSS MiB"]
PEAKS_HEADER = ["tree", "run", "vhpi peak RSS", "rsync peak RSS"]
SUMMARY_HEADER = ["tree", "generation s", f"vhpi nothing due s (median of {IDLE_RUNS})",
                  f"vhpi ≤ {FLOOR_TARGET} × floor, nothing expiring (case d)"]
SCAN_HEADER = ["tree", "times", "vhpi s", "rsync s", "rsnapshot cp s", "vhpi/rsync", "vhpi/rsnap cp"]
SCAN_TARGET_HEADER = ["tree", "vhpi/rsync, durable", f"vhpi ≤ {SCAN_TARGET:.2f} × rsync, durable",
                      f"vhpi nothing due s (median of {IDLE_RUNS})", f"nothing due < {IDLE_TARGET:.3f} s"]
MOVED_HEADER = ["case", "tool", "new inodes MiB", "nothing changed MiB", "beyond, of moved data",
                "disk growth MiB", "read from share MiB", "nothing changed MiB", "beyond, of moved data",
                "rsync copied MiB", "s (cold cache)", f"target: ≤ {MOVED_TARGET:.0%} beyond"]
MIB = 1 << 20


# --------------------------------------------------------------------------- figures

def median(values: Optional[Sequence[float]]) -> Optional[float]:
    """Return the median of `values`, or None when there are none."""
    return statistics.median(values) if values else None


def median_of(results: Results, tree: str, case: str, tool: str) -> Optional[float]:
    """Return the median seconds of `tool` in `case` of `tree` (names and key), or None."""
    return median(results.seconds.get((tree, case, tool)))


def ratio(top: Optional[float], bottom: Optional[float]) -> Optional[float]:
    """Return top / bottom, or None when either is missing or bottom is zero."""
    return top / bottom if top is not None and bottom else None


def fastest(values: Sequence[Optional[float]]) -> Optional[float]:
    """Return the smallest of the values that are there, or None."""
    present = [value for value in values if value is not None]
    return min(present) if present else None


def target_met(vhpi: Optional[float], floor: Optional[float]) -> Optional[bool]:
    """Given case d's medians, return whether vhpi ≤ FLOOR_TARGET × floor (None: unknown)."""
    if vhpi is None or not floor:
        return None
    return vhpi <= FLOOR_TARGET * floor


# --------------------------------------------------------------------------- cells

def ratio_cell(top: Optional[float], bottom: Optional[float]) -> str:
    """Return top/bottom with two decimals, or '—'."""
    value = ratio(top, bottom)
    return f"{value:.2f}" if value is not None else "—"


def seconds_cell(results: Results, tree: str, case: Case, tool: str) -> str:
    """Return a table cell: the median with three decimals, 'failed' (in the case or while
    reaching steady state), or '—' when the tool is not in the case or has no figure."""
    if tool not in case.tools:
        return "—"
    if any((tree, key, tool) in results.failures for key in (case.key, "setup")):
        return "failed"
    value = median_of(results, tree, case.key, tool)
    return f"{value:.3f}" if value is not None else "—"


def memory_cell(samples: Optional[Sequence[Tuple[int, int]]]) -> str:
    """Given vhpi's (own KiB, child KiB) per round, return its largest own peak in MiB with
    one decimal, or '—'."""
    return f"{max(own for own, _ in samples) / 1024:.1f}" if samples else "—"


def target_text(vhpi: Optional[float], floor: Optional[float]) -> str:
    """Return the summary's target cell from case d's medians: 'met', 'MISSED' or '—'."""
    met = target_met(vhpi, floor)
    return "—" if met is None else ("met" if met else "MISSED")


def kib_text(kib: Optional[int]) -> str:
    """Return KiB as MiB with one decimal ('18.9 MiB'), or '—'."""
    return "—" if kib is None else f"{kib / 1024:.1f} MiB"


# --------------------------------------------------------------------------- rows and tables

def case_row(results: Results, tree: Tree, case: Case) -> List[str]:
    """Return the main table's row of one tree and case: the tools' medians, vhpi's ratios
    to the faster rsnapshot, to each rsnapshot mode and to the floor, and vhpi's memory."""
    med: Dict[str, Optional[float]] = {tool: median_of(results, tree.name, case.key, tool) for tool in ALL_TOOLS}
    return [tree.label(), case.key,
            *[seconds_cell(results, tree.name, case, tool) for tool in ALL_TOOLS],
            ratio_cell(med["vhpi"], fastest([med["rsnapshot-cp"], med["rsnapshot-ld"]])),
            ratio_cell(med["vhpi"], med["rsnapshot-cp"]),
            ratio_cell(med["vhpi"], med["rsnapshot-ld"]),
            ratio_cell(med["vhpi"], med["floor"]),
            memory_cell(results.memory.get((tree.name, case.key)))]


def table_rows(results: Results) -> List[List[str]]:
    """Return the main table's rows: one per tree and case that ran, in measuring order."""
    return [case_row(results, tree, case) for tree in results.trees for case in CASES
            if case.key in results.cases]


def summary_row(results: Results, tree: Tree) -> List[str]:
    """Return the summary row of one tree: generation seconds, vhpi's nothing-due median
    ('failed' when missing) and the case d target."""
    vhpi, floor = median_of(results, tree.name, "d", "vhpi"), median_of(results, tree.name, "d", "floor")
    idle = results.idle.get(tree.name)
    return [tree.label(), f"{results.generation[tree.name]:.1f}",
            f"{idle:.3f}" if idle is not None else "failed", target_text(vhpi, floor)]


def summary_rows(results: Results) -> List[List[str]]:
    """Return one summary row per timed tree."""
    return [summary_row(results, tree) for tree in results.trees]


def peak_rows(results: Results) -> List[List[str]]:
    """Return one row per memory run: tree label, run, vhpi's and rsync's peaks."""
    return [[tree, run, kib_text(vhpi), kib_text(rsync)]
            for (tree, run), (vhpi, rsync) in results.peaks.items()]


# --------------------------------------------------------------------------- the scan comparison

def durable_seconds(results: Results, tree: str, case: str, tool: str) -> List[float]:
    """Return each measured round's run + sync seconds of `tool` (empty when none)."""
    key = (tree, case, tool)
    return [run + synced for run, synced in zip(results.seconds.get(key, []), results.sync_seconds.get(key, []))]


def paired_ratio(tops: Sequence[float], bottoms: Sequence[float]) -> Optional[float]:
    """Return the median of the per-round ratios top/bottom (the rounds ran both tools one
    after the other, so the ratio holds when the machine's speed drifts between rounds);
    None when no round has both (or a bottom is zero)."""
    pairs = list(zip(tops, bottoms))
    if not pairs or not all(bottom for _, bottom in pairs):
        return None
    return statistics.median(top / bottom for top, bottom in pairs)


def scan_figures(results: Results, tree: str, durable: bool) -> Dict[str, List[float]]:
    """Return {tool: seconds per measured round} of the scan comparison, run alone or
    run + sync (`durable`)."""
    key = SCAN_CASE.key
    if durable:
        return {tool: durable_seconds(results, tree, key, tool) for tool in SCAN_CASE.tools}
    return {tool: list(results.seconds.get((tree, key, tool), [])) for tool in SCAN_CASE.tools}


def scan_row(results: Results, tree: Tree, durable: bool) -> List[str]:
    """Return one row of the scan table: the tools' medians and vhpi's paired ratios to the
    plain rsync and to rsnapshot (cp mode), of the runs alone or with their sync."""
    figures = scan_figures(results, tree.name, durable)

    def cell(tool: str) -> str:
        if any((tree.name, key, tool) in results.failures for key in (SCAN_CASE.key, "setup")):
            return "failed"
        value = median(figures[tool])
        return f"{value:.3f}" if value is not None else "—"

    def ratio_text(bottom: str) -> str:
        value = paired_ratio(figures["vhpi"], figures[bottom])
        return f"{value:.2f}" if value is not None else "—"
    return [tree.label(), "run + sync (durable)" if durable else "run",
            *[cell(tool) for tool in SCAN_CASE.tools], ratio_text("rsync"), ratio_text("rsnapshot-cp")]


def scan_rows(results: Results) -> List[List[str]]:
    """Return the scan table's rows: per tree, the runs alone, then run + sync."""
    return [scan_row(results, tree, durable) for tree in results.trees for durable in (False, True)]


def verdict(met: Optional[bool]) -> str:
    """Return 'met', 'MISSED' or '—' (unknown)."""
    return "—" if met is None else ("met" if met else "MISSED")


def scan_target_row(results: Results, tree: Tree) -> List[str]:
    """Return the scan targets' row of one tree: vhpi/rsync durable and whether it is at
    most SCAN_TARGET, vhpi's nothing-due median and whether it is under IDLE_TARGET."""
    figures = scan_figures(results, tree.name, True)
    value = paired_ratio(figures["vhpi"], figures["rsync"])
    idle = results.idle.get(tree.name)
    return [tree.label(), "—" if value is None else f"{value:.2f}",
            verdict(None if value is None else value <= SCAN_TARGET),
            "failed" if idle is None else f"{idle:.3f}", verdict(None if idle is None else idle < IDLE_TARGET)]


def scan_legend() -> List[str]:
    """Return the bullet lines under the scan table."""
    return [
        f"* {SCAN_CASE.title}",
        "* rsync = `rsync " + " ".join(RSYNC_OPTIONS) + " SRC/ tree/` into the existing tree, no "
        "snapshot: the least any rsync-based tool can do; rsnapshot cp = `link_dest 0`",
        "* run + sync = the run, then sync(2), timed right after it: the durable time (vhpi "
        "flushes its snapshots before it ends, the others leave that to the sync)",
        "* ratios: the median of the per-round ratios (each round runs every tool once, in "
        "rotating order)"]


# --------------------------------------------------------------------------- moved files

def mib_text(value: Optional[int]) -> str:
    """Return bytes as MiB with one decimal, or '—'."""
    return "—" if value is None else f"{value / MIB:.1f}"


def share_text(part: int, whole: int) -> str:
    """Return part/whole as a percentage with one decimal ('0.4 %'), or '—'."""
    return f"{100 * part / whole:.1f} %" if whole else "—"


def moved_target_met(run: MovedRun, moved_bytes: int) -> bool:
    """True when what the run wrote anew (new inodes) and what it read, beyond the run with
    nothing changed, are each at most MOVED_TARGET of the moved data."""
    limit = MOVED_TARGET * moved_bytes
    return (run.new_inodes - run.new_inodes_unchanged <= limit
            and run.read - run.read_unchanged <= limit)


def moved_row(results: Results, key: str, tool: str) -> List[str]:
    """Return the moved-files table's row of one case and tool (the target only for vhpi)."""
    moved_bytes = results.moved_data[key][1]
    run = results.moved.get((key, tool))
    if run is None:
        return [key, tool, "failed"] + ["—"] * (len(MOVED_HEADER) - 3)
    return [key, tool, mib_text(run.new_inodes), mib_text(run.new_inodes_unchanged),
            share_text(run.new_inodes - run.new_inodes_unchanged, moved_bytes),
            mib_text(run.disk_growth), mib_text(run.read), mib_text(run.read_unchanged),
            share_text(run.read - run.read_unchanged, moved_bytes),
            mib_text(run.copied), f"{run.seconds:.2f}",
            verdict(moved_target_met(run, moved_bytes)) if tool == "vhpi" else "—"]


def moved_rows(results: Results) -> List[List[str]]:
    """Return one row per moved-files case that ran and tool that took part in it, in order."""
    rows = []
    for key in results.moved_data:
        tools = [tool for case, tool in results.moved if case == key]
        tools += [tool for tree, case, tool in results.failures if tree == SHARE and case == key
                  and tool not in tools]
        rows += [moved_row(results, key, tool) for tool in tools]
    return rows


def moved_legend(results: Results) -> List[str]:
    """Return the bullet lines under the moved-files table: each case, the columns, skips."""
    lines = [f"* {key}: {files:,} files, {mib_text(size)} MiB moved or renamed between two backups"
             for key, (files, size) in results.moved_data.items()]
    lines += [
        "* new inodes = the blocks of the inodes in the tool's destination that were not there "
        "before the run (what it wrote anew); disk growth = the backup disk's used space, after "
        "minus before",
        "* read from share = the sectors read from the share's loop device during the run, the "
        "page cache dropped first; rsync copied = its \"Total transferred file size\", summed "
        "over the copying passes",
        "* nothing changed = the same figure of the tool's run before the change (a snapshot's own "
        "new folders; the walk's reads of the share's metadata); beyond = the difference, as a share "
        "of the moved files' bytes: what the move itself cost",
        f"* target (vhpi): written and read beyond the run with nothing changed each ≤ "
        f"{MOVED_TARGET:.0%} of the moved data"]
    return lines + [f"* {key}: skipped, {why}" for key, why in results.skipped.items()]


def markdown_table(header: List[str], rows: List[List[str]]) -> str:
    """Return a Markdown table with padded columns (readable as plain text too)."""
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]

    def line(cells: List[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule] + [line(row) for row in rows])


# --------------------------------------------------------------------------- text

def case_legend() -> List[str]:
    """Return the bullet lines under the main table: the cases and the column names."""
    lines = [f"* case {case.key}: {case.title}" + ("" if case.tools == ALL_TOOLS else " (vhpi and floor only)")
             for case in CASES]
    return lines + [
        "* rsnapshot cp = `link_dest 0` (cp -al, then rsync into .0); rsnapshot ld = "
        "`link_dest 1`; rsnap best = the faster of the two in that row",
        "* floor = `rsync " + " ".join(RSYNC_OPTIONS) + " SRC/ latest/`, then per due interval "
        "`rm -rf` of the oldest, mv of the others, `cp -al latest <interval>.0`",
        "* vhpi RSS = vhpi's own peak resident memory, from its debug.log (largest over the "
        "measured rounds)"]


def report_text(results: Results, repeats: int) -> str:
    """Return the results as Markdown (what is printed and follows the machine description
    in results.md): main table, case legend, summary, peak memory, failures."""
    parts = []
    if results.trees:
        parts += [f"Medians of {repeats} measured rounds (after one warm-up round), seconds of wall "
                  f"time per backup run. Keep count {KEEP} for every interval and tool; rsync options "
                  f"`{' '.join(RSYNC_OPTIONS)}` for all.", ""]
    if table_rows(results):
        parts += [markdown_table(TABLE_HEADER, table_rows(results)), ""] + case_legend() + [""]
    if results.trees:
        parts += [markdown_table(SUMMARY_HEADER, summary_rows(results))]
    if results.trees and SCAN_CASE.key in results.cases:
        parts += ["", "The hourly run against one rsync scan (medians of the same rounds):", "",
                  markdown_table(SCAN_HEADER, scan_rows(results)), ""] + scan_legend()
        parts += ["", markdown_table(SCAN_TARGET_HEADER,
                                     [scan_target_row(results, tree) for tree in results.trees])]
    if results.moved_data or results.skipped:
        parts += ["", "Moved and renamed files (one measured run per tool, on a share and a backup "
                  "disk of their own):", ""]
        if moved_rows(results):
            parts += [markdown_table(MOVED_HEADER, moved_rows(results)), ""]
        parts += moved_legend(results)
    if results.peaks:
        parts += ["", "Peak memory (resident set) of vhpi and, separately, of its rsync processes "
                  "(rsync run under GNU time through a wrapper first in PATH; the largest of its "
                  "passes), in runs that are not timed:", "",
                  markdown_table(PEAKS_HEADER, peak_rows(results))]
    while parts and not parts[0]:
        parts.pop(0)
    if results.failures:
        parts += ["", "Failures:"] + [f"* {tree} {case} {tool}: {message}"
                                      for (tree, case, tool), message in sorted(results.failures.items())]
    return "\n".join(parts) + "\n"


def results_document(machine: Sequence[Tuple[str, str]], end_load: str, command: str, body: str,
                     minutes: float) -> str:
    """Return the whole results.md: the machine description (pairs), the load average at
    the end, the command line, the total minutes, then `body` (from report_text)."""
    lines = ["# vhpi benchmark results", ""] + [f"* {key}: {value}" for key, value in machine]
    lines += [f"* load average at the end: {end_load}", f"* command: `{command}`",
              f"* whole benchmark took {minutes:.1f} min", "", body]
    return "\n".join(lines)
