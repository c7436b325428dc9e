"""Reading the YAML config file, with every failure turned into a sentence that names it."""

from __future__ import annotations

import os
from typing import Any

import yaml

from vhpi.config.errors import ConfigError


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys instead of silently keeping the last one."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(path: str, text: str, error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.reader.ReaderError):
        before = text[:error.position]
        line, column = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        character = chr(error.character) if isinstance(error.character, int) else error.character
        return (f"{path}, line {line}, column {column}: character {character!r} is "
                f"not allowed in YAML ({error.reason})")
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is None:
        return f"{path}: not valid YAML: {problem}"
    return f"{path}, line {mark.line + 1}, column {mark.column + 1}: {problem}"


def read_config_text(path: str) -> str:
    """Return the text of the config file, or raise ConfigError saying why it cannot be read."""
    try:
        if os.path.exists(path) and not os.path.isdir(path) and not os.path.isfile(path):
            raise ConfigError([f"{path}: is not a regular file"])
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such config file (`vhpi init` writes a commented one to start from)"])
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a folder, not a config file"])
    except PermissionError:
        raise ConfigError([f"{path}: not allowed to read it (check its owner and mode)"])
    except UnicodeDecodeError as error:
        raise ConfigError([f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"])
    except OSError as error:
        raise ConfigError([f"{path}: cannot read it: {error.strerror}"])


def parse_config_text(path: str, text: str) -> Any:
    """Return the YAML document in `text`, or raise ConfigError with file, line and column."""
    if not text.strip():
        raise ConfigError([f"{path}: the file is empty"])
    try:
        document = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        raise ConfigError([_yaml_problem(path, text, error)])
    if document is None:
        raise ConfigError([f"{path}: holds no settings, only comments"])
    return document


def load_raw_config(path: str) -> Any:
    """Read and parse the config file at `path` (which may start with ~)."""
    full_path = os.path.expanduser(path)
    return parse_config_text(full_path, read_config_text(full_path))
