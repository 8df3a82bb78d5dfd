"""lucid's modules import each other without cycles (function-level and TYPE_CHECKING imports count).

Every module under ``src/lucid`` is parsed with :mod:`ast`; a package's ``__init__.py`` is a module
of its own (the package's name), so a submodule that imports a name from its package depends on
the package's ``__init__``. ``from lucid.x import y`` depends on ``lucid.x.y`` when ``y`` is a
submodule, otherwise on ``lucid.x``. The strongly connected components of that graph are the cycles.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"
ROOT_PACKAGE = "lucid"

# Cycles outside lucid.models that are being removed by the one-engine work (the files involved
# are rewritten on another branch). Each entry is one strongly connected component; the test
# fails on any cycle not listed here, and on a listed one that grew.
KNOWN_CYCLES: tuple[frozenset[str], ...] = ()  # none: every cycle is an error


def module_files() -> dict[str, Path]:
    """``{dotted module name: file}`` for every ``.py`` file of the package (``__init__`` = the package)."""
    modules = {}
    for path in sorted((SOURCE / ROOT_PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _absolute(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name a (possibly relative) ``from ... import`` refers to."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imported_modules(module: str, path: Path, known: set[str]) -> Iterator[str]:
    """The lucid modules ``module`` imports anywhere in its file (top level, functions, TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                # "import lucid.a.b" imports lucid.a.b (and runs its packages' __init__ first).
                while name and name not in known:
                    name = name.rpartition(".")[0]
                if name:
                    yield name
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node.level, node.module)
            if base.split(".")[0] != ROOT_PACKAGE:
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in known else base


def import_graph() -> dict[str, set[str]]:
    """``{module: modules it imports}`` restricted to lucid's own modules, self-imports dropped."""
    files = module_files()
    known = set(files)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        graph[module] = {t for t in imported_modules(module, path, known) if t in known and t != module}
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Tarjan's algorithm (iterative): the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[frozenset[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(frozenset(component))
    return components


def _describe(component: frozenset[str], graph: dict[str, set[str]]) -> str:
    edges = sorted(f"{a} -> {b}" for a in component for b in graph[a] if b in component)
    return "{" + ", ".join(sorted(component)) + "}: " + "; ".join(edges)


def test_the_graph_sees_lucid_modules():
    graph = import_graph()
    assert "lucid.models" in graph and "lucid.models.model" in graph
    assert "lucid.models.config" in graph["lucid.models.model"]
    # a submodule named in "from package import submodule" counts as that submodule
    assert "lucid.models.weights" in graph["lucid.models"]


def test_no_import_cycles():
    graph = import_graph()
    cycles = [c for c in strongly_connected(graph) if c not in KNOWN_CYCLES]
    assert not cycles, "import cycles:\n" + "\n".join(_describe(c, graph) for c in cycles)


def test_the_resolver_handles_relative_imports():
    assert _absolute("lucid.a.b", False, 1, "c") == "lucid.a.c"
    assert _absolute("lucid.a", True, 1, "c") == "lucid.a.c"
    assert _absolute("lucid.a.b", False, 2, None) == "lucid"


def test_a_cycle_is_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [frozenset({"a", "b", "c"})]
