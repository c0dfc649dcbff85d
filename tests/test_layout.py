"""The layers import downwards only: the program and ops never depend on the test tooling."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [("components", {"ops", "tools", "tests", "policy"}), ("ops", {"tools", "tests", "policy"})],
)
def test_folder_does_not_import(folder: str, forbidden: set[str]) -> None:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, f"no modules under {folder}/"
    for path in files:
        wrong = imported_packages(path) & forbidden
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}: {folder}/ must not depend on them"


PACKAGES = ("components", "ops", "e2e", "tools", "policy")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports, at any depth (an import inside a function closes a cycle just the same)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from ops import stack` imports ops.stack; `from ops.stack import load` imports ops.stack.
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        found.update(name for name in names if name in modules)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    paths = [p for package in PACKAGES for p in (root / package).rglob("*.py") if ".venv" not in p.parts]
    modules = {module_name(p): p for p in paths}
    names = set(modules) - set(PACKAGES)
    return {name: project_imports(path, names) - {name} for name, path in modules.items() if name in names}


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle (the path that closes it), or [] when there is none."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return []


def test_no_import_cycles() -> None:
    """A cycle works only while every module in it is imported in the right order (ops once hid one behind an
    import inside a function): each module must be importable on its own."""
    graph = import_graph()
    assert {"ops.up", "ops.registry_gc", "components.environment", "e2e.run"} <= graph.keys()
    assert "ops.registry_gc" in graph["ops.up"], "the graph must see `from ops import registry_gc`"
    assert not cycle(graph), " -> ".join(cycle(graph))


def test_the_cycle_check_finds_a_cycle() -> None:
    assert sorted(set(cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}))) == ["a", "b", "c"]
    assert cycle({"a": {"b"}, "b": set()}) == []
