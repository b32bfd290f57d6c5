"""``tram-bench plan``'s power section: what a design can conclude before and after its first runs."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from report_fixtures import SAM_A, SGD, Metric, new_store
from tram_bench.cli import main
from tram_bench.report.formatting import fmt
from tram_bench.stats.paired import mde, seeds_needed

TEN_METHODS = ("sgd", "sam", "asam", "fisher_sam", "tram-prev", "tram-init", "tram-x", "trpo", "r3f", "mesa")


def _suite(path, name: str, seeds, methods, extra: str = "") -> str:
    text = (f"suite: {name}\nseeds: {list(seeds)}\n{extra}tasks:\n  - id: synthetic\nmethods:\n"
            + "".join(f"  - id: {m}\n" for m in methods))
    path.write_text(text)
    return str(path)


def test_five_seeds_and_ten_methods_cannot_reach_alpha(tmp_path, capsys):
    suite = _suite(tmp_path / "ten.yaml", "ten", range(5), TEN_METHODS)
    assert main(["plan", suite, "--results", str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert "SD of paired differences: no pilot runs (neither " in out
    line = next(x for x in out.splitlines() if x.startswith("  synthetic:"))
    # m = 9 comparisons with the default baseline sgd; 9 * 2 / 2**5 = 0.5625.
    assert "baseline sgd, m = 9, n = 5 seeds, smallest adjusted p 0.562: cannot reach alpha 0.05" in line
    assert "SD of paired differences: none" in line


DIFFS = [0.8, 1.3, 0.2, 1.9, 0.6, 1.1, 1.6, 0.4, 1.0, 0.9]  # points, sam - sgd on the OOD domain per pilot seed


def _pilot_store(results: Path, seeds=range(100, 110), diffs=DIFFS, where: str = "pilot"):
    """A pilot store of suite "two" (sgd baseline, sam) in RESULTS/<where>; returns the builder."""
    (results / where).mkdir(parents=True)
    b = new_store(results / where / "tram-bench.duckdb")
    for s, d in zip(seeds, diffs):
        b.add_run("two", "synthetic", "sgd", s, [Metric("i", 0.9, True), Metric("o", 0.5, False)], hparams=SGD)
        b.add_run("two", "synthetic", "sam", s, [Metric("i", 0.9, True), Metric("o", 0.5 + d / 100, False)],
                  hparams=SAM_A)
    b.declare("two", "synthetic", "sgd", SGD)
    return b


def test_pilot_runs_give_the_sd_the_mde_and_the_seeds_needed(tmp_path, capsys):
    results = tmp_path / "results"
    _pilot_store(results).con.close()
    suite = _suite(tmp_path / "two.yaml", "two", range(10), ("sgd", "sam"))
    assert main(["plan", suite, "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert f"SD of paired differences: pilot runs in {results / 'pilot'})" in out
    line = next(x for x in out.splitlines() if x.startswith("  synthetic:"))
    sd = statistics.stdev([100 * ((0.5 + d / 100) - 0.5) for d in DIFFS])
    assert "m = 1, n = 10 seeds, smallest adjusted p 0.00195 < alpha 0.05" in line
    assert f"SD of paired differences {fmt(sd)} percentage points" in line
    assert f"MDE {fmt(mde(sd, 10, 0.05))} percentage points" in line
    assert f"{seeds_needed(sd, 1.0, 0.05)} seeds to detect delta = 1 percentage points" in line
    assert main(["plan", suite, "--results", str(results), "--mde", "0.5"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  synthetic:"))
    assert f"{seeds_needed(sd, 0.5, 0.05)} seeds to detect --mde = 0.5000 percentage points" in line


def test_runs_of_the_reported_seeds_are_not_a_pilot(tmp_path, capsys):
    # The same runs in the reported store (RESULTS/tram-bench.duckdb) size nothing: only the pilot does.
    results = tmp_path / "results"
    b = _pilot_store(results, where=".")
    b.con.close()
    suite = _suite(tmp_path / "two.yaml", "two", range(10), ("sgd", "sam"))
    assert main(["plan", suite, "--results", str(results)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  synthetic:"))
    assert "SD of paired differences: none" in line and "MDE" not in line


def _sd_mde(n: int) -> tuple[float, float]:
    sd = statistics.stdev(DIFFS)  # hand-computed: the SD of the paired OOD differences, in points
    return sd, mde(sd, n, 0.05)


def test_plan_says_mde_at_most_delta(tmp_path, capsys):
    _pilot_store(tmp_path / "results").con.close()
    sd, effect = _sd_mde(10)
    assert effect <= 1.0 < 2 * effect  # the margin below is met, a margin half the MDE would not be
    suite = _suite(tmp_path / "two.yaml", "two", range(10), ("sgd", "sam"), extra="delta: 1.0\n")
    assert main(["plan", suite, "--results", str(tmp_path / "results")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  synthetic:"))
    assert f"SD of paired differences {fmt(sd)} percentage points, MDE {fmt(effect)} percentage points, " \
           "MDE <= delta: yes" in line


def test_plan_says_when_delta_cannot_be_reached(tmp_path, capsys):
    _pilot_store(tmp_path / "results").con.close()
    sd, effect = _sd_mde(10)
    half = effect / 2
    suite = _suite(tmp_path / "two.yaml", "two", range(10), ("sgd", "sam"), extra=f"delta: {half}\n")
    assert main(["plan", suite, "--results", str(tmp_path / "results")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  synthetic:"))
    assert f"cannot reach delta within this budget: MDE {fmt(effect)} percentage points" in line
    assert "MDE <= delta: yes" not in line


def test_plan_falls_back_to_the_committed_pilot_export(tmp_path, capsys, monkeypatch):
    results = tmp_path / "results"
    _pilot_store(results).con.close()
    export = tmp_path / "docs" / "results" / "two" / "pilot"
    assert main(["export", "--results", str(results / "pilot"), "--format", "csv", "--suite", "two",
                 "--out", str(export)]) == 0
    capsys.readouterr()
    suite = _suite(tmp_path / "two.yaml", "two", range(10), ("sgd", "sam"))
    monkeypatch.chdir(tmp_path)  # the export is read from docs/results/<suite>/pilot of the working directory
    assert main(["plan", suite, "--results", str(tmp_path / "elsewhere")]) == 0
    out = capsys.readouterr().out
    assert f"SD of paired differences: pilot export {Path('docs/results/two/pilot')})" in out
    line = next(x for x in out.splitlines() if x.startswith("  synthetic:"))
    assert f"SD of paired differences {fmt(statistics.stdev(DIFFS))} percentage points" in line
    assert not (tmp_path / "elsewhere").exists()  # plan writes nothing


def test_conditioning_names_where_the_baseline_selects(tmp_path, capsys):
    b = _pilot_store(tmp_path / "results", seeds=(100, 101, 102), diffs=DIFFS[:3])
    # Evaluations at 10, 20, 30, 40: seed 100 selects 20 (interior), 101 the last, 102 the first.
    for seed, step in ((100, 20), (101, 40), (102, 10)):
        b.con.execute("""UPDATE runs SET steps = 40, selected_step = ?, train = '{"steps": 40, "eval_every": 10}'
                         WHERE method = 'sgd' AND seed = ?""", [step, seed])
    b.con.close()
    suite = _suite(tmp_path / "two.yaml", "two", range(10), ("sgd", "sam"))
    assert main(["plan", suite, "--results", str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert ("  synthetic: baseline sgd selects an interior evaluation in 1 of 3 pilot runs (evaluations every 10 "
            "steps up to 40): seed 100 step 20 (interior), seed 101 step 40 (last), seed 102 step 10 (first)") in out


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_a_bad_mde_is_one_line_and_exit_2(tmp_path, capsys, value):
    suite = _suite(tmp_path / "s.yaml", "s", range(3), ("sgd", "sam"))
    assert main(["plan", suite, "--results", str(tmp_path / "results"), "--mde", value]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and "--mde" in out.err
    assert not (tmp_path / "results").exists()


def test_run_with_only_keeps_the_whole_suite_in_the_plan_so_earlier_runs_stay_current(tmp_path):
    import duckdb

    from tram_bench.report.views import create_views

    suite = str(Path(__file__).resolve().parents[1] / "fixtures" / "suites" / "synthetic.yaml")
    results = tmp_path / "r"
    for only in ("sgd", "sam"):
        assert main(["run", suite, "--results", str(results), "--quiet", "-O", "seeds=[0]", "--only", only]) == 0
    con = duckdb.connect(str(results / "tram-bench.duckdb"), read_only=True)
    create_views(con)
    assert con.execute("SELECT count(*) FROM stale_runs").fetchone() == (0,)
    # The sgd run of the first call still counts; tram-prev is planned and missing.
    assert dict(con.execute("SELECT config, n_ok FROM completeness").fetchall()) == {
        "sgd": 1, "sam": 1, "tram-prev": 0}
    assert con.execute("""SELECT reference, config, n_pairs FROM significance WHERE "group" = 'primary'
                          AND config = 'sam'""").fetchall() == [("sgd", "sam", 1)]


def test_lm_conditioning_gain_forgetting_and_median_radius_by_hand(tmp_path):
    from tram_bench.report.earlier_runs import pilot_evidence

    store = tmp_path / "results" / "pilot"
    store.mkdir(parents=True)
    b = new_store(store / "tram-bench.duckdb")
    # perplexity per (seed, method): in-domain "ent", out-of-domain "biz" and "sport"
    ppl = {100: {"zero-shot": (300.0, 200.0, 400.0), "adam": (240.0, 220.0, 420.0)},
           101: {"zero-shot": (300.0, 200.0, 400.0), "adam": (210.0, 240.0, 440.0)},
           102: {"zero-shot": (300.0, 200.0, 400.0), "adam": (270.0, 210.0, 400.0)}}
    adam = {"base": "adam"}
    radii = {100: [0.02, 0.06], 101: [0.04], 102: [0.10, 0.08]}
    for seed, rows in ppl.items():
        for method, (ent, biz, sport) in rows.items():
            b.add_run("lm", "lm-bbc", method, seed, [Metric("ent", ent, True, "perplexity"),
                                                     Metric("biz", biz, False, "perplexity"),
                                                     Metric("sport", sport, False, "perplexity")],
                      hparams={} if method == "zero-shot" else adam)
        rid = b.add_run("lm", "lm-bbc", "tram-prev", seed, [Metric("ent", 1.0, True, "perplexity")], hparams=adam)
        (store / "runs" / rid).mkdir(parents=True)
        (store / "runs" / rid / "metrics.jsonl").write_text("".join(
            json.dumps({"kind": "train", "step": i + 1, "loss": 1.0, "divergence": d}) + "\n"
            for i, d in enumerate(radii[seed])) + json.dumps({"kind": "eval", "step": 2, "value": 9.0}) + "\n")
    b.declare("lm", "lm-bbc", "adam", adam, units="log_ratio", delta=0.01, family="lm")
    b.con.close()
    (c,) = pilot_evidence(store, tmp_path / "no-export", "lm").shifts
    # gain = 1 - ent/zs: 0.2, 0.3, 0.1 -> median 0.2; forgetting = mean(biz/zs - 1, sport/zs - 1):
    # (0.1 + 0.05) / 2, (0.2 + 0.1) / 2, (0.05 + 0) / 2 -> median 0.075; radius median of 5 steps 0.06.
    assert (c.task_label, c.seeds) == ("lm-bbc", 3)
    assert c.gain == pytest.approx(0.2) and c.forgetting == pytest.approx(0.075)
    assert c.radius == pytest.approx(0.06)
