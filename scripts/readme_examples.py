#!/usr/bin/env python3
"""Print the example outputs shown in the README, made by the real commands.

Builds a small world under /tmp/vhpi-readme (source, marked destination, private HOME,
a config whose job pings 127.0.0.1), makes backups at fixed fake times with faketime,
then runs each command at a fixed fake time and prints `$ vhpi ...` and its output.
Paths and times are fixed, so the output only changes where the product changes (and in
free-space figures). Needs faketime (scripts/setup.sh installs it).

    .venv/bin/python scripts/readme_examples.py
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

ROOT = "/tmp/vhpi-readme"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = f"""app_cfg:
  intervals: {{hourly: 3600, daily: 86400, weekly: 604800}}
jobs_cfg:
  - name: laptop
    source_ip: '127.0.0.1'
    rsync_src: {ROOT}/laptop-share/
    rsync_dest: {ROOT}/usb-disk/laptop/
    snapshots: {{hourly: 24, daily: 7, weekly: 4}}
"""
RUNS = (  # (fake time of a backup run, files written before it, files deleted before it)
    ("2026-11-20 08:00:00", {"notes.txt": "shopping: milk\n", "photos/cat.jpg": "c" * 40000,
                             "photos/dog.jpg": "d" * 30000, "taxes/2025.pdf": "t" * 120000}, ()),
    ("2026-11-20 09:00:00", {"notes.txt": "shopping: milk, bread\n"}, ()),
    ("2026-11-20 10:00:00", {"photos/bird.jpg": "b" * 25000}, ("photos/dog.jpg",)),
)
NOW = "2026-11-20 10:20:00"
#: libfaketime, preloaded directly (the `faketime` wrapper leaves semaphores in /dev/shm
#: that make a later start with the same pid fail)
LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))), "")


def write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def vhpi(at: str, *args: str) -> str:
    """Run vhpi at fake time `at`; return what it printed (stdout and stderr)."""
    env = {**os.environ, "HOME": f"{ROOT}/home", "PYTHONPATH": REPO, "TZ": "UTC",
           "LD_PRELOAD": LIBFAKETIME, "FAKETIME": f"@{at}"}
    argv = [sys.executable, "-m", "vhpi.main", "--config", f"{ROOT}/config.yaml", *args]
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    return done.stdout


def build_world() -> None:
    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(f"{ROOT}/usb-disk/laptop")
    write(f"{ROOT}/usb-disk/laptop/.backup_destination", "")
    write(f"{ROOT}/laptop-share/.backup_valid", "")
    write(f"{ROOT}/config.yaml", CONFIG)
    for at, files, deleted in RUNS:
        for name, text in files.items():
            write(f"{ROOT}/laptop-share/{name}", text)
        for name in deleted:
            os.unlink(f"{ROOT}/laptop-share/{name}")
        vhpi(at)


def show(*args: str) -> None:
    print(f"$ vhpi {' '.join(args)}")
    print(vhpi(NOW, *args).rstrip("\n"))
    print()


def main() -> int:
    if not LIBFAKETIME:
        sys.exit("readme_examples: needs libfaketime (apt-get install faketime)")
    build_world()
    write(f"{ROOT}/laptop-share/notes.txt", "shopping: milk, bread, tea\n")
    for args in (("check",), ("status",), ("list", "laptop"),
                 ("diff", "laptop", "hourly.2", "hourly.0"), ("diff", "laptop", "hourly.0", "source"),
                 ("du", "laptop"), ("restore", "laptop", "hourly.1", "photos/dog.jpg"),
                 ("restore", "laptop", "hourly.1", "photos/dog.jpg")):
        show(*args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
