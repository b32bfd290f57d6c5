"""The cost-versus-OOD frontier on a tiny generated store: points, Pareto fronts on both cost axes,
TOST verdicts with the design's margin and Holm over the family, charts and the Markdown table."""

from __future__ import annotations

import json

import pytest
from report_fixtures import Metric, new_store

from tram_bench.report import create_views
from tram_bench.report.frontier import (
    frontier_charts,
    frontier_markdown,
    frontier_points,
    frontier_verdicts,
    load_step_ratios,
    pareto_front,
)
from tram_bench.stats.equivalence import tost_p

# Per method: OOD accuracy (fraction, as the tasks record it) and its per-seed spread; sgd is the baseline.
OOD = {"sgd": (0.600, 0.004), "sam": (0.620, 0.003), "tram-prev": (0.625, 0.005), "looksam": (0.619, 0.003),
       "msam": (0.590, 0.003)}
SEEDS = range(6)
JITTER = [0.1, -0.2, 0.3, -0.1, 0.0, -0.1]


def _store():
    b = new_store()
    for method, (level, spread) in OOD.items():
        for seed in SEEDS:
            ood = level + spread * JITTER[seed] * 10
            b.add_run("frontier", "digits", method, seed, [Metric("clean", 0.95, True), Metric("mnist", ood, False),
                                                            Metric("rot", ood, False)])
    b.declare("frontier", "digits", "sgd", delta=1.0)
    create_views(b.con)
    return b


def _bench(tmp_path, rows):
    path = tmp_path / "step_cost.json"
    path.write_text(json.dumps({"rows": rows}))
    return path


def test_pareto_front_keeps_undominated_points_for_either_direction():
    pts = [(1.0, 60.0), (2.0, 62.0), (2.0, 61.0), (3.0, 62.0), (1.2, 61.9)]
    assert pareto_front(pts) == [True, True, False, False, True]
    assert pareto_front(pts, higher_is_better=False) == [True, False, False, False, False]
    assert pareto_front([(1.0, 5.0), (1.0, 5.0)]) == [True, True]


def test_points_carry_recorded_passes_and_the_benchmarks_ratio(tmp_path):
    b = _store()
    bench = _bench(tmp_path, [
        {"workload": "cnn (batch 64)", "device": "cpu", "method": "sam", "ratio_to_base": 2.1},
        {"workload": "cnn (batch 64)", "device": "cpu", "method": "sgd", "ratio_to_base": 1.0},
        {"workload": "mlp", "device": "cpu", "method": "sam", "ratio_to_base": 9.0},
    ])
    ratios = load_step_ratios(bench)
    assert ratios == {"sam": 2.1, "sgd": 1.0}
    points = {p.config: p for p in frontier_points(b.con, "frontier", ratios)}
    assert set(points) == set(OOD)
    # report_fixtures records sam 2/2 and tram-prev 3/2 passes per step; unknown methods 1/1.
    assert (points["sam"].passes, points["tram-prev"].passes, points["looksam"].passes) == (4.0, 5.0, 2.0)
    assert points["sam"].step_ratio == 2.1 and points["looksam"].step_ratio is None
    assert points["sgd"].score == pytest.approx(0.600 + 0.004 * sum(JITTER) * 10 / 6)
    assert points["sgd"].n == 6


def test_each_task_takes_the_measured_ratios_of_its_familys_workload(tmp_path):
    """The step-time axis of an LM or cross-lingual task comes from the benchmark's transformer rows, a
    vision task's from its CNN rows (frontier.WORKLOAD_BY_FAMILY); --workload names one for every task."""
    from tram_bench.report.frontier import FrontierOptions, StepRatios

    b = new_store()
    for method in ("adam", "sam"):
        for seed in SEEDS:
            b.add_run("mixed", "digits", method, seed, [Metric("clean", 0.9, True), Metric("rot", 0.6, False)])
            b.add_run("mixed", "lm-bbc", method, seed, [Metric("clean", 0.9, True), Metric("rot", 0.6, False)])
    b.declare("mixed", "digits", "adam", delta=1.0, family="vision")
    b.declare("mixed", "lm-bbc", "adam", delta=1.0, family="lm")
    create_views(b.con)
    bench = _bench(tmp_path, [
        {"workload": "cnn (batch 64)", "device": "cpu", "method": "sam", "ratio_to_base": 2.1},
        {"workload": "transformer (batch 32)", "device": "cpu", "method": "sam", "ratio_to_base": 2.0},
    ])
    points = {(p.task_label, p.config): p for p in frontier_points(b.con, "mixed", FrontierOptions(bench).step_ratios())}
    assert points[("digits", "sam")].step_ratio == 2.1 and points[("lm-bbc", "sam")].step_ratio == 2.0
    one = {(p.task_label, p.config): p for p in frontier_points(b.con, "mixed", StepRatios(bench, "cnn"))}
    assert one[("digits", "sam")].step_ratio == one[("lm-bbc", "sam")].step_ratio == 2.1
    with pytest.raises(ValueError, match="no rows for workload 'transformer'"):
        frontier_points(b.con, "mixed", StepRatios(_bench(tmp_path, [
            {"workload": "cnn", "device": "cpu", "method": "sam", "ratio_to_base": 2.1}])))


