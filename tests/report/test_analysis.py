"""Issue 8's analysis leaderboard: the ID-vs-OOD sharpness correlation across runs (Table 6a's Pearson ρ)
and the per-run scatter plots, against float64 hand computations."""

from __future__ import annotations

import html
import io
import math
import re
import statistics
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from scipy import stats

from report_fixtures import Metric, new_store
from tram_bench.report import build_site, terminal_report
from tram_bench.report.formatting import fmt, fmt_pm
from tram_bench.report.site import task_page_name
from tram_bench.report.views import create_views

EVIL = "<b>x</b>&"
OOD = ("de", "fr", "sw")
# Per seed: en (in-domain test), then the three OOD test languages.
ADAM = {
    "accuracy": {0: (0.80, 0.70, 0.60, 0.55), 1: (0.82, 0.66, 0.63, 0.57), 2: (0.79, 0.72, 0.65, 0.52),
                 3: (0.81, 0.64, 0.58, 0.56)},
    "sharpness": {0: (2.0, 1.5, 2.5, 3.0), 1: (2.6, 2.2, 2.0, 3.4), 2: (1.7, 1.1, 1.9, 2.2),
                  3: (3.1, 2.9, 3.3, 3.1)},
    "cka": {0: (0.70, 0.45, 0.40, 0.30), 1: (0.72, 0.40, 0.44, 0.33), 2: (0.69, 0.47, 0.41, 0.35),
            3: (0.71, 0.42, 0.39, 0.31)},
}
EN_VAL_SHARPNESS = {0: 2.1, 1: 2.5, 2: 1.8, 3: 3.0}
# Two seeds only: no correlation.
SAM = {m: {s: v[s] for s in (0, 1)} for m, v in ADAM.items()}
# Constant in-domain sharpness.
FLAT_ID = {
    "accuracy": ADAM["accuracy"],
    "sharpness": {0: (1.5, 1.0, 2.0, 3.0), 1: (1.5, 2.0, 2.5, 3.5), 2: (1.5, 0.5, 1.0, 1.5), 3: (1.5, 3.0, 3.0, 3.0)},
}
# Varying in-domain sharpness; OOD averages that differ only by the order of their summation (their last bits).
FLAT_OOD = {
    "accuracy": ADAM["accuracy"],
    "sharpness": {0: (1.5, 0.1, 0.2, 0.3), 1: (1.7, 0.3, 0.2, 0.1), 2: (1.2, 0.2, 0.3, 0.1), 3: (1.9, 0.1, 0.3, 0.2)},
}
CONFIGS = (("adam", ADAM), ("sam", SAM), ("flat-id", FLAT_ID), ("flat-ood", FLAT_OOD))


def metrics(per_metric: dict, seed: int, val_sharpness: float | None = None) -> list[Metric]:
    out = []
    for metric, per_seed in per_metric.items():
        for i, (dom, v) in enumerate(zip(("en",) + OOD, per_seed[seed])):
            out.append(Metric(dom, v, i == 0, metric))
    if val_sharpness is not None:
        out.append(Metric("en", val_sharpness, True, "sharpness", split="val"))
    return out


def build(suite: str = "x", sam_method: str = "sam"):
    b = new_store()
    for seed in ADAM["accuracy"]:
        b.add_run(suite, "xnli-mini", "adam", seed, metrics(ADAM, seed, EN_VAL_SHARPNESS[seed]),
                  hparams={"base": "adam"})
        b.add_run(suite, "xnli-mini", "flat-id", seed, metrics(FLAT_ID, seed), hparams={"base": "adam"})
        b.add_run(suite, "xnli-mini", "flat-ood", seed, metrics(FLAT_OOD, seed), hparams={"base": "adam"})
    for seed in SAM["accuracy"]:
        b.add_run(suite, "xnli-mini", sam_method, seed, metrics(SAM, seed), hparams={"base": "adam", "rho": 0.05})
    return b


def ood_avg(vals) -> float:
    return math.fsum(vals[1:]) / (len(vals) - 1)


@pytest.fixture(scope="module")
def views():
    b = build()
    create_views(b.con)
    yield b.con
    b.con.close()


def corr_rows(con):
    return {(r[0], r[1]): r[2:] for r in con.execute(
        "SELECT config, metric, split, n_runs, pearson FROM analysis_id_ood_correlation "
        "WHERE checkpoint = 'selected' AND split = 'test'").fetchall()}


def test_id_vs_ood_pearson_matches_numpy_and_scipy(views):
    rows = corr_rows(views)
    for metric in ("sharpness", "cka"):
        per_seed = ADAM[metric]
        en = np.array([v[0] for v in per_seed.values()], dtype=np.float64)
        ood = np.array([ood_avg(v) for v in per_seed.values()], dtype=np.float64)
        split, n, r = rows[("adam", metric)]
        assert (split, n) == ("test", 4)
        assert r == pytest.approx(np.corrcoef(en, ood)[0, 1], rel=1e-12, abs=1e-14)
        assert r == pytest.approx(stats.pearsonr(en, ood).statistic, rel=1e-12, abs=1e-14)
    # The hand value is a genuine, non-trivial correlation (the fixture is not degenerate).
    assert 0.5 < rows[("adam", "sharpness")][2] < 0.99


