"""The package's layers import only downward: no import cycle, and the rules below hold.

The import graph is read from the source with ``ast`` (nothing is imported):
every ``import``/``from ... import`` counts, also those inside functions — a
function-local import only delays a cycle, it does not remove it — except
those under ``if TYPE_CHECKING:``, which never run. ``from . import x`` is an
edge to the submodule ``x`` when there is one, else to the package.

``LAYERS`` is the architecture in one place (docs: DESIGN.md "Layers"): a
module may import its own layer and the layers below it, never one above. A
new module needs a line there, which is the moment to decide where it belongs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "unistore"
PACKAGE = "unistore"

#: layer number -> what lives there (bottom first)
LAYER_NAMES = {
    0: "values: errors, locations, filters, fingerprints, the provenance record, the request",
    1: "the plugin interface: what an adapter implements",
    2: "registry, lineage sinks, adapters",
    3: "the read engine and the user's Source handle",
    4: "the public read API (read, scan, source, sql, replay)",
    5: "runs, manifests, the catalog and lock file, the demo",
    6: "the command line and the package's public namespace",
}

#: module (or package prefix, ending in ".") -> layer; the longest match wins
LAYERS = {
    "unistore._version": 0,
    "unistore._lazy": 0,
    "unistore.named": 0,
    "unistore.errors": 0,
    "unistore.location": 0,
    "unistore.snapshot": 0,
    "unistore.filters": 0,
    "unistore.sqlguard": 0,
    "unistore.errormap": 0,
    "unistore.fingerprint": 0,
    "unistore.provenance": 0,
    "unistore.spec": 0,
    "unistore.timeseries": 0,
    "unistore.timecolumn": 0,
    "unistore.preview": 0,
    "unistore.federated.pushdown": 0,
    "unistore.federated.plan": 0,
    "unistore.federated.columns": 0,
    "unistore.federated.semijoin": 0,
    "unistore.checkeval": 0,
    "unistore.checks": 0,
    "unistore.display": 0,
    "unistore.frames": 0,
    "unistore.adapter": 1,
    "unistore.registry": 2,
    "unistore.lineage": 2,
    "unistore.lineage.": 2,
    "unistore.adapters": 2,
    "unistore.adapters.": 2,
    "unistore.engine": 3,
    "unistore.executor": 3,
    "unistore.fingerprint_worker": 3,
    "unistore.source": 3,
    "unistore.checkrun": 3,
    "unistore.inputs": 3,
    "unistore.api": 4,
    "unistore.replay": 4,
    "unistore.federated": 4,
    "unistore.federated.query": 4,
    "unistore.federated.rerun": 4,
    "unistore.runs": 5,
    "unistore.demo": 5,
    "unistore.distributed": 5,
    "unistore.ray": 5,
    "unistore.dask": 5,
    "unistore.torch": 5,
    "unistore.catalogs": 5,
    "unistore.catalogs.": 5,
    "unistore.testrunner": 5,
    "unistore.cli": 6,
    "unistore.commands": 6,
    "unistore.commands.": 6,
    "unistore.pytest_plugin": 6,
    "unistore.__main__": 6,
    "unistore": 6,
}

#: adapter families: a module in one never imports a module of another
FAMILIES = ("unistore.adapters.files", "unistore.adapters.sql", "unistore.adapters.prometheus",
            "unistore.adapters.influxdb", "unistore.adapters.arcticdb")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
#: compiled extension modules (``_fphash.c``): leaves that import nothing of the package
EXTENSIONS = {module_name(p) for p in ROOT.rglob("*.c")}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST):
    """Every import statement that can run: all of them but the bodies of ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _runtime_imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _runtime_imports(node)


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute name a ``from`` import starts from (``from ..x import y`` in ``a.b.c`` -> ``a.x``)."""
    if not node.level:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _lazy_targets(module: str, tree: ast.Module) -> set[str]:
    """The modules named by the package's table of names imported on first use (``_LAZY``, see
    ``unistore._lazy``): imports that wait for an attribute access, edges all the same."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets):
            for target in ast.literal_eval(node.value).values():
                relative = target.partition(":")[0]
                level = len(relative) - len(relative.lstrip("."))
                found.add(_resolve(module, ast.ImportFrom(module=relative[level:] or None, names=[], level=level)))
    return found


