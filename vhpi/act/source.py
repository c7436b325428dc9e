"""Is the job's source really there? A share that is not mounted is an empty folder, and
mirroring an empty folder with --delete would empty the backup."""

from __future__ import annotations

import os
from typing import Optional

from vhpi.act.layout import SOURCE_MARK


def source_problem(source: str) -> Optional[str]:
    """Return why `source` must not be backed up now, or None when its sentinel is readable."""
    sentinel = os.path.join(source, SOURCE_MARK)
    if not os.path.isdir(source):
        return f"source {source} does not exist or is not a folder: is the share mounted?"
    try:
        with open(sentinel, "rb"):
            pass
    except FileNotFoundError:
        return (f"source {source} has no {SOURCE_MARK}: the share is probably not mounted. "
                f"Nothing was touched. (If this is the right folder, create it: touch {sentinel})")
    except OSError as error:
        return f"cannot read {sentinel}: {error.strerror}"
    return None
