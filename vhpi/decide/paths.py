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


#: vhpi's own folder below the user's home, and where it keeps the state of other configs.
STATE_FOLDER = ".very_hungry_pi"
OTHER_CONFIGS = "configs"
DEFAULT_CONFIG_NAME = "config.yaml"


def shared_state_folders(state: str) -> List[str]:
    """Given a state folder, return the folders whose record of the destinations vhpi has
    used counts for it: its own and, for a config's folder below ~/.very_hungry_pi/configs/,
    ~/.very_hungry_pi's too (what the destinations had before each config got a folder of
    its own; such a record only ever makes vhpi more careful)."""
    parent, _, _ = state.rstrip("/").rpartition("/")
    top, _, name = parent.rpartition("/")
    if name == OTHER_CONFIGS and top.endswith("/" + STATE_FOLDER):
        return [state, top]
    return [state]


def state_folder(config_path: str, user_home: str) -> str:
    """Given the config file's absolute, normalised path and the user's home folder, return
    the folder for that config's logs, lock and records: ~/.very_hungry_pi for the default
    ~/.very_hungry_pi/config.yaml, and ~/.very_hungry_pi/configs/<name>-<8 hex digits of the
    path>/ for any other config, so that two configs never share logs, locks or records."""
    own = f"{user_home.rstrip('/')}/{STATE_FOLDER}"
    if config_path == f"{own}/{DEFAULT_CONFIG_NAME}":
        return own
    stem = config_path.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0] or "config"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in stem)[:40]
    return f"{own}/{OTHER_CONFIGS}/{safe}-{_crc32_hex(config_path)}"


def _crc32_hex(text: str) -> str:
    import zlib
    return f"{zlib.crc32(text.encode('utf-8', 'surrogateescape')):08x}"
