"""The description of the machine and the tool versions that heads results.md (reads
/proc and runs `--version` commands)."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from typing import List, Sequence, Tuple

from .plan import REPO


def command_output(argv: Sequence[str]) -> str:
    """Return the first line a command prints, or 'unknown' (also when it fails: git outside
    a repository, say)."""
    try:
        done = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        if done.returncode != 0:
            return "unknown"
        return done.stdout.decode("utf-8", "replace").strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_total() -> str:
    """Return the RAM size from /proc/meminfo in GiB."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
    except OSError:
        pass
    return "unknown"


def filesystem_type(path: str) -> str:
    """Return the type of the file system holding `path` (longest mount point in /proc/mounts)."""
    path, best, kind = os.path.realpath(path), "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as handle:
            for line in handle:
                fields = line.split()
                mount = fields[1].replace("\\040", " ")
                inside = path == mount or path.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, kind = mount, f"{fields[2]} ({fields[0]} on {mount})"
    except OSError:
        pass
    return kind


def load_average() -> str:
    """Return the load averages: other work on the machine makes timings noisy."""
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def machine_description(work: str, python: str) -> List[Tuple[str, str]]:
    """Given the work folder and vhpi's interpreter, return (what, value) pairs describing
    the machine and the tool versions."""
    return [("CPU", cpu_model()), ("cores", str(os.cpu_count())), ("RAM", memory_total()),
            ("kernel", f"{platform.system()} {platform.release()}"),
            ("work folder file system", filesystem_type(work)),
            ("rsync", command_output(["rsync", "--version"])),
            ("rsnapshot", command_output(["rsnapshot", "version"])),
            ("Python running vhpi", command_output([python, "--version"]) + f" ({python})"),
            ("vhpi commit", command_output(["git", "-C", REPO, "log", "-1", "--format=%h %s"])),
            ("load average at start (1, 5, 15 min)", load_average()),
            ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))]
