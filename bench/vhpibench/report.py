"""The report: Results turned into Markdown tables, the case legend and the summary lines.

Pure functions of the data they are given: no files, no processes, no clock.
"""

from __future__ import annotations

import statistics
from typing import Dict, List, Optional, Sequence, Tuple

from .plan import ALL_TOOLS, CASES, FLOOR_TARGET, IDLE_RUNS, KEEP, RSYNC_OPTIONS, Case
from .results import Results
from .trees import Tree

TABLE_HEADER = ["tree", "case", "vhpi s", "rsnapshot cp s", "rsnapshot ld s", "floor s",
                "vhpi/rsnap best", "vhpi/rsnap cp", "vhpi/rsnap ld", "vhpi/floor",
                "vhpi RSS MiB"]
PEAKS_HEADER = ["tree", "run", "vhpi peak RSS", "rsync peak RSS"]
SUMMARY_HEADER = ["tree", "generation s", f"vhpi nothing due s (median of {IDLE_RUNS})",
                  f"vhpi ≤ {FLOOR_TARGET} × floor, nothing expiring (case d)"]


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
    """Return the main table's rows: one per tree and case, in measuring order."""
    return [case_row(results, tree, case) for tree in results.trees for case in CASES]


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
    parts = [f"Medians of {repeats} measured rounds (after one warm-up round), seconds of wall "
             f"time per backup run. Keep count {KEEP} for every interval and tool; rsync options "
             f"`{' '.join(RSYNC_OPTIONS)}` for all.", "",
             markdown_table(TABLE_HEADER, table_rows(results)), ""]
    parts += case_legend()
    parts += ["", markdown_table(SUMMARY_HEADER, summary_rows(results))]
    if results.peaks:
        parts += ["", "Peak memory (resident set) of vhpi and, separately, of its rsync processes "
                  "(rsync run under GNU time through a wrapper first in PATH; the largest of its "
                  "passes), in runs that are not timed:", "",
                  markdown_table(PEAKS_HEADER, peak_rows(results))]
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
