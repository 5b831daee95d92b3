"""The package's modules form no import cycle, counting imports inside functions and for type checking."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest_llmonpy

PACKAGE = Path(pytest_llmonpy.__file__).parent


def _imports(path: Path) -> set[str]:
    """The package modules `path` imports anywhere in its code (``__init__`` for a name it exports)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "pytest_llmonpy":
            found.update(
                alias.name if (PACKAGE / f"{alias.name}.py").exists() else "__init__" for alias in node.names
            )
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pytest_llmonpy."):
            found.add((node.module or "").split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(
                alias.name.split(".")[1] for alias in node.names if alias.name.startswith("pytest_llmonpy.")
            )
    return found - {path.stem}


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = {path.stem: _imports(path) for path in PACKAGE.glob("*.py")}
    graph = {module: {name for name in names if name in graph} for module, names in graph.items()}

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            for name in graph[stack.pop()] - seen:
                seen.add(name)
                stack.append(name)
        return seen

    cycles = sorted(module for module in graph if module in reachable(module))
    assert not cycles, f"modules on an import cycle: {cycles}"
    assert {"report", "report_schema", "plugin"} <= set(graph)  # the check saw the package