def test_verdicts_are_tost_over_seeds_with_the_designs_margin_and_holm():
    """Accuracy differences are in the design's units (percentage points), as the margin is: a raw
    fraction difference of 0.03 would pass a margin of 1 and call msam equivalent."""
    b = _store()
    verdicts = frontier_verdicts(b.con, "frontier", ["looksam", "msam"], ["sam", "tram-prev"])
    delta, family = verdicts["digits"]
    assert delta == 1.0
    assert [(r.variant, r.reference) for r in family] == [
        ("looksam", "sam"), ("looksam", "tram-prev"), ("msam", "sam"), ("msam", "tram-prev")]
    diffs = [100 * (10 * (OOD["looksam"][1] - OOD["sam"][1]) * j + OOD["looksam"][0] - OOD["sam"][0]) for j in JITTER]
    assert family[0].p_tost == pytest.approx(tost_p(diffs, 1.0), rel=1e-9)
    assert family[0].n_pairs == 6 and family[0].verdict == "equivalent"
    assert family[2].verdict == "equivalence not shown" and family[2].mean_diff == pytest.approx(-3.0)  # 3 points below sam


def test_charts_and_markdown_mark_the_front(tmp_path):
    b = _store()
    ratios = {"sgd": 1.0, "sam": 2.1, "tram-prev": 2.5, "looksam": 1.25, "msam": 1.02}
    points = frontier_points(b.con, "frontier", ratios)
    charts = frontier_charts(points)["digits"]
    assert len(charts) == 2 and all(c.startswith("<svg") for c in charts)
    assert "Pareto front, looksam" in charts[1] and "dominated, msam" in charts[1]
    text = frontier_markdown(points, frontier_verdicts(b.con, "frontier", ["looksam", "msam"], ["sam"]))
    assert "| looksam | 2.00 ★ | 1.25 ★ |" in text
    assert "| msam | 2.00 | 1.02 |" in text  # sgd is cheaper (1.00) and scores higher: dominated
    assert "| sgd | 2.00 | 1.00 ★ |" in text  # looksam: same recorded passes here, higher score
    assert "Equivalence (TOST, margin ±1, Holm over 2 pairs)" in text


def test_a_missing_or_malformed_benchmark_file_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no such benchmark file"):
        load_step_ratios(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="not a step_cost.py --json file"):
        load_step_ratios(bad)
    with pytest.raises(ValueError, match="no rows for workload 'cnn'"):
        load_step_ratios(_bench(tmp_path, [{"workload": "mlp", "device": "cpu", "method": "sam", "ratio_to_base": 2.0}]))


def test_cli_prints_the_table_and_writes_the_charts(tmp_path, capsys):
    from tram_bench.cli import main

    results = tmp_path / "results"
    results.mkdir()
    b = new_store(results / "tram-bench.duckdb")
    for method, (level, _) in OOD.items():
        for seed in SEEDS:
            b.add_run("frontier", "digits", method, seed, [Metric("clean", 0.95, True), Metric("mnist", level, False)])
    b.declare("frontier", "digits", "sgd", delta=1.0)
    b.con.close()
    bench = _bench(tmp_path, [{"workload": "cnn", "device": "cpu", "method": m, "ratio_to_base": 1.0 + i}
                              for i, m in enumerate(OOD)])
    assert main(["frontier", "frontier", "--results", str(results), "--bench", str(bench),
                 "--out", str(tmp_path / "charts")]) == 0
    assert "Equivalence (TOST, margin ±1, Holm over 4 pairs)" in capsys.readouterr().out
    assert sorted(f.name for f in (tmp_path / "charts").iterdir()) == ["digits-passes.svg", "digits-step-time.svg"]
    assert main(["frontier", "frontier", "--results", str(results), "--bench", str(tmp_path / "none.json")]) == 2
    assert "no such benchmark file" in capsys.readouterr().err
