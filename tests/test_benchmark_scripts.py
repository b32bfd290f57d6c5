"""The benchmark scripts run end to end (no timing is asserted: speed is read from their tables, never
checked in a test). A script that no test runs breaks silently when the code under it changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_step_cost_quick_writes_every_method_and_both_bookkeeping_parts(tmp_path):
    out = tmp_path / "step_cost.json"
    proc = _run("step_cost.py", "--quick", "--device", "cpu", "--models", "mlp", "--rounds", "1",
                "--warmup", "0", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "first_step + restore" in proc.stdout and "recorded ||e||" in proc.stdout
    assert "are not measurements" in proc.stdout
    rows = json.loads(out.read_text())["rows"]
    methods = {r["method"] for r in rows}
    assert {"sgd", "sam", "tram-prev", "msam", "looksam"} <= methods
    for r in rows:
        assert r["wrapper_share"] > 0 and r["e_norm_share"] > 0
        assert r["bookkeeping_share"] == r["wrapper_share"] + r["e_norm_share"]
        # The inexact one-kernel w + e is timed beside the exact one and compared weight by weight.
        assert r["fused_share"] > 0 and 0 <= r["fused_differs"] < r["fused_elements"] == 1_585_162
        assert r["ms_per_step"] > 0


def test_harness_overhead_runs_on_a_tiny_grid():
    proc = _run("harness_overhead.py", "--runs", "20", "--metrics", "4", "--train-steps", "5", "--train-runs", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "harness" in proc.stdout.lower()


def test_grid_throughput_runs_on_a_tiny_grid_without_ray():
    proc = _run("grid_throughput.py", "--runs", "2", "--steps", "2", "--no-ray")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "runs" in proc.stdout.lower()


def test_step_cost_refuses_bad_flags_before_timing_anything(tmp_path):
    for args, needle in ((["--rounds", "0"], "--rounds and --threads must be >= 1"),
                         (["--json", str(tmp_path / "missing" / "x.json")], "does not exist")):
        proc = _run("step_cost.py", *args)
        assert proc.returncode == 2, (args, proc.stdout[-500:])
        assert needle in proc.stderr and "Traceback" not in proc.stderr
        assert proc.stdout == ""
