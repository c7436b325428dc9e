"""The layers' import rules, read from the source: vhpi.decide holds pure rules (it imports
only other vhpi.decide modules and no module that does IO; config types only for type
hints), and vhpi.config reads its file but writes nothing (it never imports vhpi.act or
vhpi.actions: the config cache is written by vhpi.act.config_cache)."""

import ast
from pathlib import Path
from typing import Iterator, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "vhpi"
#: Standard modules whose point is IO (processes, network, files, logging, the clock's sleep).
IO_MODULES = {"subprocess", "socket", "shutil", "tempfile", "glob", "logging", "urllib", "http",
              "select", "signal", "fcntl", "threading", "multiprocessing", "asyncio", "io"}


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(path: Path) -> Iterator[Tuple[int, str]]:
    """Yield (line, module) for every import in `path` (also inside functions), except the
    ones under `if TYPE_CHECKING:`."""
    def visit(node: ast.AST) -> Iterator[Tuple[int, str]]:
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield child.lineno, alias.name
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                yield child.lineno, child.module
            yield from visit(child)
    yield from visit(ast.parse(path.read_text(encoding="utf-8")))


def modules(layer: str):
    return sorted((PACKAGE / layer).glob("*.py"))


@pytest.mark.parametrize("path", modules("decide"), ids=lambda path: path.name)
def test_decide_imports_only_pure_modules(path):
    wrong = [f"{path.name}:{line}: {module}" for line, module in imports(path)
             if (module.startswith("vhpi") and not module.startswith("vhpi.decide"))
             or module.split(".")[0] in IO_MODULES]
    assert wrong == []


@pytest.mark.parametrize("path", modules("config"), ids=lambda path: path.name)
def test_config_does_not_import_act(path):
    wrong = [f"{path.name}:{line}: {module}" for line, module in imports(path)
             if module.startswith(("vhpi.act", "vhpi.main", "vhpi.logs", "vhpi.demo"))]
    assert wrong == []
