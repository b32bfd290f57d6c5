"""tram_bench.stats stays a pure numeric layer: the standard library, numpy, scipy, statsmodels, itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

STATS = Path(__file__).resolve().parents[2] / "tram_bench" / "stats"
ALLOWED_THIRD_PARTY = {"numpy", "scipy", "statsmodels"}


def test_stats_imports_only_numeric_libraries():
    bad = []
    for path in sorted(STATS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                ok = top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or name.startswith("tram_bench.stats")
                if not ok:
                    bad.append(f"{path.name}:{node.lineno} imports {name}")
    assert not bad, "\n".join(bad)
