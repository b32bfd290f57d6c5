"""The smoke suite end to end: every method id on real embedded tasks, both analyses, the store, the
terminal report and the static leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tram_bench.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_suite_runs_every_method_and_builds_the_leaderboard(tmp_path, capsys):
    pytest.importorskip("efficientnet_lite_pytorch")
    results, site = tmp_path / "results", tmp_path / "site"
    assert main(["run", str(ROOT / "suites/smoke.yaml"), "--results", str(results), "--quiet",
                 "--workers", "2"]) == 0
    records = [json.loads(p.read_text()) for p in (results / "runs").glob("*/record.json")]
    from tram_bench.suite.load import expand, load_suite

    planned = expand(load_suite(ROOT / "suites/smoke.yaml"))
    assert len(records) == len(planned)
    assert all(r["status"] == "ok" for r in records), [r["error"] for r in records if r["status"] != "ok"]
    from tram_bench.methods.registry import BUILTIN_METHOD_IDS

    assert {r["spec"]["method"] for r in records} >= set(BUILTIN_METHOD_IDS)
    for r in records:
        metrics = {m["metric"] for m in r["metrics"]}
        assert {"sharpness", "cka"} <= metrics, r["spec"]["method"]
        passes = (r["cost"]["forward"], r["cost"]["backward"])
        assert passes[0] >= passes[1] > 0

    assert main(["report", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "tram-prev" in out
    assert main(["leaderboard", "--results", str(results), "--out", str(site)]) == 0
    html = "".join(p.read_text() for p in site.rglob("*.html"))
    assert "smoke-digits-cnn" in html and "sharpness" in html.lower()
