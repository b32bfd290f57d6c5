"""tram_bench.stats stays a pure numeric layer (the standard library, numpy, scipy, itself), and
statsmodels, the tests' reference for Holm, is a dev dependency that no tram_bench module imports."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATS = ROOT / "tram_bench" / "stats"
ALLOWED_THIRD_PARTY = {"numpy", "scipy"}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def test_stats_imports_only_numeric_libraries():
    bad = []
    for path in sorted(STATS.glob("*.py")):
        for lineno, name in _imports(path):
            top = name.split(".")[0]
            ok = top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or name.startswith("tram_bench.stats")
            if not ok:
                bad.append(f"{path.name}:{lineno} imports {name}")
    assert not bad, "\n".join(bad)


def test_statsmodels_is_a_dev_dependency_only():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = [dep for dep in project["dependencies"] if dep.lower().startswith("statsmodels")]
    assert core == [], f"statsmodels is a core dependency: {core}"
    assert any(dep.lower().startswith("statsmodels") for dep in project["optional-dependencies"]["dev"])
    users = [f"{path.relative_to(ROOT)}:{lineno}" for path in sorted((ROOT / "tram_bench").rglob("*.py"))
             for lineno, name in _imports(path) if name.split(".")[0] == "statsmodels"]
    assert users == [], f"tram_bench imports statsmodels (a dev-only dependency): {users}"
