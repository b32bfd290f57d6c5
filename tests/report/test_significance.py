"""The a priori design in the report: the declared baseline is the only reference, verdicts come from
contract A's compare_family, descriptive groups carry no verdict, and the data-hygiene rules hold
(exact means, stale runs, duplicate seeds, hyperparameters compared by value)."""

from __future__ import annotations

import io
import math

import pytest
from rich.console import Console
from scipy import stats
from statsmodels.stats.multitest import multipletests

from report_fixtures import SAM_A, SGD, Metric, new_store
from tram_bench.report import terminal_report
from tram_bench.report.significance import NO_BASELINE
from tram_bench.report.views import create_views

SEEDS10 = tuple(range(10))
TRAMX = {"base": "sgd", "sigma": 0.01}


def q(con, sql, *params):
    return con.execute(sql, list(params)).fetchall()


def render(con, **kw) -> str:
    buf = io.StringIO()
    kw.setdefault("view", "wide")  # every table: the verdicts, stale runs and ranks these tests read
    terminal_report(con, Console(file=buf, width=240, color_system=None), **kw)
    return buf.getvalue()


def _metrics(i: float, o: float, *, final_offset: float = -0.01) -> list[Metric]:
    return [Metric("i", i, True), Metric("o", o, False),
            Metric("i", i + final_offset, True, checkpoint="final"),
            Metric("o", o + final_offset, False, checkpoint="final")]


def _three_methods(seeds=SEEDS10, declare=True):
    """sgd (the declared baseline), sam (better on every seed, the best mean), tram-x (within ±0.1 points)."""
    b = new_store(design=declare)
    ood = {"sgd": {}, "sam": {}, "tram-x": {}}
    for s in seeds:
        base = 0.60 + 0.01 * s
        ood["sgd"][s], ood["sam"][s], ood["tram-x"][s] = base, base + 0.03 + 0.001 * s, base + 0.001 * (-1) ** s
        b.add_run("s", "t", "sgd", s, _metrics(0.9, ood["sgd"][s]), hparams=SGD)
        b.add_run("s", "t", "sam", s, _metrics(0.91, ood["sam"][s]), hparams=SAM_A)
        b.add_run("s", "t", "tram-x", s, _metrics(0.9, ood["tram-x"][s]), hparams=TRAMX)
    if declare:
        b.declare("s", "t", "sgd", SGD)
    create_views(b.con)
    return b.con, ood


@pytest.fixture(scope="module")
def ten_seeds():
    con, ood = _three_methods()
    yield con, ood
    con.close()


def test_the_best_mean_is_never_the_reference(ten_seeds):
    con, ood = ten_seeds
    best = max(ood, key=lambda k: math.fsum(ood[k].values()))
    assert best == "sam"
    rows = q(con, "SELECT DISTINCT reference FROM significance")
    assert rows == [("sgd",)]
    assert {r[0] for r in q(con, "SELECT config FROM significance")} == {"sam", "tram-x"}


def test_primary_endpoint_matches_hand_computation(ten_seeds):
    con, ood = ten_seeds
    rows = {r[0]: r[1:] for r in q(con, """
        SELECT config, units, n_pairs, mean_diff, wilcoxon_p, ttest_p, p_adjusted, min_attainable_p, boot_low, verdict
        FROM significance WHERE "group" = 'primary'""")}
    diffs = {k: [100 * (ood[k][s] - ood["sgd"][s]) for s in SEEDS10] for k in ("sam", "tram-x")}
    raw = [stats.wilcoxon(diffs[k], zero_method="wilcox", method="exact").pvalue for k in ("sam", "tram-x")]
    holm = multipletests(raw, method="holm")[1]
    for (key, label), p_raw, p_holm in zip((("sam", "sam"), ("tram-x", "tram-x")), raw, holm):
        units, n, mean, wp, tp, padj, floor, boot_low, _ = rows[label]
        assert (units, n) == ("points", 10)
        assert mean == pytest.approx(math.fsum(diffs[key]) / 10, rel=1e-9)
        assert wp == pytest.approx(p_raw, rel=1e-9) and padj == pytest.approx(p_holm, rel=1e-9)
        assert tp == pytest.approx(stats.ttest_1samp(diffs[key], 0.0).pvalue, rel=1e-6)
        assert floor == pytest.approx(2 * 2 / 2**10)
        assert boot_low is not None  # 10 pairs: the bootstrap interval is shown
    assert rows["sam"][-1] == "better"
    assert rows["tram-x"][-1] == "equivalent"


