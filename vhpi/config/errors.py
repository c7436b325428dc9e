"""The one error the config layer raises (kept apart so that importing it costs nothing)."""

from __future__ import annotations

from typing import List


class ConfigError(Exception):
    """The config cannot be used; `problems` lists every reason, one sentence each."""

    def __init__(self, problems: List[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)
