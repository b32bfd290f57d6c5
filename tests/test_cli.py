"""The command line: fast help, clear one-line errors with exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tram_bench.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_help_does_not_import_torch_or_duckdb():
    code = ("import sys\nfrom tram_bench.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit as e:\n"
            "    assert e.code == 0\nheavy = [m for m in ('torch', 'duckdb', 'transformers') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "validate" in out.stdout and "leaderboard" in out.stdout


def test_list_shows_every_method_id(capsys):
    from tram_bench.methods.registry import BUILTIN_METHOD_IDS

    assert main(["list", "methods"]) == 0
    listed = capsys.readouterr().out.split()
    assert set(BUILTIN_METHOD_IDS) <= set(listed)


@pytest.mark.parametrize("argv,needle", [
    (["validate", "no/such/suite.yaml"], "no/such/suite.yaml"),
    (["run", "tests/fixtures/suites/synthetic.yaml", "--workers", "0", "--results", "{tmp}"], "--workers"),
    (["run", "tests/fixtures/suites/synthetic.yaml", "--device", "tpu", "--results", "{tmp}"], "--device"),
    (["run", "tests/fixtures/suites/synthetic.yaml", "--only", "nothing-matches", "--results", "{tmp}"], "--only"),
    (["run", "tests/fixtures/suites/synthetic.yaml", "-O", "train.lr=-1", "--results", "{tmp}"], "train.lr"),
    (["run", "tests/fixtures/suites/synthetic.yaml", "-O", "nonsense", "--results", "{tmp}"], "nonsense"),
    (["report", "--results", "{tmp}"], "no database"),
    (["leaderboard", "--results", "{tmp}", "--out", "{tmp}/site"], "no database"),
])
def test_bad_input_is_one_line_and_exit_2(argv, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    argv = [a.replace("{tmp}", str(tmp_path / "r")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) <= 3
    assert not (tmp_path / "r" / "runs").exists()
