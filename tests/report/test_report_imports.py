"""The report reads results only: importing any of its modules imports neither torch nor a task (nor a
method's step code); the kind and family it shows come from the store (report/kinds.py)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import tram_bench.report

FORBIDDEN = ("torch", "tram_bench.tasks")


def _report_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(tram_bench.report.__path__, "tram_bench.report."))


def test_importing_every_report_module_imports_neither_torch_nor_tasks():
    modules = _report_modules()
    assert "tram_bench.report.site" in modules and "tram_bench.report.claims.evaluate" in modules
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or "
        f"any(m == f or m.startswith(f + '.') for f in {FORBIDDEN!r}))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_check_sees_a_forbidden_import():
    """The same probe flags a module that does import torch (so the test above can fail)."""
    code = ("import json, sys; import tram_bench.train.rehearsal.footprint\n"
            "print(json.dumps('torch' in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip()) is True
