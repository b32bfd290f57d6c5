"""CPU results depend on the torch thread count, so a cell's thread count must not depend on how many
cells happen to be pending, and a resumed grid warns when it would mix thread counts."""

from __future__ import annotations

import json
from pathlib import Path

from tram_bench.cli import main
from tram_bench.executors import local

SUITE = Path(__file__).resolve().parents[1] / "fixtures/suites/synthetic.yaml"


def _threads_by_method(results: Path) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for rec in (results / "runs").glob("*/record.json"):
        r = json.loads(rec.read_text())
        out.setdefault(r["spec"]["method"], set()).add(r["provenance"]["num_threads"])
    return out


def test_threads_per_run_follows_the_request():
    assert local.threads_per_run(1, 3) == 3
    assert local.threads_per_run(2, None) == max(1, local.available_cores() // 2)


def test_last_pending_cell_keeps_the_grids_thread_count(tmp_path, monkeypatch):
    """Resuming a --workers 2 grid with one cell left must not hand that cell every core."""
    monkeypatch.setattr(local, "available_cores", lambda: 4)  # forked workers inherit the patch
    results = tmp_path / "results"
    argv = ["run", str(SUITE), "--results", str(results), "--quiet", "--no-collect", "--workers", "2"]
    assert main(argv + ["--only", "*/sgd/0"]) == 0  # one pending cell, two workers requested
    assert _threads_by_method(results) == {"sgd": {2}}


def test_resume_with_another_thread_count_warns(tmp_path, capsys):
    results = tmp_path / "results"
    base = ["run", str(SUITE), "--results", str(results), "--quiet", "--no-collect"]
    assert main(base + ["--threads", "1", "--only", "sgd"]) == 0
    capsys.readouterr()
    assert main(base + ["--threads", "2", "--only", "sam"]) == 0
    err = capsys.readouterr().err
    assert "warning: finished runs of this grid used other torch thread counts (2 with 1)" in err
    assert "--threads 1" in err
    assert main(base + ["--threads", "1", "--only", "tram-prev"]) == 0  # 2 runs with 1, 2 with 2: still warns
    assert "(2 with 2)" in capsys.readouterr().err
    assert _threads_by_method(results) == {"sgd": {1}, "sam": {2}, "tram-prev": {1}}


def test_no_warning_when_thread_counts_agree(tmp_path, capsys):
    results = tmp_path / "results"
    base = ["run", str(SUITE), "--results", str(results), "--quiet", "--no-collect", "--threads", "1"]
    assert main(base + ["--only", "sgd"]) == 0
    assert main(base + ["--only", "sam"]) == 0
    assert "warning" not in capsys.readouterr().err
