"""Pure questions about paths."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple


def is_inside(path: str, folder: str) -> bool:
    """Given two absolute, normalised paths, return True when `path` is `folder` or lies
    below it."""
    folder = folder.rstrip("/") or "/"
    return path == folder or path.startswith(folder if folder == "/" else folder + "/")


def nesting_problem(source: str, destination: str) -> Optional[Tuple[str, str]]:
    """Given a job's source and destination folders (absolute and normalised; real paths
    at run time, so symlinks are seen through), return why they cannot work together as
    (the config key it concerns: rsync_src, rsync_dest, or '' for both; the reason), or
    None."""
    if source.rstrip("/") == destination.rstrip("/"):
        return "", "rsync_src and rsync_dest are the same folder"
    if is_inside(destination, source):
        return "rsync_dest", "lies inside rsync_src: every backup would copy the backups again"
    if is_inside(source, destination):
        return "rsync_src", "lies inside rsync_dest, among the snapshots"
    return None


def destination_clashes(destinations: List[str], places: Optional[List[int]] = None) -> List[str]:
    """Given the jobs' destination folders (as written, or their real paths) and their
    indexes in jobs_cfg (default 0, 1, …), return a problem for each job whose destination
    is also an earlier job's."""
    places = list(range(len(destinations))) if places is None else places
    seen: Dict[str, int] = {}
    found = []
    for index, destination in zip(places, destinations):
        key = destination.rstrip("/") or "/"
        if key in seen:
            found.append(f"jobs_cfg[{index}].rsync_dest: is also the destination of "
                         f"jobs_cfg[{seen[key]}]")
        seen.setdefault(key, index)
    return found
