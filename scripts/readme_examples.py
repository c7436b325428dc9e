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

import calendar
import functools
import glob
import os
import random
import re
import shutil
import subprocess
import sys
import time
from typing import List, Tuple

ROOT = "/tmp/vhpi-readme"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def laptop_config(folder: str, more_app_keys: str = "") -> str:
    """Return the config of one job `laptop` backing up FOLDER/laptop-share/ to
    FOLDER/usb-disk/laptop/ (with `more_app_keys`, YAML lines for app_cfg)."""
    return f"""app_cfg:
  intervals: {{hourly: 3600, daily: 86400, weekly: 604800}}
{more_app_keys}jobs_cfg:
  - name: laptop
    source_ip: '127.0.0.1'
    rsync_src: {folder}/laptop-share/
    rsync_dest: {folder}/usb-disk/laptop/
    snapshots: {{hourly: 24, daily: 7, weekly: 4}}
"""


CONFIG = laptop_config(ROOT)
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


def write(path: str, text: str, at: str = "2026-11-20 07:00:00") -> None:
    """Write `text` to `path` with its mtime set to the UTC moment `at` (fixed outputs)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    moment = calendar.timegm(time.strptime(at, "%Y-%m-%d %H:%M:%S"))
    os.utime(path, (moment, moment))


def vhpi(at: str, *args: str, home: str = f"{ROOT}/home", config: bool = True,
         config_path: str = f"{ROOT}/config.yaml") -> str:
    """Run vhpi at fake time `at`; return what it printed (stdout and stderr)."""
    env = {**os.environ, "HOME": home, "PYTHONPATH": REPO, "TZ": "UTC",
           "LD_PRELOAD": LIBFAKETIME, "FAKETIME": f"@{at}", "NO_FAKE_STAT": "1"}
    argv = [sys.executable, "-m", "vhpi.main", *(("--config", config_path) if config else ()), *args]
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
            write(f"{ROOT}/laptop-share/{name}", text, at)
        for name in deleted:
            os.unlink(f"{ROOT}/laptop-share/{name}")
        vhpi(at)


#: The commands shown, in order (each runs at NOW against the world build_world made).
COMMANDS = (("check",), ("status",), ("list", "laptop"), ("diff", "laptop", "hourly.2", "hourly.0"),
            ("diff", "laptop", "hourly.0", "source"), ("du", "laptop"),
            ("restore", "laptop", "hourly.1", "photos/dog.jpg"),
            ("restore", "laptop", "hourly.1", "photos/dog.jpg"),
            ("restore", "laptop", "hourly.1", "photos/dog.jpg", "--to", f"{ROOT}/old"),
            ("versions", "laptop", "notes.txt"), ("versions", "laptop", "photos"),
            ("restore", "laptop", "v1", "notes.txt", "--to", f"{ROOT}/old"))


DEDUP = f"{ROOT}/dedup"
DEDUP_CONFIG = """app_cfg:
  intervals: {hourly: 3600, daily: 86400, weekly: 604800}
jobs_cfg:
""" + "".join(f"""  - name: {name}
    source_ip: '127.0.0.1'
    rsync_src: {DEDUP}/{name}-share/
    rsync_dest: {DEDUP}/usb-disk/{name}/
    snapshots: {{hourly: 24, daily: 7, weekly: 4}}
