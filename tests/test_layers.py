"""Imports between tram_bench's layers go one way (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "tram_bench"
LAYERS = ["util", "stats", "optim", "contract", "methods", "tasks", "analysis", "suite", "train", "integrations", "executors", "store", "report", "cli"]


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "tram_bench" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        layer = rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem
        if layer in LAYERS:
            yield layer, path


@pytest.mark.parametrize("layer,path", list(_modules()), ids=lambda v: str(v).split("tram_bench/")[-1])
def test_imports_point_down_the_layer_stack(layer, path):
    rank = LAYERS.index(layer)
    bad = []
    for lineno, module in _imports(path):
        target = _layer(module)
        if target in LAYERS and LAYERS.index(target) > rank:
            bad.append(f"{path.name}:{lineno} imports {module} (layer {target} is above {layer})")
    assert not bad, "\n".join(bad)


def test_every_package_is_a_known_layer():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(LAYERS), packages - set(LAYERS)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the tram_bench modules it imports anywhere in its file (top level, inside functions,
    under ``TYPE_CHECKING``): ``from a.b import c`` counts as importing ``a.b.c`` when that is a module."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def test_no_import_cycle_between_modules():
    import graphlib

    try:
        list(graphlib.TopologicalSorter(_import_graph()).static_order())
    except graphlib.CycleError as exc:
        pytest.fail("import cycle: " + " -> ".join(exc.args[1]))


def test_tasks_do_not_import_methods():
    """The task/method contract lives in tram_bench.contract, which both import."""
    bad = [f"{m} imports {t}" for m, targets in _import_graph().items() if m.startswith("tram_bench.tasks")
           for t in targets if t.startswith("tram_bench.methods")]
    assert not bad, "\n".join(bad)
