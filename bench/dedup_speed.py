"""How fast `vhpi dedup` is and what it frees: two jobs sharing a disk, each backing up
--mib MiB (default 1024) in 16 MiB files, half of them the same files in both sources.

Per round (default 3): fresh sources and destinations, one backup run, then disk use (sum
of st_blocks of every distinct inode below both destinations), the first dedup (everything
hashed and linked), disk use again, and a second dedup over the unchanged snapshots (the
incremental case: a listing and index look-ups). Prints the medians (seconds per GiB of
backed-up data) and the raw figures.

    .venv/bin/python bench/dedup_speed.py [--mib 1024] [--rounds 3] [--dir /var/tmp]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FILE_MIB = 16
MTIME = 1_700_000_000


def write_random(path: Path, mib: int) -> None:
    with open(path, "wb") as handle:
        for _ in range(mib):
            handle.write(os.urandom(1 << 20))
    os.utime(path, (MTIME, MTIME))


def make_world(root: Path, mib: int) -> Path:
    """Two marked sources and destinations, half the files shared; return the config."""
    jobs = []
    for name in ("laptop", "desktop"):
        for folder in (root / f"src-{name}", root / f"dest-{name}"):
            folder.mkdir()
        (root / f"src-{name}" / ".backup_valid").write_text("")
        (root / f"dest-{name}" / ".backup_destination").write_text("")
        jobs.append({"name": name, "source_ip": "127.0.0.1", "rsync_src": str(root / f"src-{name}"),
                     "rsync_dest": str(root / f"dest-{name}"), "snapshots": {"daily": 3}})
    files = max(2, mib // FILE_MIB)
    for number in range(files):
        first = root / "src-laptop" / f"f{number:03}.bin"
        write_random(first, FILE_MIB)
        second = root / "src-desktop" / f"f{number:03}.bin"
        if number < files // 2:
            shutil.copy2(first, second)
        else:
            write_random(second, FILE_MIB)
    config = root / "config.yaml"
    config.write_text(json.dumps({"app_cfg": {"intervals": {"daily": 86400}}, "jobs_cfg": jobs}))
    return config


def vhpi(root: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HOME=str(root / "home"), PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "vhpi.main", "--config", str(config), *args],
                          env=env, capture_output=True, text=True, check=True)


def disk_use(*roots: Path) -> int:
    seen, total = set(), 0
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                info = os.lstat(os.path.join(folder, name))
                if info.st_ino not in seen:
                    seen.add(info.st_ino)
                    total += info.st_blocks * 512
    return total


def timed(root: Path, config: Path) -> tuple:
    started = time.monotonic()
    result = vhpi(root, config, "dedup", "--json")
    return time.monotonic() - started, json.loads(result.stdout)["groups"][0]


def one_round(base: str, mib: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="vhpi-dedup-bench-", dir=base))
    try:
        (root / "home").mkdir()
        config = make_world(root, mib)
        vhpi(root, config)
        dests = (root / "dest-laptop", root / "dest-desktop")
        before = disk_use(*dests)
        first, report = timed(root, config)
        after = disk_use(*dests)
        second, again = timed(root, config)
        return {"before": before, "after": after, "first_s": first, "second_s": second,
                "freed": report["bytes_freed"], "linked": report["files_linked"],
                "second_linked": again["files_linked"]}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="MiB per job (default 1024)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the trees go")
    options = parser.parse_args()
    rounds = [one_round(options.dir, options.mib) for _ in range(options.rounds)]
    gib = 2 * options.mib / 1024  # both jobs' backed-up data
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    print(f"two jobs x {options.mib} MiB, half of the files the same; {options.rounds} rounds, medians:")
    print(f"  disk use before {median['before'] / 2**30:.2f} GiB, after {median['after'] / 2**30:.2f} GiB "
          f"(dedup reported {median['freed'] / 2**30:.2f} GiB freed, {median['linked']:.0f} files linked)")
    print(f"  first dedup  {median['first_s']:.2f} s = {median['first_s'] / gib:.2f} s per GiB")
    print(f"  second dedup {median['second_s']:.2f} s = {median['second_s'] / gib:.3f} s per GiB "
          f"({median['second_linked']:.0f} files linked)")
    print(json.dumps(rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
