"""``tram-bench plan``'s power section: what a design can conclude before and after its first runs."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from report_fixtures import SAM_A, SGD, Metric, new_store
from tram_bench.cli import main
from tram_bench.report.formatting import fmt
from tram_bench.stats.paired import mde, seeds_needed

TEN_METHODS = ("sgd", "sam", "asam", "fisher_sam", "tram-prev", "tram-init", "tram-x", "trpo", "r3f", "mesa")


def _suite(path, name: str, seeds, methods) -> str:
    text = (f"suite: {name}\nseeds: {list(seeds)}\ntasks:\n  - id: synthetic\nmethods:\n"
            + "".join(f"  - id: {m}\n" for m in methods))
    path.write_text(text)
    return str(path)


def test_five_seeds_and_ten_methods_cannot_reach_alpha(tmp_path, capsys):
    suite = _suite(tmp_path / "ten.yaml", "ten", range(5), TEN_METHODS)
    assert main(["plan", suite, "--results", str(tmp_path / "results")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  synthetic:"))
    # m = 9 comparisons with the default baseline sgd; 9 * 2 / 2**5 = 0.5625.
    assert "baseline sgd, m = 9, n = 5 seeds, smallest adjusted p 0.562: cannot reach alpha 0.05" in line
    assert "no earlier runs" in line


def test_earlier_runs_give_the_sd_the_mde_and_the_seeds_needed(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    b = new_store(results / "tram-bench.duckdb")
    diffs = [0.8, 1.3, 0.2, 1.9, 0.6, 1.1, 1.6, 0.4, 1.0, 0.9]  # points
    for s, d in enumerate(diffs):
        b.add_run("two", "synthetic", "sgd", s, [Metric("i", 0.9, True), Metric("o", 0.5, False)], hparams=SGD)
        b.add_run("two", "synthetic", "sam", s, [Metric("i", 0.9, True), Metric("o", 0.5 + d / 100, False)],
                  hparams=SAM_A)
    b.declare("two", "synthetic", "sgd", SGD)
    b.con.close()
    suite = _suite(tmp_path / "two.yaml", "two", range(10), ("sgd", "sam"))
    assert main(["plan", suite, "--results", str(results)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  synthetic:"))
    sd = statistics.stdev([100 * ((0.5 + d / 100) - 0.5) for d in diffs])
    assert "m = 1, n = 10 seeds, smallest adjusted p 0.00195 < alpha 0.05" in line
    assert f"SD of paired differences {fmt(sd)} percentage points" in line
    assert f"MDE {fmt(mde(sd, 10, 0.05))} percentage points" in line
    assert f"{seeds_needed(sd, 1.0, 0.05)} seeds to detect delta = 1 percentage points" in line
    assert main(["plan", suite, "--results", str(results), "--mde", "0.5"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  synthetic:"))
    assert f"{seeds_needed(sd, 0.5, 0.05)} seeds to detect --mde = 0.5000 percentage points" in line


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
