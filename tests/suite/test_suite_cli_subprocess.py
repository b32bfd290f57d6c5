"""``python -m tram_bench.cli validate FILE`` in a fresh interpreter: exit code 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BAD = Path(__file__).parent / "bad"


@pytest.mark.slow
def test_python_m_cli_validate_exit_code_and_stderr():
    path = BAD / "unknown_hparam.yaml"  # expects line 12, methods[1].hparams.rhoo
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "tram_bench.cli", "validate", str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{path}:12: methods[1].hparams.rhoo: unknown hparam" in proc.stderr
    assert "(did you mean 'rho'?)" in proc.stderr
