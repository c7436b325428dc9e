"""`vhpi init`: write a commented config file for the user to edit; never overwrite one."""

from __future__ import annotations

import argparse
import os
import sys

from vhpi.config.template import INIT_VALUES, render_config


def run_init(config: None, arguments: argparse.Namespace, home: str) -> int:
    """Create the config file named by --config (default ~/.very_hungry_pi/config.yaml),
    mode 0600, and its folder (mode 0700) if missing; return 0, or 1 when a file is there."""
    path = os.path.expanduser(arguments.config)
    if os.path.lexists(path):
        print(f"vhpi init: {path} already exists; it was left as it is. Check it with: "
              f"vhpi check", file=sys.stderr)
        return 1
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render_config(INIT_VALUES))
    except OSError as error:
        print(f"vhpi init: cannot write {path}: {error.strerror or error}", file=sys.stderr)
        return 1
    print(f"wrote {path}\n"
          f"next: edit the job in it (source, destination, host), put an empty .backup_valid file "
          f"in the source and an empty .backup_destination file in the destination, then run: "
          f"vhpi check")
    return 0
