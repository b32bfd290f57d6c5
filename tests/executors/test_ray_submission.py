"""Ray that cannot start or join a cluster is one line (exit 2), like a refused Slurm submission (issue 14 item 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tram_bench.cli import main

ray = pytest.importorskip("ray")
SUITE = Path(__file__).resolve().parents[1] / "fixtures/suites/synthetic.yaml"


def test_ray_init_failure_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    def refuse(**kwargs):
        # What ray.init raises for `--address auto` with no running cluster (without waiting for one here).
        raise ConnectionError("Could not find any running Ray instance.\nPlease specify the one to connect to.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    code = main(["run", str(SUITE), "-O", "seeds=[0]", "--executor", "ray", "--address", "auto",
                 "--results", str(tmp_path / "r"), "--quiet", "--no-collect"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == ["tram-bench: error: ray: could not start or join a cluster (address 'auto'): "
                                        "Could not find any running Ray instance."]
    assert not (tmp_path / "r" / "runs").exists()
