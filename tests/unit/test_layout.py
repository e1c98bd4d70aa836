"""The package layout: no module over 400 lines and no import cycle in jobs/, udfs/ and bench/.

The import graph is read from the source (every ``import`` statement, lazy ones inside
functions included), so the check needs no JVM and imports nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

from jobs.settings import PROJECT_ROOT

PACKAGES = ("jobs", "udfs", "bench")
MAX_LINES = 400


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of PACKAGES."""
    found = {}
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The project modules that ``path`` imports (``from jobs import x`` names module jobs.x)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                out.add(name)
    return out


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    # A package's own __init__ is not an edge (every submodule import runs it).
    return {
        name: {m for m in imports_of(path, known) if m != name and not name.startswith(m + ".")}
        for name, path in found.items()
    }


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_is_read_from_lazy_imports_too(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from jobs.ops import rest\n    import udfs.scd\n")
    assert imports_of(source, {"jobs", "jobs.ops", "jobs.ops.rest", "udfs", "udfs.scd"}) == {
        "jobs.ops",
        "jobs.ops.rest",
        "udfs.scd",
    }


def test_no_import_cycle() -> None:
    assert import_cycles(graph()) == []


def test_no_module_over_400_lines() -> None:
    long = {
        str(path.relative_to(PROJECT_ROOT)): n
        for path in modules().values()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these modules by concern (at most {MAX_LINES} lines): {long}"
