"""A validated copy of the config, so that the hourly run does not import and run the YAML
parser and the validator when the file has not changed (on a Pi Zero that is most of the
time a "nothing due" run takes).

The copy lives in ~/.very_hungry_pi/config.cache.json and is used only when the config
file's path, inode, size and modification time and vhpi's version all match; anything
else (or a damaged copy) means a full load. Only a config that validated is ever cached.
This module only reads the copy and says what it holds; vhpi.act.config_cache writes it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import List, Optional

from vhpi import __version__
from vhpi.config.model import Config, Hooks, Job

CACHE_NAME = "config.cache.json"


def config_key(path: str) -> List:
    """Return what identifies this exact version of the config file."""
    info = os.stat(path)
    return [os.path.realpath(path), info.st_ino, info.st_size, info.st_mtime_ns, __version__]


def _job_from(data: dict) -> Job:
    """Given the JSON form of a Job, return the Job."""
    return Job(**{**data, "rsync_options": tuple(data["rsync_options"]),
                  "excludes": tuple(data["excludes"]), "warnings": tuple(data["warnings"]),
                  "hooks": Hooks(**data["hooks"])})


def _config_from(data: dict) -> Config:
    """Given the JSON form of a Config (dataclasses.asdict), return the Config (raises
    KeyError or TypeError for a copy that does not fit, e.g. written by older code)."""
    return Config(data["path"], dict(data["intervals"]), tuple(map(_job_from, data["jobs"])),
                  Hooks(**data["hooks"]), data["healthcheck_url"])


def cached_config(home: str, path: str) -> Optional[Config]:
    """Return the cached Config when it belongs to the config file as it is now, else None."""
    try:
        with open(os.path.join(home, CACHE_NAME), encoding="utf-8") as handle:
            cached = json.load(handle)
        if cached["key"] != config_key(path):
            return None
        return _config_from(cached["config"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cache_entry(path: str, config: Config) -> dict:
    """Return what the cache holds for a validated Config of the config file as it is now
    (written by vhpi.act.config_cache; read back by cached_config)."""
    return {"key": config_key(path), "config": asdict(config)}
