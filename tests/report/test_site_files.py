"""The site's files: run pages with training curves, every table as CSV and JSON, byte-identical rebuilds,
per-page size budgets, and a bad metrics.jsonl stopping the build before anything is written."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from site_store import TRAM, build_embedded_like
from test_site import Page
from tram_bench.report import build_site
from tram_bench.report.curves import MAX_POINTS, RunDataError, decimate
from tram_bench.report.site import task_page_name

EVIL = "<script>alert(1)</script>"
SMALL = dict(suite=EVIL, seeds=2, methods=("sgd", "sam", "tram-prev"), tasks=("mnist-to-uci", "uci-to-mnist"))


def build(root: Path, store, results: Path) -> Path:
    return build_site(store.con, root / "site", results, family_of=lambda task: "vision")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    results = root / "results"
    store = build_embedded_like(results, steps=450, **SMALL)
    index = build(root / "a", store, results)
    return index, store, results, root


def files(site: Path) -> dict[str, bytes]:
    return {str(p.relative_to(site)): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


def test_rebuild_from_the_same_store_is_byte_identical(small):
    index, store, results, root = small
    other = build(root / "b", store, results)  # same depth, so the relative links to results/ are equal
    first, second = files(index.parent), files(other.parent)
    assert sorted(first) == sorted(second)
    assert [name for name in first if first[name] != second[name]] == []
    assert any(n.startswith("runs/") for n in first) and any(n.startswith("tables/") for n in first)
    build(root / "a", store, results)  # again in place
    assert files(index.parent) == first


def test_run_pages_show_decimated_curves_and_are_linked(small):
    index, store, results, _ = small
    site = index.parent
    task = Page((site / task_page_name(EVIL, "mnist-to-uci")).read_text())
    prov = next(t for t in task.tables if [c for c, _ in t["head"][0]][:4] == ["run", "method", "seed", "status"])
    links = [a["href"] for t, a in task.tags if t == "a" and a.get("href", "").startswith("runs/")]
    assert len(links) == len(prov["rows"]) == 6
    for href in links:
        text = (site / href).read_text()
        page = Page(text)
        body = "".join(page.text)
        assert EVIL in body and EVIL not in text  # the suite name, escaped
        assert "training loss" in body and "accuracy, val split" in body
        tram = re.search(r"<dt>method</dt><dd>([^<]*)</dd>", text).group(1) in TRAM
        assert ("trust-region divergence d and perturbation norm ‖e‖" in body) == tram
        assert "<script" not in text  # a run page needs no script; its CSP allows none
        # 450 logged steps, at most MAX_POINTS drawn per line: count the distinct vertices of each path
        # (matplotlib repeats a line's last vertex).
        paths = re.findall(r'<path d="(M [^"]*)"', text)
        longest = max(len(set(re.findall(r"[ML] ([-\d.]+ [-\d.]+)", d))) for d in paths)
        assert 100 < longest <= MAX_POINTS
        record = next(a["href"] for t, a in page.tags if t == "a" and a.get("href", "").endswith("record.json"))
        assert (site / "runs" / record).resolve().is_file()


def test_decimate_keeps_ends_and_spikes_and_is_deterministic():
    steps = list(range(1, 1001))
    values = [1.0] * 1000
    values[500] = 9.0  # a spike
    values[700] = float("nan")
    xs, ys = decimate(steps, values, 100)
    assert len(xs) <= 100 and xs[0] == 1 and xs[-1] == 1000 and xs == sorted(xs)
    assert 9.0 in ys and (xs, ys) == decimate(steps, values, 100)
    assert decimate([1, 2], [3.0, 4.0]) == ([1, 2], [3.0, 4.0])
    with pytest.raises(ValueError, match="2 steps but 1 values"):
        decimate([1, 2], [1.0])


def test_every_table_is_downloadable_as_csv_and_json(small):
    index, _, _, _ = small
    site = index.parent
    for name in ["index.html", task_page_name(EVIL, "mnist-to-uci")]:
        page = Page((site / name).read_text())
        hrefs = sorted({a["href"] for t, a in page.tags if t == "a" and a.get("href", "").startswith("tables/")})
        bases = sorted({h.rsplit(".", 1)[0] for h in hrefs})
        assert hrefs == sorted(f"{b}.{ext}" for b in bases for ext in ("csv", "json")), name
        for base in bases:
            rows = list(csv.reader(io.StringIO((site / f"{base}.csv").read_text())))
            data = json.loads((site / f"{base}.json").read_text())
            assert rows[0] == data["columns"] and len(rows) - 1 == len(data["rows"]) > 0, base
    task = Page((site / task_page_name(EVIL, "mnist-to-uci")).read_text())
    captions = [a for t, a in task.tags if t == "a" and a.get("href", "").endswith(".csv")]
    assert len(captions) >= 8  # leaderboards, other metrics, significance, severity, cost, runs ...
    # The leaderboard's CSV holds the means the HTML table sorts by.
    board = next(t for t in task.tables if "leaderboard" in t["cls"])
    shown = {(r[0][0], float(r[2][1]["data-v"])) for r in board["rows"]}
    base = next(a["href"] for t, a in task.tags if t == "a" and "accuracy-selected-test" in a.get("href", "")
                and a["href"].endswith(".json"))
    data = json.loads((site / base).read_text())
    col = {c: i for i, c in enumerate(data["columns"])}
    rows = [r for r in data["rows"] if r[col["column"]] == "clean"]
    assert {(r[col["config"]], r[col["mean"]]) for r in rows} == shown


def test_index_rows_carry_method_kind_and_task_family(small):
    index, _, _, _ = small
    page = Page(index.read_text())
    selects = {a["data-filter"] for t, a in page.tags if t == "select"}
    assert selects == {"kind", "family"}
    options = [a.get("value") for t, a in page.tags if t == "option"]
    assert {"", "plain", "SAM family", "TRAM", "vision"} <= set(options)
    kinds = {a["data-kind"] for t, a in page.tags if t == "tr" and "data-kind" in a}
    assert kinds == {"plain", "SAM family", "TRAM"}
    assert {a["data-family"] for t, a in page.tags if t == "tr" and "data-family" in a} == {"vision"}


def test_a_bad_metrics_log_stops_the_build_before_writing(tmp_path):
    results = tmp_path / "results"
    store = build_embedded_like(results, steps=30, seeds=1, methods=("sgd",), tasks=("t",))
    log = next((results / "runs").iterdir()) / "metrics.jsonl"
    log.write_text(log.read_text() + "{not json\n")
    with pytest.raises(RunDataError) as exc:
        build_site(store.con, tmp_path / "site", results, family_of=lambda task: None)
    assert str(exc.value).startswith(f"{log}:") and "\n" not in str(exc.value)
    assert not (tmp_path / "site").exists() or not any((tmp_path / "site").iterdir())


def test_leaderboard_cli_reports_a_bad_log_in_one_line(tmp_path, capsys):
    from tram_bench.cli import main

    results = tmp_path / "results"
    store = build_embedded_like(results, steps=30, seeds=1, methods=("sgd",), tasks=("t",))
    store.con.execute(f"ATTACH '{results / 'tram-bench.duckdb'}' AS f")
    store.con.execute("COPY FROM DATABASE memory TO f")
    store.con.execute("DETACH f")
    log = next((results / "runs").iterdir()) / "metrics.jsonl"
    log.write_text("[1, 2]\n")
    assert main(["leaderboard", "--results", str(results), "--out", str(tmp_path / "site")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{log}:1: not a JSON object" in err[0]
    assert not (tmp_path / "site").exists() or not any((tmp_path / "site").iterdir())


# Per-page budgets for the embedded suites' size (vision: 3 tasks x 11 methods; 165 runs in all with the
# cross-lingual and LM suites), each run logging 200 steps as the vision suite does.
BUDGET_TASK_PAGE = 300_000
BUDGET_RUN_PAGE = 32_000
BUDGET_OTHER_PAGE = 150_000
BUDGET_ALL_PAGES = 5_000_000


@pytest.mark.slow  # 165 run pages: about a minute on two busy cores
def test_page_sizes_stay_within_budget(tmp_path):
    results = tmp_path / "results"
    store = build_embedded_like(results, steps=200, seeds=5)
    index = build_site(store.con, tmp_path / "site", results, family_of=lambda task: "vision")
    site = index.parent
    sizes = {str(p.relative_to(site)): p.stat().st_size for p in site.rglob("*.html")}
    runs = {k: v for k, v in sizes.items() if k.startswith("runs/")}
    tasks = {k: v for k, v in sizes.items() if k.startswith("task-")}
    other = {k: v for k, v in sizes.items() if k not in runs and k not in tasks}
    assert len(runs) == 165 and len(tasks) == 3
    assert max(tasks.values()) <= BUDGET_TASK_PAGE, tasks
    assert max(runs.values()) <= BUDGET_RUN_PAGE, max(runs.values())
    assert max(other.values()) <= BUDGET_OTHER_PAGE, other
    assert sum(sizes.values()) <= BUDGET_ALL_PAGES, sum(sizes.values())