def test_descriptive_groups_have_no_verdict_and_no_adjustment(ten_seeds):
    con, ood = ten_seeds
    rows = q(con, """SELECT "group", checkpoint, score, verdict, p_adjusted, n_pairs, mean_diff FROM significance
                     WHERE config = 'sam' ORDER BY "group" """)
    groups = {r[0]: r[1:] for r in rows}
    # One OOD domain: the worst OOD domain is the OOD average itself, so no separate group.
    assert set(groups) == {"primary", "in_domain", "final"}
    assert groups["in_domain"][:4] == ("selected", "id_avg", None, None)
    assert groups["in_domain"][5] == pytest.approx(1.0)  # 0.91 vs 0.90, in points
    assert groups["final"][:4] == ("final", "ood_avg", None, None)


def test_worst_ood_domain_is_the_baselines_worst_and_fixed_per_task():
    b = new_store()
    for s in range(3):
        for method, hp, shift in (("sgd", SGD, 0.0), ("sam", SAM_A, 0.02)):
            # sgd is worst on "b"; sam is worst on "a": the task's worst domain is the baseline's, "b".
            b.add_run("s", "t", method, s, [Metric("i", 0.9, True), Metric("a", 0.70 + shift - 2 * shift, False),
                                            Metric("b", 0.60 + shift, False), Metric("c", 0.8, False)], hparams=hp)
    b.declare("s", "t", "sgd", SGD)
    create_views(b.con)
    assert q(b.con, """SELECT score, mean_diff FROM significance WHERE "group" = 'worst_ood'""") == [
        ("domain:b", pytest.approx(2.0))]


def test_five_seeds_are_underpowered_and_say_so():
    con, _ = _three_methods(seeds=range(5))
    assert {r[0] for r in q(con, """SELECT verdict FROM significance WHERE "group" = 'primary'""")} <= {
        "underpowered", "equivalent"}
    assert q(con, "SELECT min_attainable_p, comparisons FROM task_tests") == [(pytest.approx(2 * 2 / 32), 2)]
    out = render(con)
    assert "underpowered (smallest adjusted p 0.1250)" in out
    assert "significant difference" not in out.lower()


def test_perplexity_differences_are_log_ratios():
    b = new_store()
    ppl = {"adam": (30.0, 31.0, 29.0), "tram-prev": (27.0, 28.0, 28.5)}
    for method, vals in ppl.items():
        for s, v in enumerate(vals):
            b.add_run("lm", "m2d2", method, s, [Metric("id", 20.0, True, "perplexity"),
                                                Metric("x", v, False, "perplexity")], hparams={"base": "adam"})
    b.declare("lm", "m2d2", "adam", {"base": "adam"}, delta=0.01, units="log_ratio", family="lm")
    create_views(b.con)
    row = q(b.con, """SELECT units, mean_diff FROM significance WHERE "group" = 'primary'""")
    expected = math.fsum(math.log(a / t) for a, t in zip(ppl["adam"], ppl["tram-prev"])) / 3
    assert row == [("log_ratio", pytest.approx(expected, rel=1e-12))]


