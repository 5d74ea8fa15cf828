"""The package's import graph, read from the source with `ast` (nothing is imported).

Every import counts: at module level, inside functions, under `if TYPE_CHECKING:`. A
cycle — however it is hidden — fails, and so does an import against the direction the
architecture gives (docs/architecture.md): the engine defines the vocabulary and the
protocols it needs and never imports a gateway or a front end; the gateways implement
those protocols and import the engine's vocabulary only; the front ends wire the two.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cipp_setup"
CHECKS = ROOT / "checks"  # shipped as cipp_setup.checks

# What the gateways may use of the engine: its plain values and the protocols they
# implement (and the state directory the journal and the sign-in cache share).
ENGINE_VOCABULARY = frozenset({
    "cipp_setup.engine.result", "cipp_setup.engine.model", "cipp_setup.engine.context",
    "cipp_setup.engine.runner", "cipp_setup.engine.writes", "cipp_setup.engine.services",
    "cipp_setup.engine.lookups", "cipp_setup.engine.journal",
})
FRONT_ENDS = ("cipp_setup.cli", "cipp_setup.wizard")


def _module_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for base, prefix in ((PACKAGE, ("cipp_setup",)), (CHECKS, ("cipp_setup", "checks"))):
        for path in sorted(base.rglob("*.py")):
            parts = prefix + path.relative_to(base).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join(parts)] = path
    return files


MODULES = _module_files()


def _owner(name: str) -> str | None:
    """The package module a dotted import name lands in (itself, or its nearest parent)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):  # every node: functions and TYPE_CHECKING blocks included
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            submodules = [f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in MODULES]
            found.update(submodules)
            if len(submodules) < len(node.names):  # names from the module itself
                found.add(source)
    owners = {_owner(name) for name in found}
    return {o for o in owners if o is not None and o != module}


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _in(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_graph_is_read_from_the_whole_package_and_the_checks() -> None:
    # The reader itself: it sees the catalogue, imports inside functions, and relative imports.
    assert "cipp_setup.checks.sam_user_global_admin" in MODULES
    assert "cipp_setup.engine.model" in GRAPH["cipp_setup.checks.sam_user_global_admin"]
    assert "cipp_setup.checks._lookups" in GRAPH["cipp_setup.checks.sam_user_global_admin"]
    assert "cipp_setup.checks" in GRAPH["cipp_setup.engine.builtin"]  # imported inside a function
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_the_engine_never_imports_a_gateway_or_a_front_end() -> None:
    wrong = sorted(
        f"{m} imports {w}" for m, imports in GRAPH.items() if _in(m, "cipp_setup.engine")
        for w in imports
        if _in(w, "cipp_setup.gateways", "cipp_setup.sandbox", "cipp_setup.render", *FRONT_ENDS)
    )
    assert wrong == []


def test_the_gateways_import_only_the_engines_vocabulary_and_no_front_end() -> None:
    wrong = sorted(
        f"{m} imports {w}" for m, imports in GRAPH.items() if _in(m, "cipp_setup.gateways")
        for w in imports
        if (_in(w, "cipp_setup.engine") and w not in ENGINE_VOCABULARY)
        or _in(w, "cipp_setup.checks", "cipp_setup.render", *FRONT_ENDS)
    )
    assert wrong == []


@pytest.mark.parametrize("layer", ["cipp_setup.checks", "cipp_setup.render"])
def test_checks_and_renderers_never_import_a_front_end(layer: str) -> None:
    wrong = sorted(
        f"{m} imports {w}" for m, imports in GRAPH.items() if _in(m, layer)
        for w in imports if _in(w, *FRONT_ENDS)
    )
    assert wrong == []
