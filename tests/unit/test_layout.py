"""The package layout: no module over 400 lines, no import cycle in jobs/, udfs/ and bench/,
and ARCHITECTURE.md's map of the layers matching the import graph.

The import graph is read from the source (every ``import`` statement, lazy ones inside
functions included), so the check needs no JVM and imports nothing.
"""

from __future__ import annotations

import ast
import re
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


# In the map: a path from the repository root (``jobs/runtime.py``), a package path that the bare
# names after it belong to (``jobs/ops/: deploy.py``), or such a bare name (``deploy.py``).
MAP_TOKEN = re.compile(r"(?<![\w/.])((?:jobs|udfs|bench)/(?:\w+/)*)(\w+\.py)?|(?<![\w/.])(\w+\.py)")


def architecture_layers() -> list[tuple[str, set[str]]]:
    """The layers of ARCHITECTURE.md's layout map, top down: (label, modules named on its rows)."""
    text = (PROJECT_ROOT / "ARCHITECTURE.md").read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    layers: list[tuple[str, list[str]]] = []
    for row in block.strip("\n").splitlines():
        label = row[:15].strip()
        if label:
            layers.append((label, []))
        layers[-1][1].append(row)
    out = []
    for label, rows in layers:
        names: set[str] = set()
        directory = ""
        for m in MAP_TOKEN.finditer(" ".join(rows)):
            if m.group(1):
                directory = m.group(1)
            file = m.group(2) or m.group(3)
            if file:
                names.add(".".join((directory + file).removesuffix(".py").split("/")))
        out.append((label, names))
    return out


def test_the_architecture_map_matches_the_import_graph() -> None:
    found = modules()
    layers = architecture_layers()
    level: dict[str, int] = {}
    for i, (label, names) in enumerate(layers):
        for name in names:
            assert name in found, f"ARCHITECTURE.md ({label}) names {name}, which is no module"
            assert name not in level, f"ARCHITECTURE.md names {name} on two layers"
            level[name] = i
    packages = {name for name, path in found.items() if path.name == "__init__.py"}
    missing = sorted(set(found) - packages - set(level))
    assert missing == [], f"modules missing from ARCHITECTURE.md's layout map: {missing}"
    upward = sorted(
        f"{name} ({layers[level[name]][0]}) imports {target} ({layers[level[target]][0]})"
        for name, targets in graph().items()
        if name not in packages
        for target in targets - packages
        if level[target] < level[name]
    )
    assert upward == [], f"imports that point up ARCHITECTURE.md's map: {upward}"
