"""The import graph of curate/ and train/ has no cycle: every module can be read, imported and
tested from the bottom up. Imports inside functions count (they are deferred, not gone);
imports only for type checkers (`if TYPE_CHECKING:`) do not, since they never run."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("curate", "train")


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join(parts)] = path
    return mods


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom, mods: dict[str, Path]) -> list[str]:
    """The project modules an import statement names: `from a.b import c` is a.b.c when that
    is a module, else a.b (a name defined there)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join(package + ([base] if base else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
    return [n for n in names if n in mods and n != module]


def _runtime_nodes(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    return ast.walk(tree)


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[module].update(_imported(module, path, node, mods))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle (a list of modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycle_in_the_project():
    graph = import_graph()
    assert len(graph) > 50 and "curate.engines.base" in graph  # the walk found the project
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_imports_inside_functions_but_not_type_only_ones():
    graph = import_graph()
    assert "curate.engines.ray_data" in graph["curate.engines.ray"]  # imported inside RayEngine.score
    assert "curate.signals.quality" not in graph["curate.signals.batch"]  # under TYPE_CHECKING only


def test_the_engines_are_the_only_place_that_knows_an_engine_by_name():
    offenders = []
    for module, path in _modules().items():
        if module.startswith("curate.engines"):
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ('engine == "ray"', "engine == 'ray'", 'engine == "local"', "dedup_ray", "score_ray"):
            if needle in text:
                offenders.append(f"{module}: {needle}")
    assert not offenders
