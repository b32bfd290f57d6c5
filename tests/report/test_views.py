"""The views against float64 hand computations on fixture stores (tests/report/conftest.py)."""

from __future__ import annotations

import math
import statistics

import duckdb
import pytest
from scipy import stats

from report_fixtures import (
    DIGITS,
    DOMAINS,
    FINAL_OFFSET,
    LETTERS,
    SAM_A,
    SEEDS,
    SGD,
    Metric,
    build_demo,
    new_store,
)
from tram_bench.report.published import read_published
from tram_bench.report.views import StoreSchemaError, create_views

LABEL = {"sgd": "sgd", "sam_a": "sam[rho=0.05]", "sam_b": "sam[rho=0.1]", "tramx": "tram-x"}


def q(con, sql, *params):
    return con.execute(sql, list(params)).fetchall()


def mean_std_ci(xs):
    n = len(xs)
    m = math.fsum(xs) / n
    sd = statistics.stdev(xs) if n > 1 else None
    ci = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n) if n > 1 else None
    return m, sd, ci, n


def ood_avg(vals):
    return math.fsum(vals[1:]) / (len(vals) - 1)


def test_config_labels_show_only_varying_hparams(demo_views):
    rows = q(demo_views, "SELECT method, config FROM configs ORDER BY config")
    assert rows == [("sam", "sam[rho=0.05]"), ("sam", "sam[rho=0.1]"), ("sgd", "sgd"), ("tram-x", "tram-x")]


def test_leaderboard_cells_match_hand_computation(demo_views):
    rows = {(r[0], r[1], r[2]): r[3:] for r in q(
        demo_views, "SELECT config, domain, checkpoint, mean, std, ci95, n, in_domain, higher_is_better FROM leaderboard "
                    "WHERE task_label = 'digits' AND metric = 'accuracy' AND split = 'test'")}
    assert len(rows) == 4 * 4 * 2
    for key, per_seed in DIGITS.items():
        for i, dom in enumerate(DOMAINS):
            for ckpt, off in (("selected", 0.0), ("final", FINAL_OFFSET)):
                m, sd, ci, n = mean_std_ci([vals[i] + off for vals in per_seed.values()])
                got = rows[(LABEL[key], dom, ckpt)]
                assert got[0] == pytest.approx(m, rel=1e-12, abs=1e-15)
                assert got[1] == pytest.approx(sd, rel=1e-9)
                assert got[2] == pytest.approx(ci, rel=1e-9)
                assert got[3:] == (n, i == 0, True)


def test_single_seed_has_no_std_or_ci():
    b = new_store()
    b.add_run("s", "t", "sgd", 0, [Metric("a", 0.5, True), Metric("b", 0.4, False)], hparams=SGD)
    create_views(b.con)
    assert q(b.con, "SELECT n, std, ci95 FROM leaderboard WHERE domain = 'a'") == [(1, None, None)]


def test_partial_grid_is_partial_everywhere(demo_views):
    con = demo_views
    comp = {r[0]: r[1:] for r in q(con, "SELECT config, n_cells, n_planned, n_ok, n_failed, n_diverged, n_missing, "
                                        "partial FROM completeness WHERE task_label = 'digits'")}
    assert comp["tram-x"] == (6, 6, 4, 1, 0, 1, True)
    assert all(comp[c] == (5, 5, 5, 0, 0, 0, False) for c in ("sgd", "sam[rho=0.05]", "sam[rho=0.1]"))
    # Every view that reports tram-x on digits says partial; nothing calls it complete.
    for view in ("leaderboard", "leaderboard_averages"):
        flags = {r[0] for r in q(con, f"SELECT DISTINCT partial FROM {view} WHERE task_label = 'digits' "
                                      "AND config = 'tram-x'")}
        assert flags == {True}, view
        n_planned = {r[0] for r in q(con, f"SELECT DISTINCT n_planned FROM {view} WHERE config = 'tram-x' "
                                          "AND task_label = 'digits'")}
        assert n_planned == {6}
    assert q(con, "SELECT task_label, n_cells, n_ok, partial FROM task_completeness ORDER BY task_label") == [
        ("digits", 21, 19, True), ("letters", 8, 8, False)]
    assert q(con, "SELECT n_tasks, n_cells, n_ok, n_failed, n_missing, partial FROM suite_completeness") == [
        (2, 29, 27, 1, 1, True)]
    assert q(con, "SELECT partial FROM aggregate_rank WHERE config = 'tram-x'") == [(True,)]
    assert q(con, "SELECT partial FROM aggregate_rank WHERE config = 'sgd'") == [(False,)]
    statuses = q(con, "SELECT seed, status FROM grid WHERE method = 'tram-x' AND task_label = 'digits' ORDER BY seed")
    assert statuses == [(0, "ok"), (1, "ok"), (2, "ok"), (3, "ok"), (4, "failed"), (5, "missing")]