def test_a_store_without_a_declared_baseline_is_not_tested():
    con, _ = _three_methods(seeds=range(3), declare=False)
    assert q(con, "SELECT count(*) FROM significance") == [(0,)]
    assert q(con, "SELECT reference, note FROM task_tests") == [(None, NO_BASELINE)]
    # No reference is guessed for any baseline-relative view.
    assert q(con, "SELECT count(*) FROM shift_severity") == [(0,)]
    assert q(con, "SELECT count(*) FROM cost WHERE reference IS NOT NULL") == [(0,)]
    assert f"significance: {NO_BASELINE}" in render(con)


def test_every_method_on_adamw_has_cost_ratios():
    b = new_store()
    adamw = {"base": "adamw", "weight_decay": 0.01}
    for method, passes_hp in (("adam", adamw), ("sam", {**adamw, "rho": 0.05}), ("tram-x", {**adamw, "sigma": 0.1})):
        for s in range(2):
            b.add_run("s", "t", method, s, _metrics(0.9, 0.6), hparams=passes_hp,
                      wall_time_s=10.0 * (2 if method == "sam" else 1))
    b.declare("s", "t", "adam", adamw)
    create_views(b.con)
    rows = {r[0]: r[1:] for r in q(b.con, "SELECT config, reference, backward_ratio, wall_time_ratio FROM cost")}
    assert rows == {"adam": ("adam", 1.0, 1.0), "sam": ("adam", 2.0, 2.0), "tram-x": ("adam", 2.0, 1.0)}


def test_identical_values_ingested_in_opposite_orders_share_mean_rank_and_star():
    # 0.22, 0.42, 0.03 averaged in two orders differ in the last bit with a running sum.
    b = new_store()
    values = {0: (0.22, 0.42, 0.03), 1: (0.42, 0.03, 0.22)}
    for method, hp, seed_order, domain_order in (("sgd", SGD, (0, 1), (0, 1, 2)),
                                                 ("sam", {**SGD, "rho": 0.0}, (1, 0), (2, 1, 0))):
        for s in seed_order:
            ms = [Metric("src", 0.9, True)] + [Metric(f"d{k}", values[s][k], False) for k in domain_order]
            b.add_run("s", "t", method, s, ms, hparams=hp)
    b.add_run("s", "t", "tram-x", 0, [Metric("src", 0.9, True)] + [Metric(f"d{k}", 0.1, False) for k in range(3)],
              hparams=TRAMX)
    b.declare("s", "t", "sgd", SGD)
    create_views(b.con)
    means = dict(q(b.con, "SELECT config, ood_mean FROM leaderboard_averages WHERE checkpoint = 'selected' "
                          "AND split = 'test' AND metric = 'accuracy'"))
    assert means["sgd"] == means["sam"]
    ranks = dict(q(b.con, "SELECT config, rank FROM task_rank"))
    assert ranks["sgd"] == ranks["sam"] == 1.5
    from tram_bench.report.model import OOD_AVG, load_report

    table = load_report(b.con)[0].tasks[0].table("selected")
    assert table.best[OOD_AVG] == {"sgd", "sam"}


def test_an_edited_suite_counts_only_the_current_plan_and_lists_the_stale_run(tmp_path):
    from tram_bench.report import build_site
    from tram_bench.report.site import task_page_name

    b = new_store()
    old = b.add_run("s", "t", "sgd", 0, _metrics(0.9, 0.5), hparams=SGD, steps=100)
    # The suite's lr was edited in place and it ran again: the plan file now lists only the new cell.
    b.con.execute("DELETE FROM suite_cells WHERE suite = 's'")
    new = b.add_run("s", "t", "sgd", 0, _metrics(0.9, 0.7), hparams=SGD, steps=200)
    b.declare("s", "t", "sgd", SGD)
    create_views(b.con)
    assert q(b.con, "SELECT n, mean FROM leaderboard WHERE domain = 'o' AND checkpoint = 'selected'") == [(1, 0.7)]
    assert q(b.con, "SELECT n_cells, n_ok, partial FROM completeness") == [(1, 1, False)]
    assert q(b.con, "SELECT run_id FROM stale_runs") == [(old,)]
    assert old != new
    out = render(b.con)
    assert "complete: 1/1 runs ok" in out
    assert "1 stale run(s)" in out and old in out
    index = build_site(b.con, tmp_path / "site")
    for page in (index, index.parent / task_page_name("s", "t")):
        text = page.read_text()
        assert "Stale runs (1)" in text and old in text


