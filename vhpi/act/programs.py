"""Is a program there to run? (For `vhpi check`'s look at the hooks.)"""

from __future__ import annotations

import os
import shutil


def program_found(program: str) -> bool:
    """Given a program name or path, return True when a path names an executable file or
    a name is found in PATH."""
    if "/" in program:
        return os.access(program, os.X_OK)
    return shutil.which(program) is not None