def test_diverged_runs_are_counted_and_unplanned_runs_of_a_planned_suite_are_stale():
    b = new_store()
    b.add_run("s", "t", "sgd", 0, [Metric("a", 0.5, True)], hparams=SGD)
    b.add_run("s", "t", "sgd", 1, [], hparams=SGD, status="diverged")
    stale = b.add_run("s", "t", "sgd", 2, [Metric("a", 0.7, True)], hparams=SGD, planned=False)
    create_views(b.con)
    assert q(b.con, "SELECT n_cells, n_planned, n_ok, n_diverged, partial FROM completeness") == [(2, 2, 1, 1, True)]
    assert q(b.con, "SELECT seed, planned, status FROM grid ORDER BY seed") == [(0, True, "ok"), (1, True, "diverged")]
    assert q(b.con, "SELECT n, mean FROM leaderboard") == [(1, 0.5)]
    assert q(b.con, "SELECT run_id, seed FROM stale_runs") == [(stale, 2)]


def test_runs_of_a_suite_without_a_plan_are_counted_as_unplanned():
    b = new_store()
    b.add_run("s", "t", "sgd", 0, [Metric("a", 0.5, True)], hparams=SGD, planned=False)
    b.add_run("s", "t", "sgd", 1, [Metric("a", 0.7, True)], hparams=SGD, planned=False)
    create_views(b.con)
    assert q(b.con, "SELECT seed, planned, status FROM grid ORDER BY seed") == [(0, False, "ok"), (1, False, "ok")]
    assert q(b.con, "SELECT n, mean FROM leaderboard") == [(2, pytest.approx(0.6))]
    assert q(b.con, "SELECT count(*) FROM stale_runs") == [(0,)]


def test_id_and_ood_averages_are_per_run_then_over_seeds(demo_views):
    for key, per_seed in DIGITS.items():
        ood = [ood_avg(v) for v in per_seed.values()]
        ids = [v[0] for v in per_seed.values()]
        m, sd, ci, n = mean_std_ci(ood)
        mi, sdi, cii, ni = mean_std_ci(ids)
        row = q(demo_views, "SELECT ood_mean, ood_std, ood_ci95, n_ood, id_mean, id_std, n_id, n_ood_domains "
                            "FROM leaderboard_averages WHERE task_label = 'digits' AND config = ? "
                            "AND checkpoint = 'selected' AND split = 'test' AND metric = 'accuracy'", LABEL[key])[0]
        assert row[0] == pytest.approx(m, rel=1e-12)
        assert row[1] == pytest.approx(sd, rel=1e-9)
        assert row[2] == pytest.approx(ci, rel=1e-9)
        assert row[4] == pytest.approx(mi, rel=1e-12)
        assert row[5] == pytest.approx(sdi, rel=1e-9)
        assert (row[3], row[6], row[7]) == (n, ni, 3)


def _avg_ranks(scores: dict[str, float], higher: bool) -> dict[str, float]:
    """Ranks with ties sharing their mean rank, computed independently of the SQL."""
    order = sorted(scores.values(), reverse=higher)
    return {k: statistics.mean(i + 1 for i, s in enumerate(order) if s == v) for k, v in scores.items()}


