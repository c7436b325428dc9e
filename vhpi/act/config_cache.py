"""Writing the validated-config cache (what it holds and when it is used: vhpi.config.cache)."""

from __future__ import annotations

import os

from vhpi.act.files import write_json_atomically
from vhpi.config.cache import CACHE_NAME, cache_entry
from vhpi.config.model import Config


def remember_config(home: str, path: str, config: Config) -> None:
    """Store a validated Config for the config file as it is now (best effort). The file is
    the user's only, like everything vhpi writes (vhpi.act.umask)."""
    try:
        os.makedirs(home, mode=0o700, exist_ok=True)
        write_json_atomically(os.path.join(home, CACHE_NAME), cache_entry(path, config))
    except OSError:
        pass  # only a cache: the next run validates again