""" for name in ("laptop", "desktop"))


def _same_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _write_bytes(path: str, data: bytes, at: str = "2026-11-20 07:00:00") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    moment = calendar.timegm(time.strptime(at, "%Y-%m-%d %H:%M:%S"))
    os.utime(path, (moment, moment))


def dedup_examples() -> List[Tuple[str, str]]:
    """Two jobs on one disk holding the same holiday photos and video; `vhpi dedup` after
    their first backups, and again a week later after new backups."""
    home, config = f"{DEDUP}/home", f"{DEDUP}/config.yaml"
    for name in ("laptop", "desktop"):
        write(f"{DEDUP}/usb-disk/{name}/.backup_destination", "")
        write(f"{DEDUP}/{name}-share/.backup_valid", "")
    write(config, DEDUP_CONFIG)
    video = _same_bytes(0, 80_000_000)
    for number in range(1, 6):
        photo = _same_bytes(number, 3_000_000)
        _write_bytes(f"{DEDUP}/laptop-share/photos/2026-08-holiday/IMG_000{number}.jpg", photo)
        _write_bytes(f"{DEDUP}/desktop-share/Pictures/holiday/IMG_000{number}.jpg", photo)
    for path in ("laptop-share/videos/beach.mp4", "laptop-share/photos/2026-08-holiday/beach-copy.mp4",
                 "desktop-share/Pictures/holiday/beach.mp4"):
        _write_bytes(f"{DEDUP}/{path}", video)
    _write_bytes(f"{DEDUP}/desktop-share/notes.odt", _same_bytes(9, 20_000))
    run = functools.partial(vhpi, home=home, config_path=config)
    run("2026-11-22 03:00:00")
    shown = [("vhpi " + " ".join(args), run("2026-11-22 03:30:00", *args))
             for args in (("dedup", "--dry-run"), ("dedup",))]
    party = _same_bytes(10, 40_000_000)
    _write_bytes(f"{DEDUP}/laptop-share/videos/party.mp4", party, "2026-11-25 20:00:00")
    _write_bytes(f"{DEDUP}/desktop-share/Videos/party.mp4", party, "2026-11-25 20:00:00")
    _write_bytes(f"{DEDUP}/desktop-share/Videos/beach-again.mp4", video)
    run("2026-11-29 03:00:00")
    shown += [("vhpi dedup", run("2026-11-29 03:30:00", "dedup")) for _ in range(2)]
    return shown


VERIFY = f"{ROOT}/verify"
VERIFY_CONFIG = laptop_config(VERIFY, "  scrub_every: 2592000\n")


def _flip_a_byte(path: str) -> None:
    """Bitrot: one bit of `path` changed in place, its modification time put back."""
    info = os.stat(path)
    with open(path, "r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0x04]))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def verify_examples() -> List[Tuple[str, str]]:
    """A laptop's backups with a scrub (every 30 days); `vhpi verify` when all is well, then
    after two files rotted on the disk: one that every snapshot shares, one whose newer
    snapshots hold another copy (its mode changed); then `vhpi status`."""
    home, config = f"{VERIFY}/home", f"{VERIFY}/config.yaml"
    write(f"{VERIFY}/usb-disk/laptop/.backup_destination", "")
    write(f"{VERIFY}/laptop-share/.backup_valid", "")
    write(config, VERIFY_CONFIG)
    run = functools.partial(vhpi, home=home, config_path=config)
    _write_bytes(f"{VERIFY}/laptop-share/photos/cat.jpg", _same_bytes(20, 400_000))
    _write_bytes(f"{VERIFY}/laptop-share/taxes/2025.pdf", _same_bytes(21, 120_000))
    write(f"{VERIFY}/laptop-share/notes.txt", "shopping: milk\n")
    run("2026-11-20 08:00:00")
    write(f"{VERIFY}/laptop-share/notes.txt", "shopping: milk, bread\n", "2026-11-20 08:30:00")
    run("2026-11-20 09:00:00")
    os.chmod(f"{VERIFY}/laptop-share/taxes/2025.pdf", 0o600)
    run("2026-11-20 10:00:00")
    shown = [("vhpi verify", run("2026-11-20 10:20:00", "verify"))]
    _flip_a_byte(f"{VERIFY}/usb-disk/laptop/hourly.2/photos/cat.jpg")
    _flip_a_byte(f"{VERIFY}/usb-disk/laptop/hourly.1/taxes/2025.pdf")
    shown += [("vhpi " + " ".join(args), run("2026-11-20 10:25:00", *args))
              for args in (("verify",), ("status",))]
    notes = f"{VERIFY}/laptop-share/notes.txt"  # changed in place, size and time kept
    info = os.stat(notes)
    with open(notes, "r+", encoding="utf-8") as handle:
        handle.write("shopping: milk, beer!\n")
    os.utime(notes, ns=(info.st_atime_ns, info.st_mtime_ns))
    shown.append(("vhpi verify --source laptop", run("2026-11-20 10:30:00", "verify", "--source", "laptop")))
    return shown


def examples() -> List[Tuple[str, str]]:
    """Build the world, run every example; return [(command line, output)]."""
    if not LIBFAKETIME:
        sys.exit("readme_examples: needs libfaketime (apt-get install faketime)")
    build_world()
    shown = [("vhpi init", vhpi(NOW, "init", home=f"{ROOT}/new-home", config=False))]
    write(f"{ROOT}/laptop-share/notes.txt", "shopping: milk, bread, tea\n", NOW)
    os.makedirs(f"{ROOT}/old")
    for args in COMMANDS:
        shown.append(("vhpi " + " ".join(args), vhpi(NOW, *args)))
    shown += dedup_examples()
    shown += verify_examples()
    return [(command, output.rstrip("\n")) for command, output in shown]


#: a README block of examples: "$ vhpi …" lines, each followed by its output
EXAMPLE_BLOCK = re.compile(r"```\n(\$ vhpi .*?)```", flags=re.S)


def update_readme(path: str, made: List[Tuple[str, str]]) -> None:
    """Write the outputs in `made` into the README at `path`, example by example, in
    order; the README must show the same command lines in the same order."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    pending = iter(made)

    def fill(block: "re.Match") -> str:
        parts = []
        for part in re.split(r"\n\n(?=\$ vhpi )", block.group(1).strip("\n")):
            command, output = next(pending)
            if part.partition("\n")[0] != f"$ {command}":
                sys.exit(f"readme_examples: the README shows {part.partition(chr(10))[0]!r} "
                         f"where the script runs `{command}`")
            parts.append(f"$ {command}\n{output}")
        return "```\n" + "\n\n".join(parts) + "\n```"

    text = EXAMPLE_BLOCK.sub(fill, text)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def main() -> int:
    """Print every example; with `--update README.md`, write them into that file instead."""
    made = examples()
    if sys.argv[1:2] == ["--update"]:
        update_readme(sys.argv[2], made)
        return 0
    for command, output in made:
        print(f"$ {command}\n{output}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