def test_aggregate_rank_mean_rank_and_borda(demo_views):
    digits = _avg_ranks({k: statistics.mean(ood_avg(v) for v in d.values()) for k, d in DIGITS.items()}, True)
    letters = _avg_ranks({k: statistics.mean(v[1] for v in d.values()) for k, d in LETTERS.items()}, True)
    assert digits == {"tramx": 1, "sam_a": 2, "sam_b": 3, "sgd": 4}
    assert letters == {"sam_b": 1, "tramx": 2, "sam_a": 3, "sgd": 4}
    rows = {r[0]: r[1:] for r in q(demo_views, "SELECT config, n_tasks, n_tasks_in_suite, mean_rank, borda "
                                               "FROM aggregate_rank")}
    for key in DIGITS:
        exp_mean = (digits[key] + letters[key]) / 2
        exp_borda = (4 - digits[key]) + (4 - letters[key])
        assert rows[LABEL[key]] == (2, 2, pytest.approx(exp_mean), pytest.approx(exp_borda))


def test_ties_share_the_mean_rank():
    b = new_store()
    for method, hp, v in (("sgd", SGD, 0.5), ("sam", SAM_A, 0.6), ("tram-x", {"base": "sgd"}, 0.6)):
        b.add_run("s", "t", method, 0, [Metric("a", 0.9, True), Metric("b", v, False)], hparams=hp)
    create_views(b.con)
    assert dict(q(b.con, "SELECT config, rank FROM task_rank")) == {"sam": 1.5, "tram-x": 1.5, "sgd": 3.0}
    assert dict(q(b.con, "SELECT config, borda FROM aggregate_rank")) == {"sam": 1.5, "tram-x": 1.5, "sgd": 0.0}


def test_shift_severity_for_accuracy(demo_views):
    base = DIGITS["sgd"]
    expected = {}
    for i, dom in enumerate(DOMAINS[1:], start=1):
        expected[dom] = mean_std_ci([(v[0] - v[i]) / v[0] for v in base.values()])
    rows = {r[0]: r[1:] for r in q(demo_views, "SELECT domain, baseline, severity, severity_std, severity_ci95, n, "
                                               "severity_rank FROM shift_severity WHERE task_label = 'digits' "
                                               "AND checkpoint = 'selected' AND metric = 'accuracy' AND split = 'test'")}
    assert set(rows) == {"rot", "noise", "blur"}
    hardest_first = sorted(expected, key=lambda d: -expected[d][0])
    for rank, dom in enumerate(hardest_first, start=1):
        m, sd, ci, n = expected[dom]
        assert rows[dom] == ("sgd", pytest.approx(m, rel=1e-12), pytest.approx(sd, rel=1e-9),
                             pytest.approx(ci, rel=1e-9), n, rank)
    assert hardest_first == ["rot", "noise", "blur"]


def _lm_store():
    """A language-modelling task: perplexity (lower is better), adam and sgd both present."""
    b = new_store()
    ppl = {  # method: {seed: (ID, a, b)}
        "adam": {0: (20.0, 30.0, 25.0), 1: (22.0, 33.0, 24.0)},
        "sgd": {0: (40.0, 50.0, 45.0), 1: (41.0, 52.0, 44.0)},
        "tram-prev": {0: (19.0, 27.0, 24.0), 1: (20.0, 28.0, 23.0)},
    }
    for method, per_seed in ppl.items():
        for seed, (i, a, bb) in per_seed.items():
            b.add_run("lm", "m2d2", method, seed, [Metric("id", i, True, "perplexity"), Metric("a", a, False, "perplexity"),
                                                   Metric("b", bb, False, "perplexity")], hparams={"base": "adam"}
                      if method != "sgd" else SGD)
    b.declare("lm", "m2d2", "adam", {"base": "adam"}, delta=0.01, units="log_ratio", family="lm")
    create_views(b.con)
    return b.con, ppl