def test_a_duplicate_seed_is_an_error_and_hparams_match_by_value(tmp_path):
    from tram_bench.report import build_site
    from tram_bench.report.site import task_page_name

    b = new_store()
    for s in range(3):
        b.add_run("s", "t", "sgd", s, _metrics(0.9, 0.6), hparams=SGD)
    # Two planned cells whose hyperparameters differ only as 1 and 1.0: one configuration, seed 0 twice.
    first = b.add_run("s", "t", "sam", 0, _metrics(0.9, 0.62), hparams={**SGD, "rho": 1})
    second = b.add_run("s", "t", "sam", 0, _metrics(0.9, 0.64), hparams={**SGD, "rho": 1.0}, steps=101)
    b.add_run("s", "t", "sam", 1, _metrics(0.9, 0.63), hparams={**SGD, "rho": 1.0})
    b.declare("s", "t", "sgd", SGD)
    create_views(b.con)
    assert q(b.con, "SELECT DISTINCT config FROM cells WHERE method = 'sam'") == [("sam",)]
    assert q(b.con, "SELECT config, seed, n_runs FROM duplicate_seeds") == [("sam", 0, 2)]
    # Seed 0 is left out of the pairs instead of one run silently replacing the other.
    assert q(b.con, """SELECT n_pairs FROM significance WHERE "group" = 'primary'""") == [(1,)]
    out = render(b.con)
    assert "error: sam: 2 ok runs with seed 0" in out and first in out and second in out
    page = (build_site(b.con, tmp_path / "site").parent / task_page_name("s", "t")).read_text()
    assert 'role="alert">error: sam: 2 ok runs with seed 0' in page


# --- across tasks ---------------------------------------------------------------------------------------

def _suite_of_tasks(n_tasks: int, *, tie: bool = False, seeds=range(4)):
    """n_tasks accuracy tasks; sgd is the baseline, sam is 2 points better; tram-x equals sam when ``tie``."""
    b = new_store()
    for k in range(n_tasks):
        task = f"t{k}"
        for s in seeds:
            base = 0.5 + 0.01 * k + 0.003 * s
            runs = (("sgd", SGD, base), ("sam", SAM_A, base + 0.02 + 0.001 * ((s + k) % 3)),
                    ("tram-x", TRAMX, base + 0.02 + 0.001 * ((s + k) % 3) if tie else base - 0.01))
            for method, hp, o in runs:
                b.add_run("s", task, method, s, _metrics(0.9, o), hparams=hp)
        b.declare("s", task, "sgd", SGD)
    create_views(b.con)
    return b


def test_iqm_and_probability_of_improvement_are_of_the_paired_differences():
    from tram_bench.stats.across import iqm_estimate, probability_of_improvement

    b = _suite_of_tasks(2)
    diffs: dict[str, dict[str, dict[int, float]]] = {}
    for task, config, seed, d in q(b.con, """
            SELECT s.task_label, s.config, r.seed, 100 * (r.ood_avg - rb.ood_avg)
            FROM (SELECT DISTINCT task_label, config FROM significance) s
            JOIN run_averages r ON r.task_label = s.task_label AND r.config = s.config
            JOIN run_averages rb ON rb.task_label = s.task_label AND rb.config = 'sgd' AND rb.seed = r.seed
             AND rb.checkpoint = r.checkpoint AND rb.split = r.split AND rb.metric = r.metric
            WHERE r.checkpoint = 'selected' AND r.split = 'test' AND r.metric = 'accuracy'"""):
        diffs.setdefault(config, {}).setdefault(task, {})[seed] = d
    rows = {r[0]: r[1:] for r in q(b.con, "SELECT config, units, n_tasks, n_pairs, iqm, iqm_low, iqm_high, poi, "
                                          "poi_low, poi_high FROM across_tasks")}
    assert set(rows) == {"sam", "tram-x"}
    for config, per_task in diffs.items():
        est, poi = iqm_estimate(per_task), probability_of_improvement(per_task)
        assert rows[config][:3] == ("points", 2, 8)
        assert rows[config][3:6] == pytest.approx((est.value, est.low, est.high), rel=1e-9)
        assert rows[config][6:] == pytest.approx((poi.value, poi.low, poi.high), rel=1e-9)
    assert rows["sam"][6] == 1.0 and rows["tram-x"][6] == 0.0  # sam beats sgd on every pair, tram-x on none


