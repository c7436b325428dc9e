"""Exact parsing of snapshot folder names such as `daily.3`.

Matching is exact: `daily` never matches `six-daily.0` or `daily.03`.
"""

from __future__ import annotations

from typing import Iterable, List, Optional

LATEST_NAME = "backup.latest"


def snapshot_name(interval: str, number: int) -> str:
    """Return the folder name of snapshot `number` of `interval`, e.g. `daily.0`."""
    return f"{interval}.{number}"


def snapshot_number(folder_name: str, interval: str) -> Optional[int]:
    """Return n when `folder_name` is exactly `<interval>.<n>` (n written canonically), else None."""
    prefix = interval + "."
    if not folder_name.startswith(prefix):
        return None
    digits = folder_name[len(prefix):]
    if not digits.isdigit() or not digits.isascii() or str(int(digits)) != digits:
        return None
    return int(digits)


def snapshot_numbers(folder_names: Iterable[str], interval: str) -> List[int]:
    """Return the sorted snapshot numbers of `interval` found among `folder_names`."""
    numbers = (snapshot_number(name, interval) for name in folder_names)
    return sorted(n for n in numbers if n is not None)
