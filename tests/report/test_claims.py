"""The claims ledger: the data parse and name real methods and published cells; each claim resolves on
small constructed stores to the verdict computed by hand; the suite rule; the CLI and the page."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from scipy import stats

from report_fixtures import Metric, new_store
from tram_bench.report.claims.evaluate import NOT_TESTABLE, combine, create_claims_tables, evaluate_claims
from tram_bench.report.claims.ledger import BASELINE, CLAIMS_FILE, ClaimsDataError, load_claims
from tram_bench.report.claims.render import claims_page, print_claims
from tram_bench.report.published import read_published
from tram_bench.report.views import create_views

SEEDS = tuple(range(10))
P10 = 2 / 2**10  # exact two-sided signed-rank p when all 10 differences share a sign
OOD = ("rot", "noise", "blur")
ID_ACC = 0.9
BASE_OOD = (0.8, 0.6, 0.4)  # the baseline's OOD accuracy: severity (0.9 - b) / 0.9 = 1/9, 3/9, 5/9


# --- the data -------------------------------------------------------------------------------------------

def test_packaged_claims_parse_and_name_registered_methods_and_published_cells():
    from tram_bench.methods.registry import METHODS

    claims = load_claims()
    published = read_published()
    assert len(claims) >= 13
    known = set(METHODS.ids())
    for c in claims:
        assert set(c.methods()) <= known, c.id
        assert c.source.table in published.tables, c.id
        assert c.evidence, c.id
        for e in c.evidence:  # every evidence cell is a printed number of that table
            assert any(p.table == e.table and p.method == e.method and p.value_text == e.value_text
                       for p in published.cells), (c.id, e)
    ids = {c.id for c in claims}
    # The list, each a named variant (never "the best one").
    for needed in ("tram-prev-beats-sam-family-vision", "tram-prev-beats-sam-family-lm",
                   "tram-x-beats-sam-family-xling", "tram-prev-best-lm", "tram-x-best-zero-shot",
                   "tram-prev-best-zero-shot", "tram-fisher-beats-fsam", "asam-trpo-loses-to-base",
                   "asam-r3f-loses-to-base", "asam-mesa-loses-to-base", "tram-x-gain-grows-with-severity",
                   "tram-prev-lowers-sharpness", "tram-prev-raises-cka"):
        assert needed in ids


def test_claims_cite_tables_that_the_paper_digest_transcribes():
    """Every source table and evidence table is one of the tables published/ holds (transcribed from the paper)."""
    tables = read_published().tables
    text = CLAIMS_FILE.read_text(encoding="utf-8")
    for c in load_claims():
        for ref in c.evidence_refs:
            assert ref.table in tables
        assert f"table: \"{c.source.table}\"" in text


def _write_claims(tmp_path: Path, claims: list[dict]) -> Path:
    p = tmp_path / "claims.yaml"
    p.write_text(yaml.safe_dump({"claims": claims}, sort_keys=False), encoding="utf-8")
    return p


def _claim(**kw) -> dict:
    base = {"id": "c", "statement": "s", "source": {"section": "4.3", "table": "5"}, "kind": "compare",
            "subject": "tram-x", "competitors": ["sam"], "metric": "primary", "group": "ood_avg",
            "direction": "better",
            "evidence": [{"table": "5", "split": "xnli", "domain": "zs_avg", "metric": "accuracy",
                          "methods": ["tram-x", "sam"]}]}
    base.update(kw)
    return base


@pytest.mark.parametrize("change,needle", [
    ({"subject": "tram-y"}, "subject: 'tram-y' is not a registered method id"),
    ({"competitors": ["sam", "adamw"]}, "competitors: 'adamw' is not a registered method id"),
    ({"source": {"section": "9", "table": "99"}}, "source.table: '99' is not a published table"),
    ({"evidence": [{"table": "5", "split": "xnli", "domain": "zs_avg", "metric": "accuracy",
                    "methods": ["asam+trpo"]}]}, "no published cell for table 5"),
    ({"direction": "higher"}, "direction: 'higher' is not one of better, worse"),
    ({"families": ["audio"]}, "families: must be a list of"),
    ({"rho": 1}, "claims[0].rho: unknown key"),
    ({"competitors": ["tram-x"]}, "must not include the subject"),
    ({"kind": "severity_slope"}, "a severity_slope claim compares with ['@baseline'] only"),
])
def test_a_malformed_claim_is_one_line_naming_file_claim_and_key(tmp_path, change, needle):
    path = _write_claims(tmp_path, [_claim(**change)])
    with pytest.raises(ClaimsDataError) as err:
        load_claims(path)
    message = str(err.value)
    assert needle in message and str(path) in message and "\n" not in message


def test_duplicate_claim_ids_are_refused(tmp_path):
    with pytest.raises(ClaimsDataError, match="'c' appears twice"):
        load_claims(_write_claims(tmp_path, [_claim(), _claim()]))


# --- constructed stores ----------------------------------------------------------------------------------

def _run(b, method, seed, ood, *, sharp=None, label="digits", hparams=None):
    metrics = [Metric("src", ID_ACC, True)] + [Metric(d, v, False) for d, v in zip(OOD, ood)]
    if sharp is not None:
        metrics += [Metric(d, sharp, d == "src", metric="sharpness") for d in ("src", *OOD)]
    b.add_run("s", label, method, seed, metrics, hparams=hparams or {"base": "sgd"}, label=label)


def _severity(b_ood):
    return [(ID_ACC - v) / ID_ACC for v in b_ood]


def _vision_store():
    """Suite ``s``, task ``digits`` (vision), baseline sgd, 10 seeds; the values make each claim's verdict
    computable by hand (see each test)."""
    b = new_store()
    for s in SEEDS:
        base = BASE_OOD
        sev = _severity(base)
        # tram-x gains (5 + s) points per unit of severity over sgd: every per-seed slope is 5 + s > 0.
        tram_x = [v + (5 + s) * x / 100 for v, x in zip(base, sev)]
        sam = [v + 0.01 + 0.001 * s for v in tram_x]  # beats tram-x on every seed
        tram_prev = [v + 0.02 for v in sam]  # beats sam (and asam) on every seed by 2 points
        asam = [v - 0.005 for v in sam]
        # tram-fisher vs fisher_sam: +-0.1 .. +-1.0 points, alternating, ranks 1..10: W+ = 25, W- = 30.
        fsam = list(base)
        tf_shift = (s + 1) / 1000 * (1 if s % 2 == 0 else -1)
        tram_fisher = [v + tf_shift for v in fsam]
        _run(b, "sgd", s, base, sharp=2.0)
        _run(b, "tram-x", s, tram_x, sharp=1.0)
        _run(b, "sam", s, sam)
        _run(b, "tram-prev", s, tram_prev)
        _run(b, "asam", s, asam)
        _run(b, "fisher_sam", s, fsam)
        _run(b, "tram-fisher", s, tram_fisher)
    b.declare("s", "digits", "sgd", {"base": "sgd"}, label="digits", family="vision")
    create_views(b.con)
    return b


VISION_CLAIMS = [
    _claim(id="prev-beats-sams", subject="tram-prev", competitors=["sam", "asam"], families=["vision"]),
    _claim(id="x-beats-sam", subject="tram-x", competitors=["sam"], families=["vision"]),
    _claim(id="fisher-beats-fsam", subject="tram-fisher", competitors=["fisher_sam"], families=["vision"]),
    _claim(id="x-severity", kind="severity_slope", subject="tram-x", competitors=[BASELINE]),
    _claim(id="combo-loses", subject="asam+trpo", competitors=[BASELINE], direction="worse",
           evidence=[{"table": "12", "split": "xnli", "domain": "zs_avg", "metric": "accuracy",
                      "methods": ["asam+trpo"]}]),
    _claim(id="x-sharpness", subject="tram-x", competitors=[BASELINE], metric="sharpness"),
    _claim(id="prev-sharpness", subject="tram-prev", competitors=[BASELINE], metric="sharpness"),
    _claim(id="lm-only", subject="tram-prev", competitors=["sam"], families=["lm"]),
]


@pytest.fixture(scope="module")
def vision(tmp_path_factory):
    path = _write_claims(tmp_path_factory.mktemp("claims"), VISION_CLAIMS)
    claims = load_claims(path)
    store = _vision_store()
    yield store.con, claims, evaluate_claims(store.con, claims)
    store.con.close()


def _row(res, claim_id, task="digits"):
    (row,) = [r for r in res.rows if r.claim_id == claim_id and r.task_label == task]
    return row


def _verdict(res, claim_id):
    (v,) = [v for v in res.verdicts if v.claim_id == claim_id]
    return v


def test_family_is_the_testable_rows_and_holm_is_applied_over_them(vision):
    _, _, res = vision
    tested = [r for r in res.rows if r.verdict != NOT_TESTABLE]
    # prev-beats-sams, x-beats-sam, fisher-beats-fsam, x-severity, x-sharpness: 5 testable rows.
    assert sorted(r.claim_id for r in tested) == sorted(
        ["prev-beats-sams", "x-beats-sam", "fisher-beats-fsam", "x-severity", "x-sharpness"])
    assert {r.family_size for r in tested} == {5}


def test_reproduced_by_hand(vision):
    _, _, res = vision
    r = _row(res, "prev-beats-sams")
    # Both comparisons have 10 positive differences: p = 2/2^10 each; the claim's p is the larger (equal).
    # Holm over 5 rows, four of them at P10 (prev, x-beats-sam, severity, sharpness): 5 * P10.
    assert r.p_value == pytest.approx(P10)
    assert r.p_adjusted == pytest.approx(5 * P10)
    assert r.verdict == "reproduced" and r.binding in ("sam", "asam")
    assert r.effect == pytest.approx(2.0 if r.binding == "sam" else 2.5)
    assert r.n_pairs == 10 and "CPU-scale stand-in" in r.stand_in


def test_contradicted_by_hand(vision):
    _, _, res = vision
    r = _row(res, "x-beats-sam")
    # sam is better than tram-x on every seed by 1 + 0.1 s points: one competitor against, p = 1 * P10.
    assert r.verdict == "contradicted"
    assert r.p_value == pytest.approx(P10) and r.p_adjusted == pytest.approx(5 * P10)
    assert r.effect == pytest.approx(-(1.0 + 0.1 * 4.5))


def test_inconclusive_by_hand_with_its_mde(vision):
    _, _, res = vision
    r = _row(res, "fisher-beats-fsam")
    diffs = [(s + 1) / 10 * (1 if s % 2 == 0 else -1) for s in SEEDS]  # points
    expected = stats.wilcoxon(diffs, zero_method="wilcox", method="exact").pvalue
    assert r.p_value == pytest.approx(expected)
    assert r.verdict == "inconclusive"
    assert r.p_adjusted == pytest.approx(expected)  # Holm: the largest of the 5 p-values is multiplied by 1
    assert r.mde is not None and r.mde > 0 and "MDE" in r.reason
    assert r.effect == pytest.approx(sum(diffs) / 10)


def test_severity_slope_per_seed_then_across_seeds(vision):
    _, _, res = vision
    r = _row(res, "x-severity")
    # The baseline is identical on every seed, so the leave-one-out severities are the true ones and each
    # seed's slope is exactly 5 + s points per unit severity; all positive: p = P10.
    assert r.verdict == "reproduced"
    assert r.effect == pytest.approx(sum(5 + s for s in SEEDS) / 10)
    assert r.p_value == pytest.approx(P10)
    assert r.units == "points per unit severity" and r.binding == "sgd"


def test_analysis_claim_reproduced_and_missing_analysis_not_testable(vision):
    _, _, res = vision
    r = _row(res, "x-sharpness")
    assert r.verdict == "reproduced" and r.units == "sharpness" and r.effect == pytest.approx(1.0)  # 2.0 -> 1.0, lower is better
    r = _row(res, "prev-sharpness")
    assert r.verdict == NOT_TESTABLE and "analysis 'sharpness' not enabled" in r.reason


def test_not_testable_reasons(vision):
    _, _, res = vision
    r = _row(res, "combo-loses")
    assert r.verdict == NOT_TESTABLE and r.reason == "not in this task's methods: asam+trpo"
    v = _verdict(res, "lm-only")
    assert v.verdict == NOT_TESTABLE and v.n_tasks == 0 and "no task of family lm" in v.reason


def test_suite_verdicts_follow_the_rule(vision):
    _, _, res = vision
    assert _verdict(res, "prev-beats-sams").verdict == "reproduced"
    assert _verdict(res, "x-beats-sam").verdict == "contradicted"
    assert _verdict(res, "fisher-beats-fsam").verdict == "inconclusive"
    assert _verdict(res, "combo-loses").verdict == NOT_TESTABLE


def test_a_gridded_method_names_no_variant_and_too_few_seeds_is_not_testable(tmp_path):
    b = new_store()
    for s in (0, 1, 2):
        _run(b, "sgd", s, BASE_OOD, label="t")
        _run(b, "sam", s, BASE_OOD, label="t", hparams={"base": "sgd", "rho": 0.05})
        _run(b, "sam", s, BASE_OOD, label="t", hparams={"base": "sgd", "rho": 0.1})
        if s == 0:
            _run(b, "tram-x", s, BASE_OOD, label="t")
    b.declare("s", "t", "sgd", {"base": "sgd"}, label="t", family="vision")
    create_views(b.con)
    claims = load_claims(_write_claims(tmp_path, [
        _claim(id="grid", subject="tram-x", competitors=["sam"]),
        _claim(id="seeds", subject="tram-x", competitors=[BASELINE])]))
    res = evaluate_claims(b.con, claims)
    assert "sam has 2 configurations here" in _row(res, "grid", "t").reason
    assert _row(res, "seeds", "t").reason == "1 paired seed(s) of tram-x and sgd (need 2)"


def test_three_seeds_cannot_reach_alpha_and_say_so(tmp_path):
    b = new_store()
    for s in (0, 1, 2):
        _run(b, "sgd", s, BASE_OOD, label="t")
        _run(b, "tram-x", s, [v + 0.05 for v in BASE_OOD], label="t")
    b.declare("s", "t", "sgd", {"base": "sgd"}, label="t", family="vision")
    create_views(b.con)
    res = evaluate_claims(b.con, load_claims(_write_claims(tmp_path, [
        _claim(id="x", subject="tram-x", competitors=[BASELINE])])))
    r = _row(res, "x", "t")
    assert r.verdict == "inconclusive" and r.p_value == pytest.approx(0.25) and r.min_attainable_p == 0.25
    assert "cannot reach alpha 0.05" in r.reason


def test_perplexity_claims_use_the_log_ratio_and_worse_direction(tmp_path):
    """asam+trpo has 10% higher perplexity than adam on every seed: 'loses to the base optimizer' reproduced."""
    b = new_store()
    for s in SEEDS:
        for method, factor in (("adam", 1.0), ("asam+trpo", 1.1 + 0.01 * s)):
            b.add_run("lm", "bbc", method, s, [Metric("ent", 20.0, True, "perplexity"),
                                              Metric("sport", 30.0 * factor, False, "perplexity")],
                      hparams={"base": "adam"})
    b.declare("lm", "bbc", "adam", {"base": "adam"}, units="log_ratio", delta=0.01, family="lm")
    create_views(b.con)
    res = evaluate_claims(b.con, load_claims(_write_claims(tmp_path, [
        _claim(id="combo", subject="asam+trpo", competitors=[BASELINE], direction="worse", families=["lm"])])))
    r = _row(res, "combo", "bbc")
    assert r.verdict == "reproduced" and r.units == "log_ratio"
    assert r.effect == pytest.approx(-sum(math.log(1.1 + 0.01 * s) for s in SEEDS) / 10)


@pytest.mark.parametrize("verdicts,expected", [
    (["reproduced", "inconclusive", NOT_TESTABLE], "reproduced"),
    (["reproduced", "contradicted"], "contradicted"),
    (["inconclusive", "contradicted", NOT_TESTABLE], "contradicted"),
    (["inconclusive", NOT_TESTABLE], "inconclusive"),
    ([NOT_TESTABLE, NOT_TESTABLE], NOT_TESTABLE),
    ([], NOT_TESTABLE),
])
def test_suite_rule_by_hand(verdicts, expected):
    assert combine(verdicts) == expected


def test_combine_refuses_unknown_verdicts():
    with pytest.raises(ValueError, match="unknown claim verdict"):
        combine(["better"])


def test_claims_tables_and_the_packaged_ledger_on_a_store(vision):
    con, _, _ = vision
    res = create_claims_tables(con)  # the packaged ledger
    n = con.execute("SELECT count(*) FROM claims").fetchone()[0]
    assert n == len(res.rows) and n > 0
    verdicts = dict(con.execute("SELECT claim_id, verdict FROM claims_summary").fetchall())
    assert verdicts["tram-x-beats-sam-family-xling"] == NOT_TESTABLE  # a vision-only suite
    # tram-prev beats sam, asam and fisher_sam on all 10 seeds; the family holds this row and the severity one.
    assert verdicts["tram-prev-beats-sam-family-vision"] == "reproduced"
    assert con.execute("SELECT DISTINCT family_size FROM claims WHERE verdict <> ?", [NOT_TESTABLE]).fetchall() == [(2,)]
    row = con.execute("SELECT reason FROM claims WHERE claim_id = 'tram-prev-lowers-sharpness'").fetchone()
    assert "analysis 'sharpness' not enabled" in row[0]


def test_terminal_ledger_is_readable_at_80_columns_and_escapes_markup(vision):
    con, claims, res = vision
    buf = io.StringIO()
    print_claims(res, claims, Console(file=buf, width=80, color_system=None))
    out = buf.getvalue()
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "CPU-scale stand-in" in out and "contradicted" in out and "reproduced" in out
    # A markup-looking statement is printed as typed.
    from dataclasses import replace
    odd = tuple(replace(c, note="[bold]x[/bold]") for c in claims)
    buf = io.StringIO()
    print_claims(res, odd, Console(file=buf, width=80, color_system=None))
    assert "[bold]x[/bold]" in buf.getvalue()


def test_claims_page_escapes_and_lists_every_claim(vision):
    _, claims, res = vision
    html = claims_page(res, claims, "generated")
    for c in claims:
        assert c.id in html
    assert "CPU-scale stand-in" in html and "<script>alert" not in html


def test_cli_claims_prints_the_ledger(tmp_path, capsys):
    from tram_bench.cli import main

    b = new_store(tmp_path / "tram-bench.duckdb")
    for s in (0, 1):
        _run(b, "sgd", s, BASE_OOD, label="t")
    b.declare("s", "t", "sgd", {"base": "sgd"}, label="t", family="vision")
    b.con.close()
    assert main(["claims", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "tram-x-gain-grows-with-severity" in out and "not testable here" in out


def test_cli_claims_without_a_database_is_one_line_exit_2(tmp_path, capsys):
    from tram_bench.cli import main

    assert main(["claims", "--results", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no database" in err
    assert not (tmp_path / "none").exists()


def test_leaderboard_has_a_claims_page_linked_from_the_index(vision, tmp_path):
    from tram_bench.report.site import build_site

    con, _, _ = vision
    index = build_site(con, tmp_path / "site")
    page_html = (tmp_path / "site" / "claims.html").read_text(encoding="utf-8")
    assert 'href="claims.html"' in index.read_text(encoding="utf-8")
    assert "tram-prev-beats-sam-family-vision" in page_html and "reproduced" in page_html
    assert "CPU-scale stand-in for the paper" in page_html


def test_floor_in_a_family_of_mixed_seed_counts(tmp_path):
    """A 5-seed row beside 10-seed rows: Holm can reach it last (multiplier 1), so its floor is its own
    2/2^5 = 0.0625 (not m * 2/2^5), still >= alpha; a 10-seed family row's floor is m * 2/2^10."""
    b = new_store()
    for s in SEEDS:
        _run(b, "sgd", s, BASE_OOD, label="t")
        _run(b, "tram-x", s, [v + 0.05 for v in BASE_OOD], label="t")
        _run(b, "sgd", s, BASE_OOD, label="u")
        if s < 5:
            _run(b, "sam", s, [v + 0.05 for v in BASE_OOD], label="u")
    for label in ("t", "u"):
        b.declare("s", label, "sgd", {"base": "sgd"}, label=label, family="vision")
    create_views(b.con)
    res = evaluate_claims(b.con, load_claims(_write_claims(tmp_path, [
        _claim(id="x", subject="tram-x", competitors=[BASELINE]),
        _claim(id="s", subject="sam", competitors=[BASELINE])])))
    x, s5 = _row(res, "x", "t"), _row(res, "s", "u")
    assert x.verdict == "reproduced" and x.min_attainable_p == pytest.approx(2 * 2 / 2**10)
    assert s5.verdict == "inconclusive" and s5.min_attainable_p == pytest.approx(2 / 2**5)
    assert s5.p_adjusted == pytest.approx(2 / 2**5)  # Holm's last step: multiplier 1
    assert "cannot reach alpha 0.05: smallest attainable adjusted p 0.0625" in s5.reason


