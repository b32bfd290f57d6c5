"""Imports between tram_bench's layers go one way (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "tram_bench"
LAYERS = ["util", "stats", "optim", "contract", "methods", "tasks", "analysis", "suite", "train", "executors", "store", "report", "cli"]


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
