"""A built-in demo: a real backup of a small demo source into a temporary folder.

`python3 -m vhpi.demo [FOLDER]` makes a source (with its .backup_valid), a marked
destination, a config whose job pings 127.0.0.1, and a private HOME, then runs vhpi
twice, changing a file in between, and shows the snapshot tree, the shared inodes and
info.log. Nothing outside FOLDER (default: a new temporary folder) is touched.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import List, Optional

from vhpi.act.fd_walk import OpenPath, join, walk_tree
from vhpi.act.processes import run_to_file
from vhpi.decide.paths import state_folder
from vhpi.decide.tree_compare import FOLDER

DEMO_INTERVALS = {"quick": 2, "hourly": 3600}
DEMO_KEEP = {"quick": 3, "hourly": 24}


def make_demo_world(root: str) -> str:
    """Create source, destination, home and config below `root`; return the config path."""
    source, destination = os.path.join(root, "source"), os.path.join(root, "backups")
    os.makedirs(os.path.join(source, "photos"))
    os.makedirs(os.path.join(root, "home"))
    os.makedirs(destination)
    files = {"notes.txt": "shopping: milk, bread\n", "photos/cat.jpg": "not really a cat\n",
             "photos/dog.jpg": "not really a dog\n", ".backup_valid": ""}
    for name, text in files.items():
        with open(os.path.join(source, name), "w", encoding="utf-8") as handle:
            handle.write(text)
    open(os.path.join(destination, ".backup_destination"), "w").close()
    config = os.path.join(root, "config.yaml")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(
            "# vhpi demo config: relative paths start at this file's folder\n"
            "app_cfg:\n"
            f"  intervals: {{quick: {DEMO_INTERVALS['quick']}, hourly: {DEMO_INTERVALS['hourly']}}}\n"
            "jobs_cfg:\n"
            "  - name: demo\n"
            "    source_ip: '127.0.0.1'\n"
            "    rsync_src: source\n"
            "    rsync_dest: backups\n"
            f"    snapshots: {{quick: {DEMO_KEEP['quick']}, hourly: {DEMO_KEEP['hourly']}}}\n")
    return config


def run_vhpi(root: str, config: str, *command: str) -> int:
    """Run `python3 -m vhpi.main [command]` with HOME inside the demo folder (without a
    command: the backup run, as cron would)."""
    env = dict(os.environ, HOME=os.path.join(root, "home"))
    sys.stdout.flush()
    finished = run_to_file([sys.executable, "-m", "vhpi.main", "--config", config, *command],
                           sys.stdout, env=env)
    return finished.code


def snapshot_listing(destination: str) -> List[str]:
    """Return `inode  links  path` lines for every file in the destination's snapshots
    (each snapshot walked depth first, in name order: see vhpi.act.fd_walk)."""
    lines = []
    for folder in sorted(os.listdir(destination)):
        if folder.startswith(".") or not os.path.isdir(os.path.join(destination, folder)):
            continue
        with OpenPath.open(os.path.join(destination, folder)) as walk:
            for listing in walk_tree(walk):
                for entry in listing:
                    if entry.kind != FOLDER:
                        lines.append(_file_line(folder, walk, entry.name))
    return lines


def _file_line(snapshot: str, walk: OpenPath, name: bytes) -> str:
    info = os.lstat(name, dir_fd=walk.fd)
    path = os.path.join(snapshot, os.fsdecode(join(walk.path, name)))
    return f"{info.st_ino:>10}  {info.st_nlink:>2}  {path}"


def main(argv: Optional[List[str]] = None) -> int:
    """Run the demo; return 0 when both backup runs succeeded."""
    argv = sys.argv[1:] if argv is None else argv
    root = os.path.abspath(argv[0]) if argv else tempfile.mkdtemp(prefix="vhpi-demo-")
    os.makedirs(root, exist_ok=True)
    if os.listdir(root):
        print(f"vhpi demo: {root} is not empty; give an empty or new folder", file=sys.stderr)
        return 2
    config = make_demo_world(root)
    print(f"vhpi demo in {root}\n\n1st run: everything is due")
    first = run_vhpi(root, config)
    with open(os.path.join(root, "source", "notes.txt"), "a", encoding="utf-8") as handle:
        handle.write("and coffee\n")
    time.sleep(DEMO_INTERVALS["quick"] + 0.5)
    print("2nd run, after notes.txt changed and the 'quick' interval passed")
    second = run_vhpi(root, config)
    destination = os.path.join(root, "backups")
    print("\nSnapshots (inode, link count, path): unchanged files share one inode.")
    print("\n".join(snapshot_listing(destination)))
    state = state_folder(os.path.abspath(config), os.path.join(root, "home"))
    with open(os.path.join(state, "info.log"), encoding="utf-8") as handle:
        print(f"\ninfo.log:\n{handle.read()}")
    print("$ vhpi status")
    status = run_vhpi(root, config, "status")
    print("\n$ vhpi diff demo quick.1 quick.0")
    diff = run_vhpi(root, config, "diff", "demo", "quick.1", "quick.0")
    return 0 if first == second == status == diff == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
