"""The package's imports point one way, and no two modules import each other (directly or round
a longer loop).

Every module of ``sweepfirst/`` is mapped to a layer by the table below, written out by hand so a
move that breaks the layering fails here instead of being absorbed by a computed table. Each
layer names the layers it may import; everything else is an import against the layering.
Every import counts: at module level, inside a function, and under ``if TYPE_CHECKING:`` (a type
is a dependency too). Only the standard library's ``ast`` reads the code, nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "sweepfirst"

#: Layer of each module, by the longest matching dotted prefix (bottom layer first).
LAYER_OF_PREFIX: dict[str, str] = {
    # The shared vocabulary every layer may use: errors, the state enums and their transition
    # tables, methods and parameter names, tasks and their metrics, provenance, job progress, the
    # one retry policy, and the one way to write a file or a JSON value.
    "sweepfirst": "base",
    "sweepfirst.errors": "base",
    "sweepfirst.states": "base",
    "sweepfirst.attempts": "base",
    "sweepfirst.job_progress": "base",
    "sweepfirst.library_fields": "base",
    "sweepfirst.library_fields_gen": "base",
    "sweepfirst.vocabulary": "base",
    "sweepfirst.methods": "base",
    "sweepfirst.tasks": "base",
    "sweepfirst.squad_v2_metric": "base",
    "sweepfirst.provenance": "base",
    "sweepfirst.files": "base",
    "sweepfirst.jsonable": "base",
    "sweepfirst.formatting": "base",
    "sweepfirst.phases": "base",
    # The sweep language (W&B sweep configs, strategies, ASHA): pure, no state.
    "sweepfirst.search": "search",
    # A workflow, and the sweep config of each of its (task, method) cells.
    "sweepfirst.spec": "spec",
    "sweepfirst.sweep_config": "spec",
    # Recorded state: database, transitions, queries, locks, where the state lives.
    "sweepfirst.store": "store",
    # Training a job (the only layer that imports torch, and only when a job trains).
    "sweepfirst.training": "training",
    # Selection, statistics, exports and the report, read from recorded state.
    "sweepfirst.analysis": "analysis",
    # Measuring how fine-tuned models moved from their base model (loads models).
    "sweepfirst.drift": "drift",
    # Planning, the loop, executing jobs, workers.
    "sweepfirst.engine": "engine",
    # The command line.
    "sweepfirst.cli": "cli",
}

#: What each layer may import besides itself.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "base": frozenset(),
    "search": frozenset({"base"}),
    "spec": frozenset({"base", "search"}),
    "store": frozenset({"base", "search", "spec"}),
    "training": frozenset({"base", "spec"}),
    "analysis": frozenset({"base", "search", "spec", "store"}),
    "drift": frozenset({"base", "spec", "training"}),
    "engine": frozenset({"base", "search", "spec", "store", "training", "analysis", "drift"}),
    "cli": frozenset({"base", "search", "spec", "store", "training", "analysis", "drift", "engine"}),
}


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """The package's modules that ``name`` imports, with the line of each import."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # `from sweepfirst.store import runs` imports the module sweepfirst.store.runs.
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
        else:
            continue
        for target in targets:
            # `import sweepfirst.store.runs` names the module; keep the longest known prefix.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.startswith("sweepfirst") and target != name:
                yield target, node.lineno


def layer_of(module: str) -> str:
    """The layer of the longest prefix in the table; a new top-level module must be added to it."""
    prefix = module
    while prefix not in LAYER_OF_PREFIX or (prefix == "sweepfirst" and module != "sweepfirst"):
        if "." not in prefix:
            raise KeyError(f"{module} has no layer: add it to LAYER_OF_PREFIX in {__file__}")
        prefix = prefix.rpartition(".")[0]
    return LAYER_OF_PREFIX[prefix]


def import_graph() -> dict[str, dict[str, int]]:
    modules = module_files()
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        for target, line in imported_modules(name, path, modules):
            edges.setdefault(target, line)
        graph[name] = edges
    return graph


def upward_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    wrong = []
    for module, edges in sorted(graph.items()):
        mine = layer_of(module)
        for target, line in sorted(edges.items()):
            theirs = layer_of(target)
            if theirs != mine and theirs not in MAY_IMPORT[mine]:
                wrong.append(f"{module}:{line} ({mine}) imports {target} ({theirs})")
    return wrong


def import_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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
    return sorted(cycles)


def test_every_module_has_a_layer() -> None:
    for module in module_files():
        assert layer_of(module) in MAY_IMPORT, module


def test_no_import_points_up() -> None:
    wrong = upward_imports(import_graph())
    assert not wrong, f"{len(wrong)} imports against the layering:\n" + "\n".join(wrong)


def test_no_modules_import_each_other() -> None:
    cycles = import_cycles(import_graph())
    assert not cycles, f"{len(cycles)} import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)