def imports_of(module: str) -> set[str]:
    """The modules of this package that ``module`` imports when it runs."""
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    found: set[str] = _lazy_targets(module, tree)
    for node in _runtime_imports(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        origin = _resolve(module, node)
        for alias in node.names:
            submodule = f"{origin}.{alias.name}"
            found.add(submodule if submodule in MODULES or submodule in EXTENSIONS else origin)
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: imports_of(module) for module in MODULES}


def layer_of(module: str) -> int | None:
    best = None
    for key in LAYERS:
        hit = module == key or (key.endswith(".") and module.startswith(key))
        if hit and (best is None or len(key) > len(best)):
            best = key
    return LAYERS[best] if best is not None else None


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import one another (a strongly connected component, Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

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
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(components)


def a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest cycle through the component's first module: the edges to look at first."""
    start, members = min(component), set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return sorted(component)  # pragma: no cover - a component always has a cycle


def test_the_graph_is_read():
    assert "unistore.api" in GRAPH["unistore"]
    assert "unistore.errors" in GRAPH["unistore.api"] or "unistore.errors" in GRAPH["unistore.spec"]


def test_there_is_no_import_cycle():
    cycles = find_cycles(GRAPH)
    assert not cycles, "modules that import one another:\n" + "\n".join(
        f"  {len(c)} modules: {', '.join(c)}\n    for one: {' -> '.join(a_cycle(GRAPH, c))}" for c in cycles)


def test_every_module_has_a_layer():
    missing = sorted(m for m in MODULES if layer_of(m) is None)
    assert not missing, f"add these modules to LAYERS in {__file__}: {missing}"


def test_imports_go_only_downward():
    upward = sorted(f"{m} (layer {layer_of(m)}) -> {t} (layer {layer_of(t)}: {LAYER_NAMES[layer_of(t)]})"
                    for m, targets in GRAPH.items() for t in targets
                    if layer_of(m) is not None and layer_of(t) is not None and layer_of(t) > layer_of(m))
    assert not upward, "imports that go up a layer:\n" + "\n".join("  " + u for u in upward)


def test_only_the_command_line_imports_the_command_line():
    importers = sorted(m for m, targets in GRAPH.items()
                       if "unistore.cli" in targets and m not in ("unistore.cli", "unistore.__main__"))
    assert not importers, f"the CLI owns its subcommands; these modules import it: {importers}"


def _family(module: str) -> str | None:
    return next((f for f in FAMILIES if module == f or module.startswith(f + ".")), None)


@pytest.mark.parametrize("family", FAMILIES)
def test_an_adapter_family_imports_no_other_family_nor_the_engine(family):
    forbidden = {"unistore.api", "unistore.engine", "unistore.replay", "unistore.runs", "unistore"}
    bad = sorted(f"{m} -> {t}" for m, targets in GRAPH.items() if _family(m) == family
                 for t in targets if (_family(t) not in (None, family)) or t in forbidden)
    assert not bad, f"the {family} adapters import outside their layer: {bad}"


def test_lineage_never_imports_the_read_path():
    forbidden = {"unistore.api", "unistore.source", "unistore.engine", "unistore.replay", "unistore.runs",
                 "unistore"}
    bad = sorted(f"{m} -> {t}" for m, targets in GRAPH.items()
                 if m == "unistore.lineage" or m.startswith("unistore.lineage.")
                 for t in targets if t in forbidden or t.startswith("unistore.adapters"))
    assert not bad, f"lineage takes a plain read context and imports no read path: {bad}"


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
