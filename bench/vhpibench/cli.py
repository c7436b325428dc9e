"""The command line and the whole run: `python3 bench/run.py [flags]` (see bench/README.md)."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

from .machine import load_average, machine_description
from .measuring import measure_case, measure_nothing_due, reach_steady_state, seed_destinations
from .memory import bench_memory_only, measure_memory
from .moved import run_moved_case
from .plan import ALL_TOOLS, CASE_KEYS, CASES, DEFAULT_SIZES, MOVE_CASES, REPO, SCAN_CASE, Case
from .report import report_text, results_document
from .results import Results
from .tools import Tool, Vhpi, make_tools, remove_tree_fast
from .trees import LARGE_BYTES, LARGE_COUNT, Tree, generate_tree, make_trees


def find_python(explicit: Optional[str]) -> str:
    """Return an interpreter that can import vhpi's dependencies (yaml, schema, pythonping):
    --python, else this one, else the repository's .venv, else /tmp/venv."""
    candidates = [explicit] if explicit else [sys.executable, os.path.join(REPO, ".venv", "bin", "python"),
                                              "/tmp/venv/bin/python"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and subprocess.run(
                [candidate, "-c", "import yaml, schema, pythonping"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode == 0:
            return candidate
    sys.exit("bench: no interpreter can import yaml, schema and pythonping; pass --python PATH")


def parse_arguments(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Return the command-line options (sys.argv's when `argv` is None)."""
    parser = argparse.ArgumentParser(description="Benchmark vhpi against rsnapshot and rsync + cp -al.")
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"small-file tree sizes, comma-separated (default {DEFAULT_SIZES}; "
                             f"10000,100000 takes about 20 minutes on 2 cores)")
    parser.add_argument("--million", action="store_true", help="add a tree of 1,000,000 small files")
    parser.add_argument("--memory-million", action="store_true",
                        help="also measure vhpi's and rsync's peak memory (no timing, vhpi only) "
                             "on a 1,000,000-file tree: about 10 minutes")
    parser.add_argument("--large", action=argparse.BooleanOptionalAction, default=True,
                        help=f"add a tree of {LARGE_COUNT} files of {LARGE_BYTES >> 20} MiB (default on)")
    parser.add_argument("--case", action="append", choices=CASE_KEYS, metavar="CASE",
                        help=f"run only this case (again for more): {', '.join(CASE_KEYS)} "
                             f"(default: all of them)")
    parser.add_argument("--repeats", type=int, default=5, help="measured rounds per case (default 5)")
    parser.add_argument("--work", metavar="DIR", help="make the work folder inside DIR (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder at the end")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "results.md"),
                        help="Markdown results file (default bench/results.md)")
    parser.add_argument("--python", help="interpreter for vhpi (default: one that imports its dependencies)")
    arguments = parser.parse_args(argv)
    if arguments.repeats < 1:
        parser.error("--repeats must be at least 1")
    return arguments


def tree_sizes(text: str, million: bool) -> List[int]:
    """Given --sizes ('10000,30000', underscores allowed) and --million, return the small
    trees' sizes in order, 1,000,000 added at the end unless already there."""
    sizes = [int(size.replace("_", "")) for size in text.split(",") if size.strip()]
    if million and 1_000_000 not in sizes:
        sizes.append(1_000_000)
    return sizes


def chosen_cases(keys: Optional[List[str]]) -> Tuple[List[Case], List[str]]:
    """Given the --case keys (None: all), return the timed cases to run on each tree (a-d,
    then the scan comparison) and the moved-files cases, each in the plan's order."""
    wanted = set(keys or CASE_KEYS)
    timed = [case for case in (*CASES, SCAN_CASE) if case.key in wanted]
    return timed, [key for key in MOVE_CASES if key in wanted]


def tools_for(cases: List[Case]) -> List[str]:
    """Return the names of the tools the cases need, in a fixed order."""
    needed = {tool for case in cases for tool in case.tools}
    return [name for name in (*ALL_TOOLS, "rsync") if name in needed]


def vhpi_environment(environ: Dict[str, str], work: str) -> Dict[str, str]:
    """Return the environment vhpi and the other tools run in: HOME inside the work folder,
    vhpi from this repository, and Python's byte-code cache on (in work/pycache, not in the
    repository), as an installed vhpi has it, even when PYTHONDONTWRITEBYTECODE is set here:
    without it every run compiles vhpi's modules again (25 ms of a nothing-due run)."""
    env = {key: value for key, value in environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "HOME": os.path.join(work, "home"), "PYTHONPATH": REPO, "LC_ALL": "C",
            "PYTHONPYCACHEPREFIX": os.path.join(work, "pycache")}


def check_programs() -> None:
    """Stop early when rsync, rsnapshot, cp or rm is missing."""
    missing = [name for name in ("rsync", "rsnapshot", "cp", "rm") if shutil.which(name) is None]
    if missing:
        sys.exit(f"bench: missing programs: {', '.join(missing)} (apt-get install rsync rsnapshot)")


def set_up_tree(tree: Tree, work: str, env: Dict[str, str], python: str, results: Results,
                names: List[str]) -> List[Tool]:
    """Generate the tree, seed the destinations of the tools `names`, bring them to steady
    state; return the tools that are ready."""
    results.trees.append(tree)
    results.generation[tree.name] = generate_tree(tree)
    print(f"  generated in {results.generation[tree.name]:.1f} s", flush=True)
    started = time.perf_counter()
    tools = make_tools(tree, work, env, python, names)
    seed_destinations(tree, tools, work)
    tools = reach_steady_state(tools, results)
    print(f"  seeded and brought to steady state in {time.perf_counter() - started:.1f} s", flush=True)
    return tools


def clean_up_tree(tree: Tree, work: str) -> None:
    """Delete the tree and every tool's destination for it."""
    started = time.perf_counter()
    remove_tree_fast(os.path.join(work, "dest", tree.name))
    remove_tree_fast(tree.path)
    print(f"  removed the tree and its backups in {time.perf_counter() - started:.1f} s", flush=True)


def bench_tree(tree: Tree, work: str, env: Dict[str, str], python: str, repeats: int,
               keep: bool, results: Results, cases: List[Case]) -> None:
    """Set up one tree, measure the `cases`, vhpi with nothing due and (when every case of
    the main table runs) the peak memory, then clean up (unless `keep`)."""
    print(f"\n== tree {tree.label()} ({tree.path})", flush=True)
    tools = set_up_tree(tree, work, env, python, results, tools_for(cases))
    for case in cases:
        print(f"  case {case.key}: {case.title}", flush=True)
        started = time.perf_counter()
        measure_case(case, tools, tree, repeats, results)
        print(f"    (case took {time.perf_counter() - started:.1f} s)", flush=True)
    vhpi = next((tool for tool in tools if isinstance(tool, Vhpi)), None)
    if vhpi is not None:
        measure_nothing_due(vhpi, tree, results)
        if all(case in cases for case in CASES):
            measure_memory(vhpi, tree, work, results)
    if not keep:
        clean_up_tree(tree, work)


def write_text(path: str, text: str) -> None:
    """Write `text` to `path`, creating its folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the whole benchmark and write the report; return the exit code (1 when any tool
    failed)."""
    arguments = parse_arguments(argv)
    check_programs()
    python = find_python(arguments.python)
    command = shlex.join(["python3", sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    if arguments.work:
        os.makedirs(arguments.work, exist_ok=True)
    work = tempfile.mkdtemp(prefix="vhpi-bench-", dir=arguments.work)
    env = vhpi_environment(dict(os.environ), work)
    os.makedirs(env["HOME"])
    timed, moved = chosen_cases(arguments.case)
    machine = machine_description(work, python)
    print(f"work folder {work}; vhpi runs with {python}", flush=True)
    started = time.perf_counter()
    results = Results(cases=tuple(case.key for case in timed))
    try:
        trees = make_trees(tree_sizes(arguments.sizes, arguments.million), arguments.large, work) if timed else []
        for tree in trees:
            bench_tree(tree, work, env, python, arguments.repeats, arguments.keep, results, timed)
        for key in moved:
            run_moved_case(key, work, env, python, results)
        if arguments.memory_million:
            bench_memory_only(1_000_000, work, env, python, results)
    finally:
        if arguments.keep:
            print(f"\nkept the work folder {work}")
        else:
            remove_tree_fast(work)
    total = time.perf_counter() - started
    body = report_text(results, arguments.repeats)
    print("\n" + body)
    print(f"whole benchmark took {total / 60:.1f} min; results written to {arguments.out}")
    write_text(arguments.out, results_document(machine, load_average(), command, body, total / 60))
    return 1 if results.failures else 0