def test_pearson_is_null_below_three_runs_or_for_a_constant_side(views):
    rows = corr_rows(views)
    assert rows[("sam", "sharpness")][1:] == (2, None) and rows[("sam", "cka")][1:] == (2, None)
    assert rows[("flat-id", "sharpness")][1:] == (4, None)
    assert rows[("flat-ood", "sharpness")][1:] == (4, None)
    # The in-domain validation row has no OOD side: no pairs.
    val = views.execute("SELECT n_runs, pearson FROM analysis_id_ood_correlation "
                        "WHERE config = 'adam' AND metric = 'sharpness' AND split = 'val'").fetchall()
    assert val == [(0, None)]


def test_one_correlation_row_per_analysis_summary_row(views):
    key = "suite, task_label, config, checkpoint, split, metric"
    a = views.execute(f"SELECT {key} FROM analysis_summary ORDER BY ALL").fetchall()
    c = views.execute(f"SELECT {key} FROM analysis_id_ood_correlation ORDER BY ALL").fetchall()
    assert a == c and len(a) == 3 + 2 + 1 + 1  # adam: sharpness test+val, cka; sam: both; flats: sharpness


def test_run_points_are_the_runs_ood_averages(views):
    got = {(r[0], r[1], r[2]): r[3:] for r in views.execute(
        "SELECT config, metric, seed, analysis_ood_avg, primary_metric, primary_ood_avg, n_ood_domains "
        "FROM analysis_run_points WHERE checkpoint = 'selected'").fetchall()}
    expected = {}
    for config, table in CONFIGS:
        for metric in ("sharpness", "cka"):
            for seed, vals in table.get(metric, {}).items():
                expected[(config, metric, seed)] = (ood_avg(vals), "accuracy", ood_avg(table["accuracy"][seed]), 3)
    assert set(got) == set(expected)
    for k, (x, pm, y, n) in expected.items():
        assert got[k][0] == pytest.approx(x, rel=1e-12) and got[k][2] == pytest.approx(y, rel=1e-12)
        assert got[k][1] == pm and got[k][3] == n


def render_terminal(con) -> str:
    buf = io.StringIO()
    terminal_report(con, Console(file=buf, width=240, color_system=None), view="wide")  # the analysis tables
    return buf.getvalue()


def test_terminal_shows_the_analysis_with_the_correlation():
    b = build()
    out = render_terminal(b.con)
    en = [v[0] for v in ADAM["sharpness"].values()]
    ood = [ood_avg(v) for v in ADAM["sharpness"].values()]
    rho = fmt(float(np.corrcoef(en, ood)[0, 1]), 3)
    assert "analysis: sharpness ↓ (lower is better), selected checkpoint" in out
    assert "analysis: cka ↑ (higher is better)" in out
    sharp = out[out.index("analysis: sharpness"):]
    cols = {}
    for ln in sharp.splitlines():
        c = [x.strip() for x in ln.split("│")[1:-1]]
        if len(c) == 7 and c[1] == "test":
            cols[c[0]] = c
    per_domain = [math.fsum(v[i] for v in ADAM["sharpness"].values()) / 4 for i in (1, 2, 3)]
    ood = fmt_pm(statistics.mean(per_domain), statistics.stdev(per_domain))
    assert cols["adam"][2:] == [fmt(math.fsum(en) / 4), ood, rho, "4", "4"]
    assert cols["sam"][4:] == ["–", "2", "2"]
    assert cols["flat-id"][4] == "–" and cols["flat-ood"][4] == "–"


# --- the site ------------------------------------------------------------------------------------------

FIGURE = re.compile(r'<figure class="analysis-scatter" data-metric="([^"]*)">(.*?)</figure>', re.S)


def chart(fig: str) -> ET.Element:
    """The figure's inline SVG (charts.py), parsed, tags without their namespace."""
    root = ET.fromstring(re.search(r"<svg.*</svg>", fig, re.S).group(0))
    for el in root.iter():
        el.tag = el.tag.rpartition("}")[2]
    return root


def scatter_points(fig: str) -> list[tuple[float, float, str]]:
    """(x, y, tooltip) of every point: a ``g.pt`` group holding its <title> and its marker (<use>)."""
    out = []
    for g in chart(fig).iter("g"):
        if g.get("class") == "pt":
            use = next(g.iter("use"))
            out.append((float(use.get("x")), float(use.get("y")), g.find("title").text))
    return out


def legend_entries(fig: str) -> list[str]:
    legend = next(g for g in chart(fig).iter("g") if g.get("id", "").endswith("-legend_1"))
    return [t.text for t in legend.iter("text")]


