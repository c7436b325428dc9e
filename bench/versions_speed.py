"""How long `vhpi versions JOB PATH` takes on a job with 50 snapshots, for a tree of 10,000
and of 100,000 files: the time should not grow with the tree (one lookup per snapshot).

For each size it builds a destination (backup.latest with N files in folders of 100, then
50 hard-linked snapshots hourly.49 ... hourly.0 made with `cp -al`, the file looked at
rewritten every 10 snapshots, so it has 5 versions, and vhpi's records of when each
snapshot was made), then times `python -m vhpi.main versions` for that file (the whole
command, interpreter start included) and vhpi's lookup alone (find_versions, in this
process), and the command for one folder of 100 files; median of 5 each. Standard library
and vhpi only:

    .venv/bin/python bench/versions_speed.py                 # 10,000 and 100,000 files
    .venv/bin/python bench/versions_speed.py --sizes 10000   # a quick look
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vhpi.act.layout import Layout  # noqa: E402
from vhpi.act.state import write_snapshot_times  # noqa: E402

SNAPSHOTS = 50
PER_FOLDER = 100
REPEATS = 5
LOOKED_AT = "d0000/f00042.txt"
FOLDER = "d0001"
START = 1_790_000_000.0


def build(root: Path, files: int) -> Path:
    """Make source, destination and config below `root` for a tree of `files` files;
    return the config's path."""
    source, dest = root / "source", root / "dest"
    latest = dest / "backup.latest"
    for folder in (source, dest / ".vhpi", latest, root / "home"):
        folder.mkdir(parents=True)
    (source / ".backup_valid").write_text("")
    (dest / ".backup_destination").write_text("")
    for number in range(files):
        folder = latest / f"d{number // PER_FOLDER:04d}"
        if number % PER_FOLDER == 0:
            folder.mkdir()
        (folder / f"f{number % PER_FOLDER:05d}.txt").write_text(f"file {number}\n")
    layout = Layout(str(dest))
    for age in range(SNAPSHOTS - 1, -1, -1):
        if age % 10 == 9:
            _rewrite(latest / LOOKED_AT, f"version made before hourly.{age}\n")
        snapshot = dest / f"hourly.{age}"
        subprocess.run(["cp", "-al", str(latest), str(snapshot)], check=True)
        taken = START + (SNAPSHOTS - 1 - age) * 3600
        write_snapshot_times(layout, {"hourly": taken}, (str(snapshot), taken))
    config = root / "config.yaml"
    config.write_text("app_cfg: {intervals: {hourly: 3600}}\n"
                      "jobs_cfg:\n"
                      f"  - {{name: bench, source_ip: 127.0.0.1, rsync_src: '{source}', "
                      f"rsync_dest: '{dest}', snapshots: {{hourly: {SNAPSHOTS}}}}}\n")
    return config


def _rewrite(path: Path, text: str) -> None:
    """Give `path` new content in a new inode (as rsync does), keeping the snapshots' copy."""
    fresh = path.with_name(path.name + ".new")
    fresh.write_text(text)
    os.replace(fresh, path)


def median_seconds(action: Callable[[], None]) -> float:
    times: List[float] = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def command(root: Path, config: Path, path: str) -> Callable[[], None]:
    argv = [sys.executable, "-m", "vhpi.main", "--config", str(config), "versions", "bench", path]
    env = dict(os.environ, HOME=str(root / "home"), PYTHONPATH=str(REPO))

    def run() -> None:
        result = subprocess.run(argv, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"vhpi versions failed: {result.stderr}")
    return run


def lookup(config: Path, path: str) -> Callable[[], None]:
    from vhpi.act.version_lookup import find_versions
    from vhpi.config.loading import load_raw_config
    from vhpi.config.validation import validate_config
    loaded = validate_config(load_raw_config(str(config)), str(config))
    parts = tuple(path.split("/"))

    def run() -> None:
        found = find_versions(loaded.jobs[0], loaded.intervals, parts)
        assert len(found.versions) == SNAPSHOTS // 10, found.versions
    return run


def measure(files: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="vhpi-versions-bench-"))
    try:
        started = time.perf_counter()
        config = build(root, files)
        print(f"{files:,} files, {SNAPSHOTS} snapshots: built in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        print(f"  vhpi versions FILE (command):   {median_seconds(command(root, config, LOOKED_AT)):.3f} s")
        print(f"  find_versions FILE (in-process): {median_seconds(lookup(config, LOOKED_AT)) * 1000:.1f} ms")
        print(f"  vhpi versions FOLDER of {PER_FOLDER} files: "
              f"{median_seconds(command(root, config, FOLDER)):.3f} s", flush=True)
    finally:  # rm -rf: far quicker than shutil.rmtree on 5 million names
        subprocess.run(["rm", "-rf", "--", str(root)], check=False)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="comma-separated file counts (default 10000,100000)")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    print(f"median of {REPEATS}; Python {sys.version.split()[0]}")
    for files in sizes:
        measure(files)


if __name__ == "__main__":
    main()