def test_tied_methods_share_a_rank_and_no_best_method_is_named(tmp_path):
    from tram_bench.report import build_site

    b = _suite_of_tasks(2, tie=True)
    ranks = dict(q(b.con, "SELECT config, rank FROM rank_intervals"))
    assert ranks["sam"] == ranks["tram-x"] < ranks["sgd"]
    assert q(b.con, "SELECT count(*) FROM rank_intervals WHERE best") == [(0,)]
    text = build_site(b.con, tmp_path / "site").read_text()
    assert "No best method" in text and "Best method:" not in text
    assert "rank intervals across tasks" in render(b.con) and "no single best method" in render(b.con)


def test_the_critical_difference_diagram_needs_five_tasks(tmp_path):
    from tram_bench.report import build_site

    four = _suite_of_tasks(4)
    assert q(four.con, "SELECT count(*) FROM cd_ranks") == [(0,)]
    five = _suite_of_tasks(5)
    assert {r[0] for r in q(five.con, "SELECT config FROM cd_ranks")} == {"sgd", "sam", "tram-x"}
    assert 'class="cd"' in build_site(five.con, tmp_path / "five").read_text()
    assert 'class="cd"' not in build_site(four.con, tmp_path / "four").read_text()


def test_units_are_never_pooled_across_tasks():
    b = new_store()
    for s in range(3):
        b.add_run("s", "acc", "sgd", s, _metrics(0.9, 0.5 + 0.01 * s), hparams=SGD)
        b.add_run("s", "acc", "sam", s, _metrics(0.9, 0.52 + 0.01 * s), hparams=SAM_A)
        for method, hp, v in (("sgd", SGD, 30.0), ("sam", SAM_A, 29.0)):
            b.add_run("s", "ppl", method, s, [Metric("id", 20.0, True, "perplexity"),
                                             Metric("x", v + s, False, "perplexity")], hparams=hp)
    b.declare("s", "acc", "sgd", SGD)
    b.declare("s", "ppl", "sgd", SGD, delta=0.01, units="log_ratio", family="lm")
    create_views(b.con)
    assert q(b.con, "SELECT units, n_tasks FROM across_tasks ORDER BY units") == [("log_ratio", 1), ("points", 1)]


def test_runs_without_a_plan_that_differ_in_train_setup_are_two_configurations():
    b = new_store()
    # No plan file: same label, method and hparams, but 100 vs 200 steps (the runs' train JSON).
    b.add_run("s", "t", "sgd", 0, _metrics(0.9, 0.5), hparams=SGD, planned=False, steps=100)
    b.add_run("s", "t", "sgd", 0, _metrics(0.9, 0.7), hparams=SGD, planned=False, steps=200)
    create_views(b.con)
    configs = [r[0] for r in q(b.con, "SELECT DISTINCT config FROM cells ORDER BY config")]
    assert len(configs) == 2 and all(c.startswith("sgd {setup ") for c in configs)
    assert q(b.con, "SELECT count(*) FROM duplicate_seeds") == [(0,)]
    assert sorted(r[0] for r in q(b.con, "SELECT mean FROM leaderboard WHERE domain = 'o' "
                                         "AND checkpoint = 'selected'")) == [0.5, 0.7]
