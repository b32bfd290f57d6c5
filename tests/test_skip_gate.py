"""The CI skip gate of tests/conftest.py, run by pytest in a subprocess on a tiny test directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

ALLOWED_ONLY = '''
import pytest

def test_runs():
    pass

@pytest.mark.skip(reason="single process; DDP is not a supported execution mode")
def test_ddp():
    pass
'''

GPU_TEST = '''
import pytest

@pytest.mark.gpu
def test_cuda():
    import torch
    assert torch.cuda.is_available()
'''

MODULE_SKIP = '''
import pytest

pytest.importorskip("tram_bench_no_such_package")

def test_never_runs():
    pass
'''

RUNTIME_SKIP = '''
import pytest

def test_fixture_missing():
    pytest.skip("fixture file not found")
'''


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    for name in ("conftest.py", "skip_allowlist.py"):
        shutil.copy(TESTS / name, tmp_path / name)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    gpu: needs a CUDA device\n")
    (tmp_path / "test_allowed.py").write_text(ALLOWED_ONLY)
    return tmp_path


def run_pytest(where: Path, *args: str, ci: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *args],
        cwd=where, env=env, capture_output=True, text=True, timeout=120,
    )


def test_allowed_skips_pass_in_ci(tiny):
    # A gpu-marked test is skipped without CUDA, with an allow-listed reason (and runs with CUDA).
    (tiny / "test_gpu.py").write_text(GPU_TEST)
    r = run_pytest(tiny, ci="true")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "skips not allowed" not in r.stdout


def test_disallowed_skips_fail_ci_and_are_named(tiny):
    (tiny / "test_module_skip.py").write_text(MODULE_SKIP)
    (tiny / "test_runtime_skip.py").write_text(RUNTIME_SKIP)
    r = run_pytest(tiny, ci="1")
    assert r.returncode == 1, r.stdout + r.stderr
    section = r.stdout.split("skips not allowed in CI")[1]
    assert "test_module_skip.py: could not import 'tram_bench_no_such_package'" in section
    assert "test_runtime_skip.py::test_fixture_missing: fixture file not found" in section
    assert "test_ddp" not in section
    assert "CI: 2 skip(s) outside the allow-list" in section

    # Outside CI the same run passes: a developer without an optional package is not blocked.
    assert run_pytest(tiny, ci="false").returncode == 0


def test_gate_sees_skips_from_xdist_workers(tiny):
    (tiny / "test_module_skip.py").write_text(MODULE_SKIP)
    (tiny / "test_runtime_skip.py").write_text(RUNTIME_SKIP)
    r = run_pytest(tiny, "-n", "2", ci="true")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "CI: 2 skip(s) outside the allow-list" in r.stdout


def test_a_real_failure_keeps_its_status(tiny):
    (tiny / "test_runtime_skip.py").write_text(RUNTIME_SKIP)
    (tiny / "test_fails.py").write_text("def test_fails():\n    assert False\n")
    r = run_pytest(tiny, "-x", ci="true")
    assert r.returncode == 1 and "1 failed" in r.stdout
