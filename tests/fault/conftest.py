"""The fault-injection campaign's tally: every test adds what it tried, and the session ends
by printing the figures that docs/reliability.md quotes (also written to the file named by
$VHPI_CAMPAIGN_REPORT, when set)."""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest

#: The categories docs/reliability.md reports, in its order.
CATEGORIES = (
    "crash points", "crash trials", "random-instant kills", "disk-full cases", "mount cases",
    "clock cases", "overlap cases", "hostile inputs", "link-limit cases", "metadata cases",
    "hung-share cases", "signal cases", "between-pass changes", "deep-tree cases",
    "no-hard-link cases", "home-folder cases", "power cuts",
    "snapshots checked", "snapshots lost",
)
_TALLY: Counter = Counter()


class Campaign:
    """What a test adds to the tally: `campaign.add("crash trials")`, `campaign.add("snapshots checked", 12)`."""

    def add(self, category: str, count: int = 1) -> None:
        if category not in CATEGORIES:
            raise ValueError(f"unknown campaign category {category!r}")
        _TALLY[category] += count


@pytest.fixture
def campaign() -> Campaign:
    return Campaign()


def pytest_terminal_summary(terminalreporter):
    if not _TALLY:
        return
    figures = {category: _TALLY[category] for category in CATEGORIES}
    terminalreporter.write_sep("-", "vhpi fault campaign")
    for category, count in figures.items():
        terminalreporter.write_line(f"{category:>22}: {count}")
    report = os.environ.get("VHPI_CAMPAIGN_REPORT")
    if report:
        with open(report, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=1)
