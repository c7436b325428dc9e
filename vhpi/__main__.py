"""`python3 -m vhpi` runs the same entry point as `python3 -m vhpi.main`."""

import sys

from vhpi.main import main

sys.exit(main())