def task_html(con, out: Path, suite: str = "x") -> str:
    index = build_site(con, out, None, family_of=lambda task: None)
    return (index.parent / task_page_name(suite, "xnli-mini")).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def evil_page(tmp_path_factory):
    return task_html(build(suite=EVIL, sam_method=EVIL).con, tmp_path_factory.mktemp("site"), suite=EVIL)


def test_site_has_both_scatters_with_one_point_per_run(evil_page):
    figs = FIGURE.findall(evil_page)
    assert [m for m, _ in figs] == ["sharpness", "cka"]
    configs = {"adam": ADAM, EVIL: SAM, "flat-id": FLAT_ID, "flat-ood": FLAT_OOD}
    for metric, fig in figs:
        with_metric = {c: t[metric] for c, t in configs.items() if metric in t}
        n_points = sum(len(per_seed) for per_seed in with_metric.values())
        assert (n_points, len(with_metric)) == ((4 + 2 + 4 + 4, 4) if metric == "sharpness" else (4 + 2, 2))
        points = scatter_points(fig)
        assert len(points) == n_points
        assert sorted(legend_entries(fig)) == sorted(with_metric)  # the legend: one colour per method
        expected = {
            f"{c}, seed {seed}: OOD-avg {metric} {fmt(ood_avg(vals))}, OOD-avg accuracy "
            f"{fmt(ood_avg(configs[c]['accuracy'][seed]))}"
            for c, per_seed in with_metric.items() for seed, vals in per_seed.items()
        }
        assert {t for _, _, t in points} == expected
        # Positions follow the values: x grows to the right, y (accuracy) grows upwards.
        values = {f"{c}, seed {seed}": (ood_avg(vals), ood_avg(configs[c]["accuracy"][seed]))
                  for c, per_seed in with_metric.items() for seed, vals in per_seed.items()}
        for cx1, cy1, t1 in points:
            for cx2, cy2, t2 in points:
                (x1, y1), (x2, y2) = values[t1.split(":")[0]], values[t2.split(":")[0]]
                if x1 < x2 - 1e-9:
                    assert cx1 < cx2
                if y1 < y2 - 1e-9:
                    assert cy1 > cy2
        arrow_words = "↓ (lower is better)" if metric == "sharpness" else "↑ (higher is better)"
        assert f">OOD-average {metric} {arrow_words}</text>" in fig and ">OOD-average accuracy ↑</text>" in fig


def test_site_escapes_every_string_of_the_analysis(evil_page):
    assert "<b>x</b>" not in evil_page
    for _, fig in FIGURE.findall(evil_page):
        assert f">{html.escape(EVIL)}</text>" in fig  # the legend entry, as text


def test_site_sharpness_table_has_the_pearson_column(evil_page):
    from test_site import Page

    p = Page(evil_page)
    heads = ["method", "checkpoint", "split", "in-domain ↓", "OOD avg ± std across domains ↓",
             "Pearson ρ (ID vs OOD avg)"]
    table = next(t for t in p.tables if [c for c, _ in t["head"][0]][:6] == heads)
    cells = {(r[0][0], r[2][0]): r[5] for r in table["rows"]}
    en = [v[0] for v in ADAM["sharpness"].values()]
    ood = [ood_avg(v) for v in ADAM["sharpness"].values()]
    rho = float(np.corrcoef(en, ood)[0, 1])
    assert cells[("adam", "test")][0] == f"{fmt(rho, 3)}n=4"
    assert float(cells[("adam", "test")][1]["data-v"]) == pytest.approx(rho, rel=1e-12)
    assert cells[(EVIL, "test")][0] == "–n=2" and "data-v" not in cells[(EVIL, "test")][1]
    assert cells[("flat-ood", "test")][0] == "–n=4" and cells[("adam", "val")][0] == "–n=0"
    assert "– when fewer than 3 runs have both or either side is constant" in "".join(p.text)


def test_a_task_with_cka_only_shows_only_the_cka_scatter(tmp_path):
    b = new_store()
    only_cka = {"accuracy": ADAM["accuracy"], "cka": ADAM["cka"]}
    for seed in (0, 1, 2):
        b.add_run("x", "xnli-mini", "adam", seed, metrics(only_cka, seed), hparams={"base": "adam"})
    figs = FIGURE.findall(task_html(b.con, tmp_path / "lb"))
    assert [m for m, _ in figs] == ["cka"] and len(scatter_points(figs[0][1])) == 3


def test_no_analysis_rows_no_scatter(tmp_path):
    b = new_store()
    plain = {"accuracy": ADAM["accuracy"]}
    for seed in (0, 1, 2):
        b.add_run("x", "xnli-mini", "adam", seed, metrics(plain, seed), hparams={"base": "adam"})
        b.add_run("x", "xnli-mini", "sam", seed, metrics(plain, seed), hparams={"base": "adam", "rho": 0.05})
    text = task_html(b.con, tmp_path / "lb")
    assert "Analysis" not in text and "analysis-scatter" not in text
    assert "<svg" in text  # the page still draws its other charts (the leaderboard's headline column)
