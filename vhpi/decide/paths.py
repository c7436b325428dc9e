"""Pure questions about paths."""

from __future__ import annotations


def is_inside(path: str, folder: str) -> bool:
    """Given two absolute, normalised paths, return True when `path` is `folder` or lies
    below it."""
    folder = folder.rstrip("/") or "/"
    return path == folder or path.startswith(folder if folder == "/" else folder + "/")