def test_declared_baseline_drives_severity_and_perplexity_uses_log_ratios():
    con, ppl = _lm_store()
    assert q(con, "SELECT method FROM task_baseline") == [("adam",)]
    assert q(con, "SELECT metric FROM primary_metric") == [("perplexity",)]
    sev = dict(q(con, "SELECT domain, severity FROM shift_severity WHERE checkpoint = 'selected'"))
    assert sev["a"] == pytest.approx(statistics.mean([math.log(30 / 20), math.log(33 / 22)]), rel=1e-12)
    assert sev["b"] == pytest.approx(statistics.mean([math.log(25 / 20), math.log(24 / 22)]), rel=1e-12)
    gain = dict(q(con, "SELECT domain, gain FROM shift_gain WHERE config = 'tram-prev' AND checkpoint = 'selected'"))
    assert gain["a"] == pytest.approx(statistics.mean([math.log(30 / 27), math.log(33 / 28)]), rel=1e-12)
    assert gain["id"] == pytest.approx(statistics.mean([math.log(20 / 19), math.log(22 / 20)]), rel=1e-12)
    # Lower is better: the aggregate rank puts the lowest OOD perplexity first.
    assert dict(q(con, "SELECT config, rank FROM task_rank")) == {"tram-prev": 1.0, "adam": 2.0, "sgd": 3.0}


def test_gain_over_baseline_and_its_correlation_with_severity(demo_views):
    base = DIGITS["sgd"]
    sev = {d: statistics.mean((v[0] - v[i]) / v[0] for v in base.values()) for i, d in enumerate(DOMAINS) if i}
    for key in ("sam_a", "tramx"):
        per_seed = DIGITS[key]
        gains = {d: statistics.mean(per_seed[s][i] - base[s][i] for s in per_seed) for i, d in enumerate(DOMAINS) if i}
        rows = dict(q(demo_views, "SELECT domain, gain FROM shift_gain WHERE task_label = 'digits' AND config = ? "
                                  "AND checkpoint = 'selected' AND metric = 'accuracy' AND NOT in_domain", LABEL[key]))
        assert rows == {d: pytest.approx(g, rel=1e-9) for d, g in gains.items()}
        doms = sorted(gains)
        pearson = stats.pearsonr([gains[d] for d in doms], [sev[d] for d in doms]).statistic
        spearman = stats.spearmanr([gains[d] for d in doms], [sev[d] for d in doms]).statistic
        row = q(demo_views, "SELECT n_domains, pearson, spearman FROM gain_severity_correlation WHERE "
                            "task_label = 'digits' AND config = ? AND checkpoint = 'selected' AND metric = 'accuracy'",
                LABEL[key])
        assert row == [(3, pytest.approx(pearson, rel=1e-9), pytest.approx(spearman, rel=1e-12))]
    # With one OOD domain there is nothing to correlate.
    assert {r[0] for r in q(demo_views, "SELECT pearson FROM gain_severity_correlation WHERE task_label = 'letters'")} \
        == {None}


def test_cost_is_normalised_to_the_declared_baseline(demo_views):
    rows = {r[0]: r[1:] for r in q(demo_views, "SELECT config, reference, forward_ratio, backward_ratio, "
                                               "wall_time_ratio, peak_memory_ratio, step_time_ratio FROM cost "
                                               "WHERE task_label = 'digits'")}
    assert rows["sgd"] == ("sgd", 1.0, 1.0, 1.0, 1.0, 1.0)
    assert rows["sam[rho=0.05]"] == ("sgd", 2.0, 2.0, 2.0, 1.0, 1.0)
    assert rows["tram-x"] == ("sgd", 3.0, 2.0, 3.0, 1.5, 1.0)


def test_equal_compute_pairs_runs_with_the_same_backward_passes():
    b = new_store()
    for seed in (0, 1):
        b.add_run("s", "t", "sam", seed, [Metric("i", 0.9, True), Metric("o", 0.60 + 0.02 * seed, False)],
                  hparams=SAM_A, steps=100)  # 200 backward passes
        b.add_run("s", "t", "sgd", seed, [Metric("i", 0.9, True), Metric("o", 0.55, False)], hparams=SGD, steps=100)
        b.add_run("s", "t", "sgd", seed, [Metric("i", 0.9, True), Metric("o", 0.58, False)], hparams=SGD, steps=200,
                  label="t-2x")  # 200 backward passes: equal compute with sam
    for label in ("t", "t-2x"):
        b.declare("s", "t", "sgd", SGD, label=label)
    create_views(b.con)
    rows = q(b.con, "SELECT config, backward, score, base_task_label, base_backward, base_score, advantage "
                    "FROM equal_compute")
    assert rows == [("sam", 200.0, pytest.approx(0.61), "t-2x", 200.0, pytest.approx(0.58), pytest.approx(0.03))]


