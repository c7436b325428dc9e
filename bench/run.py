#!/usr/bin/env python3
"""Benchmark vhpi against rsnapshot (cp -al and link_dest modes) and a plain rsync + cp -al floor.

Run from the repository root:  python3 bench/run.py   (see bench/README.md for the flags)

Every tool backs up the same generated source tree into its own destination on the same
file system, keeps the same number of snapshots per interval, and is brought to its steady
state (every interval holds its keep count) before anything is measured, so measured runs
really expire the oldest snapshot. Each measurement is repeated, the tools alternate in a
rotating order within each round, one unmeasured warm-up round comes first, and medians
are reported. The code is the package bench/vhpibench/; this file only starts it.
Standard library only; Python 3.9+.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from vhpibench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