def test_baseline_claims_need_a_plain_base_optimizer_as_the_declared_baseline(tmp_path):
    b = new_store()
    for s in (0, 1, 2):
        _run(b, "sam", s, BASE_OOD, label="t")
        _run(b, "tram-x", s, BASE_OOD, label="t")
    b.declare("s", "t", "sam", {"base": "sgd"}, label="t", family="vision")
    create_views(b.con)
    res = evaluate_claims(b.con, load_claims(_write_claims(tmp_path, [
        _claim(id="x", subject="tram-x", competitors=[BASELINE])])))
    r = _row(res, "x", "t")
    assert r.verdict == NOT_TESTABLE
    assert r.reason == "the declared baseline sam is not a plain base optimizer"


def test_cli_claims_on_a_database_without_the_store_tables_is_one_line_exit_2(tmp_path, capsys):
    import duckdb

    from tram_bench.cli import main

    duckdb.connect(str(tmp_path / "tram-bench.duckdb")).close()
    assert main(["claims", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no table(s) runs, metrics, suite_cells" in err


def test_family_wise_error_of_the_claims_under_the_null_is_at_most_alpha():
    """Monte Carlo: every method identical in distribution (paired differences share the subject's
    noise, as real pairs do). Over a family of four claims (one, two, three and four competitors) on 10
    seeds, the share of replicates in which Holm over the claims' p-values gives any verdict
    (reproduced or contradicted) stays at most alpha plus three Monte-Carlo standard errors."""
    import numpy as np

    from tram_bench.report.claims.evaluate import decide
    from tram_bench.stats.paired import holm

    rng = np.random.default_rng(7)
    reps, alpha, hits = 600, 0.05, 0
    for _ in range(reps):
        ps = []
        for k in (1, 2, 3, 4):
            scores = rng.standard_normal((k + 1, 10))  # row 0: the subject
            diffs = {f"c{j}": list(scores[0] - scores[j]) for j in range(1, k + 1)}
            ps.append(decide(diffs, "better")[1])
        hits += any(p < alpha for p in holm(ps))
    assert hits / reps <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / reps)


def test_decide_by_hand():
    from tram_bench.report.claims.evaluate import decide

    up = [0.1 * (i + 1) for i in range(10)]
    assert decide({"a": up, "b": [2 * d for d in up]}, "better") == ("a", pytest.approx(P10), True)
    assert decide({"a": up, "b": [-d for d in up]}, "better") == ("b", pytest.approx(2 * P10), False)
    assert decide({"a": [-d for d in up]}, "worse") == ("a", pytest.approx(P10), True)
    assert decide({"a": [0.0] * 10}, "better") == ("a", 1.0, True)


def _null_slopes(rng, n_seeds: int, *, leave_one_out: bool) -> list[float]:
    """Baseline and subject drawn from one distribution per domain; returns the per-seed slopes, with the
    x axis either leave-one-seed-out (what the ledger does) or each seed's own severity."""
    from tram_bench.report.claims.evaluate import severity_slopes

    # Domains 2 points apart with 3 points of seed noise: a seed's own noise is a large part of its severity.
    means = {"a": 0.68, "b": 0.66, "c": 0.64, "d": 0.62, "e": 0.60}
    base = {d: {s: m + 0.03 * rng.standard_normal() for s in range(n_seeds)} for d, m in means.items()}
    subj = {d: {s: m + 0.03 * rng.standard_normal() for s in range(n_seeds)} for d, m in means.items()}
    ind = {s: 0.95 for s in range(n_seeds)}
    if leave_one_out:
        return severity_slopes(subj, base, ind, units="points", higher_is_better=True)
    from scipy import stats

    return [float(stats.linregress([(0.95 - base[d][s]) / 0.95 for d in means],
                                   [100 * (subj[d][s] - base[d][s]) for d in means]).slope) for s in range(n_seeds)]


def test_severity_slopes_under_the_null_keep_alpha_and_own_seed_severity_would_not():
    """With no true effect, the leave-one-seed-out slopes reject at most alpha (+ 3 MC standard errors);
    a seed's own severity on the x axis shares the baseline's noise with the gain and rejects far more
    often when seed noise is large beside the domains' differences (the bias the ledger avoids)."""
    import numpy as np

    from tram_bench.stats.paired import exact_wilcoxon_p

    alpha, reps = 0.05, 300
    rates = {}
    for loo in (True, False):
        rng = np.random.default_rng(11)
        hits = sum((exact_wilcoxon_p(_null_slopes(rng, 10, leave_one_out=loo)) or 1.0) < alpha for _ in range(reps))
        rates[loo] = hits / reps
    assert rates[True] <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / reps)
    assert rates[False] > 0.5


def test_severity_slope_by_hand():
    from tram_bench.report.claims.evaluate import severity_slopes

    base = {"a": {0: 0.8, 1: 0.8}, "b": {0: 0.6, 1: 0.6}, "c": {0: 0.4, 1: 0.4}}
    sev = {d: (1.0 - v[0]) / 1.0 for d, v in base.items()}  # 0.2, 0.4, 0.6
    subj = {d: {s: base[d][s] + (3 + s) * sev[d] / 100 for s in (0, 1)} for d in base}  # gain (3 + s) * severity points
    slopes = severity_slopes(subj, base, {0: 1.0, 1: 1.0}, units="points", higher_is_better=True)
    assert slopes == pytest.approx([3.0, 4.0])
    with pytest.raises(ValueError, match="do not differ in severity"):
        severity_slopes(subj, {d: {0: 0.5, 1: 0.5} for d in base}, {0: 1.0, 1: 1.0}, units="points",
                        higher_is_better=True)