def test_analysis_summary_reports_id_and_ood_spread_across_domains():
    b = new_store()
    sharp = {0: (2.0, 1.0, 3.0, 2.5), 1: (2.2, 1.4, 2.6, 2.7)}  # en, then three OOD languages
    for seed, vals in sharp.items():
        ms = [Metric("en", 0.8, True), Metric("de", 0.7, False)]
        ms += [Metric(d, v, d == "en", "sharpness", split="val") for d, v in zip(("en", "de", "fr", "zh"), vals)]
        b.add_run("x", "xnli", "adam", seed, ms, hparams={"base": "adam"})
    create_views(b.con)
    per_dom = [statistics.mean(sharp[s][i] for s in sharp) for i in range(4)]
    row = q(b.con, "SELECT id_mean, ood_mean, ood_std_across_domains, n_ood_domains, higher_is_better, split "
                   "FROM analysis_summary WHERE checkpoint = 'selected'")
    assert row == [(pytest.approx(per_dom[0]), pytest.approx(statistics.mean(per_dom[1:])),
                    pytest.approx(statistics.stdev(per_dom[1:])), 3, False, "val")]


def test_published_cells_take_their_spread_from_table_13(demo_views):
    rows = q(demo_views, "SELECT pm, pm_kind, pm_table FROM published_cells WHERE table_id = '5' AND method = 'adam' "
                         "AND domain = 'en'")
    assert rows == [(0.34, "std", "13")]
    rows = q(demo_views, "SELECT pm FROM published_cells WHERE table_id = '14' AND domain = 'en' "
                         "AND json_extract_string(hparams, '$.divergence') = 'mmd'")
    assert rows == [(0.42,)]
    assert q(demo_views, "SELECT pm, pm_kind FROM published_cells WHERE table_id = '3' AND method = 'sgd' "
                         "AND domain = 'cars'") == [(0.31, "ci95")]
    # Tables 5 (11 rows), 12 (3) and 14 (3, its KL row being Table 13's TRAM-x) x 15 languages.
    assert q(demo_views, "SELECT count(*) FROM published_cells WHERE pm_table IS NOT NULL")[0][0] == (11 + 3 + 3) * 15


def test_published_comparison_for_a_mapped_task(tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("tasks:\n  - {task: digits, table: '3', split: cross-dataset, metric: accuracy, scale: 100,"
                       " tolerance: 3.0, checkpoint: selected, domains: {src: cifar100}}\n")
    b = build_demo(new_store())
    create_views(b.con, published=read_published(mapping_path=mapping))
    rows = {r[0]: r[1:] for r in q(b.con, "SELECT config, paper_domain, table_id, published, ours, delta, "
                                          "within_tolerance, n FROM published_comparison")}
    published = {"sgd": 87.97, "sam_a": 87.99, "sam_b": 87.99, "tramx": 88.78}
    assert set(rows) == {LABEL[k] for k in published}
    for key, pub in published.items():
        ours = 100 * statistics.mean(v[0] for v in DIGITS[key].values())
        r = rows[LABEL[key]]
        assert r[:3] == ("cifar100", "3", pub)
        assert r[3] == pytest.approx(ours, rel=1e-12)
        assert r[4] == pytest.approx(ours - pub, rel=1e-9)
        assert r[5] == (abs(ours - pub) <= 3.0)
        assert r[6] == len(DIGITS[key])
    assert rows["sgd"][5] is True and rows["tram-x"][5] is False


def test_views_work_on_a_read_only_store(tmp_path):
    db = tmp_path / "store.duckdb"
    b = build_demo(new_store(db))
    b.con.close()
    con = duckdb.connect(str(db), read_only=True)
    create_views(con)
    assert q(con, "SELECT count(*) FROM leaderboard WHERE metric = 'accuracy' AND split = 'test'")[0][0] == 2 * (
        4 * 4 + 4 * 2)


def test_missing_store_tables_is_a_clear_error():
    con = duckdb.connect()
    con.execute("CREATE TABLE runs (run_id VARCHAR)")
    with pytest.raises(StoreSchemaError, match="no table\\(s\\) metrics, suite_cells; run the collector first"):
        create_views(con)

