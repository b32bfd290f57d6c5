"""The static site, read as HTML (the browser test is test_site_chromium.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from report_fixtures import Metric, build_demo, new_store
from tram_bench.report import build_site
from tram_bench.report.site import task_page_name

EVIL = "<script>alert(1)</script>"


class Page(HTMLParser):
    """Collects tags, attributes, table headers and text of one page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.tables: list[dict] = []
        self._stack: list[dict] = []
        self._cell: list[str] | None = None
        self._row: list[tuple[str, dict]] | None = None
        self._in_head = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag == "table":
            self._stack.append({"cls": a.get("class", ""), "head": [], "rows": []})
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._stack:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
            self._cell_attrs = a

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(("".join(self._cell).strip(), self._cell_attrs))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._stack:
            (self._stack[-1]["head"] if self._in_head else self._stack[-1]["rows"]).append(self._row)
            self._row = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "table" and self._stack:
            self.tables.append(self._stack.pop())

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    results = root / "results"
    b = build_demo(new_store(), suite=EVIL)
    # Two runs have their record.json on disk: those are linked, relative to the site.
    for rid in b.run_ids[:2]:
        (results / "runs" / rid).mkdir(parents=True)
        (results / "runs" / rid / "record.json").write_text(json.dumps({"run_id": rid}))
    index = build_site(b.con, root / "leaderboard", results, family_of=lambda task: "vision")
    return index, b, results


def pages(index: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in index.parent.glob("*.html")}


def test_pages_exist(site):
    index, _, _ = site
    names = set(pages(index))
    assert names == {"index.html", "published.html", "claims.html", task_page_name(EVIL, "digits"),
                     task_page_name(EVIL, "letters")}
    assert index.name == "index.html"


def test_suite_name_is_escaped_text_never_a_tag(site):
    index, _, _ = site
    for name, text in pages(index).items():
        assert EVIL not in text, name
        p = Page(text)
        assert [t for t, _ in p.tags].count("script") == 1, name  # only our inline sorter
        if name != "published.html":
            assert EVIL in "".join(p.text), name  # shown, as text


def test_every_page_is_self_contained_and_script_locked(site):
    index, _, _ = site
    for name, text in pages(index).items():
        p = Page(text)
        assert not [a for _, a in p.tags if "src" in a], name  # no image, script or frame source
        assert not [t for t, _ in p.tags if t in ("link", "img", "iframe", "object", "embed")], name
        csp = next(a["content"] for t, a in p.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
        script = re.search(r"<script>(.*?)</script>", text, re.S).group(1)
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp
        assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", text.replace(
            'href="https://arxiv.org/abs/2310.03646"', "")), name


def test_leaderboard_tables_show_direction_best_cell_and_partial_rows(site):
    index, _, _ = site
    p = Page(pages(index)[task_page_name(EVIL, "digits")])
    boards = [t for t in p.tables if "leaderboard" in t["cls"]]
    assert len(boards) >= 2 and all("sortable" in t["cls"] for t in boards)
    for t in boards:
        heads = [c for c, _ in t["head"][0]]
        assert heads[:2] == ["method", "runs ok"]
        assert all(h.rstrip().endswith(("↑", "↓")) for h in heads[2:]), heads
    first = boards[0]  # accuracy, selected checkpoint
    heads = [c for c, _ in first["head"][0]]
    assert heads[2:] == ["src (in-domain) ↑", "blur ↑", "noise ↑", "rot ↑", "OOD avg ↑"]
    rows = {r[0][0]: r for r in first["rows"]}
    assert rows["tram-x"][1][0] == "4/6 PARTIAL"
    assert rows["sgd"][1][0] == "5/5"
    # tram-x has the best mean in every column: marked, with its sort key = the mean.
    for text, attrs in rows["tram-x"][2:]:
        assert "best" in attrs.get("class", "") and text.startswith("★")
    assert float(rows["tram-x"][2][1]["data-v"]) == pytest.approx(0.93, rel=1e-12)
    assert rows["sgd"][2][0].startswith("0.9040 ± 0.0142")  # mean ± 95% CI (t, n=5)
    assert "PARTIAL grid: 19 of 21 cells ok" in "".join(p.text)


def test_index_lists_suites_with_partial_badge_and_rank(site):
    index, _, _ = site
    p = Page(index.read_text())
    text = "".join(p.text)
    assert f"Suite {EVIL}" in text and "PARTIAL" in text
    links = [a["href"] for t, a in p.tags if t == "a"]
    assert task_page_name(EVIL, "digits") in links and "published.html" in links
    tasks = next(t for t in p.tables if [c for c, _ in t["head"][0]][:4] == ["task", "task id", "primary metric",
                                                                                  "baseline"])
    row = {r[0][0]: [c for c, _ in r] for r in tasks["rows"]}["digits"]
    # The declared baseline, the verdicts of its 3 comparisons and no MDE (5 seeds, m = 3: alpha unreachable).
    assert row[3:6] == ["sgd", "1 equivalent, 2 underpowered", "none: alpha unreachable"]
    rank = next(t for t in p.tables if [c for c, _ in t["head"][0]][:2] == ["method", "rank"])
    _, b, _ = site
    best = b.con.execute("SELECT config FROM rank_intervals WHERE best").fetchall()
    assert [r[0][0].removesuffix(" ★") for r in rank["rows"]][0] == "tram-x"
    if best:  # the index names a best method only when its rank interval is alone at the top
        assert f"Best method: {best[0][0]}" in text
    else:
        assert "No best method" in text and "Best method:" not in text
    assert any(a.get("class") == "iqm" for t, a in p.tags if t == "figure")


def test_task_page_opens_with_the_forest_plot_and_verdicts(site):
    index, _, _ = site
    text = pages(index)[task_page_name(EVIL, "digits")]
    p = Page(text)
    figures = [a.get("class") for t, a in p.tags if t == "figure"]
    assert figures[0] == "forest"
    assert text.index('class="forest"') < text.index('sortable leaderboard')
    sig = next(t for t in p.tables if [c for c, _ in t["head"][0]][:2] == ["method", "paired seeds"])
    verdicts = {r[0][0]: r[-1][0] for r in sig["rows"]}
    assert verdicts == {"sam[rho=0.05]": "underpowered (smallest adjusted p 0.1875)",
                        "sam[rho=0.1]": "equivalent (90% CI within ±1)",
                        "tram-x": "underpowered (smallest adjusted p 0.3750)"}
    assert "significant difference" not in text.lower()


def test_raw_records_are_exported_and_linked(site):
    index, b, _ = site
    data = index.parent / "data"
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM '{data / 'runs.parquet'}'").fetchone()[0] == \
        b.con.execute("SELECT count(*) FROM runs").fetchone()[0]
    assert con.execute(f"SELECT count(*) FROM read_csv_auto('{data / 'metrics.csv'}')").fetchone()[0] == \
        b.con.execute("SELECT count(*) FROM metrics").fetchone()[0]
    links = [a["href"] for t, a in Page(index.read_text()).tags if t == "a"]
    for f in ("runs.parquet", "runs.csv", "metrics.parquet", "metrics.csv", "suite_cells.csv"):
        assert f"data/{f}" in links and (data / f).is_file()


def test_provenance_links_records_relative_to_the_site(site):
    index, b, results = site
    p = Page(pages(index)[task_page_name(EVIL, "digits")])
    hrefs = [a["href"] for t, a in p.tags if t == "a" and a.get("href", "").endswith("record.json")]
    assert sorted(hrefs) == sorted(f"../results/runs/{rid}/record.json" for rid in b.run_ids[:2])
    for href in hrefs:
        assert (index.parent / href).resolve().is_file()
    prov = next(t for t in p.tables if [c for c, _ in t["head"][0]][:4] == ["run", "method", "seed", "status"])
    assert len(prov["rows"]) == 21  # every cell of the grid, failed and missing included
    statuses = sorted(r[3][0] for r in prov["rows"])
    assert statuses.count("failed") == 1 and statuses.count("missing") == 1
    assert {r[4][0] for r in prov["rows"] if r[3][0] == "ok"} == {"abc1234"}


def test_published_tables_beside_a_task_of_the_family_are_labelled(site):
    index, _, _ = site
    text = "".join(Page(pages(index)[task_page_name(EVIL, "digits")]).text)
    assert "Published results (different setup)" in text and "not comparable" in text
    assert "Paper (different setup) — Table 3" in text and "97.07 ± 0.10" in text


def test_published_page_holds_every_table(site):
    index, _, _ = site
    p = Page(pages(index)["published.html"])
    text = "".join(p.text)
    for tid in ("3", "4", "5", "6", "10", "11", "12", "13", "14"):
        assert f"Table {tid} —" in text
    t5 = next(t for t in p.tables
              if [c for c, _ in t["head"][0]][:3] == ["method (paper)", "En (in-domain) ↑", "Ar ↑"]
              and len(t["rows"]) == 11)
    adam = next(r for r in t5["rows"] if r[0][0] == "Adam")
    assert adam[1][0] == "83.9 ± 0.34"  # the mean of Table 5 with its std from Table 13


def test_no_family_no_published_section_and_analysis_when_measured(tmp_path):
    b = new_store()
    for seed in (0, 1):
        b.add_run("x", "xnli-mini", "adam", seed,
                  [Metric("en", 0.8, True), Metric("de", 0.7 + 0.01 * seed, False),
                   Metric("en", 2.0, True, "sharpness", split="val"), Metric("de", 1.5, False, "sharpness", split="val")],
                  hparams={"base": "adam"})
    index = build_site(b.con, tmp_path / "lb", None, family_of=lambda task: None)
    text = "".join(Page((index.parent / task_page_name("x", "xnli-mini")).read_text()).text)
    assert "Published results" not in text
    assert "Analysis: sharpness and representation similarity" in text and "sharpness ↓" in text
    assert "Paper (different setup) — Table 6" in text
    b2 = new_store()
    b2.add_run("x", "t", "adam", 0, [Metric("en", 0.8, True)], hparams={"base": "adam"})
    index = build_site(b2.con, tmp_path / "lb2", None, family_of=lambda task: None)
    assert "Analysis" not in (index.parent / task_page_name("x", "t")).read_text()


def test_rebuild_removes_stale_pages_only(tmp_path):
    out = tmp_path / "lb"
    out.mkdir()
    (out / "README.md").write_text("keep me")
    b = new_store()
    b.add_run("one", "t", "sgd", 0, [Metric("a", 0.5, True)], hparams={"base": "sgd"})
    build_site(b.con, out, None, family_of=lambda task: None)
    assert (out / task_page_name("one", "t")).exists()
    b2 = new_store()
    b2.add_run("two", "t", "sgd", 0, [Metric("a", 0.5, True)], hparams={"base": "sgd"})
    build_site(b2.con, out, None, family_of=lambda task: None)
    assert not (out / task_page_name("one", "t")).exists()
    assert (out / task_page_name("two", "t")).exists() and (out / "README.md").read_text() == "keep me"


def test_build_from_a_database_path(tmp_path):
    db = tmp_path / "s.duckdb"
    build_demo(new_store(db)).con.close()
    index = build_site(db, tmp_path / "lb", tmp_path / "results", family_of=lambda task: None)
    assert index.is_file() and oct(index.stat().st_mode & 0o777) == "0o644"
    with pytest.raises(FileNotFoundError, match="no results database at"):
        build_site(tmp_path / "nope.duckdb", tmp_path / "lb")


def test_a_task_without_successful_runs_and_an_empty_store(tmp_path):
    b = new_store()
    b.add_run("s", "t", "sgd", 0, [], hparams={"base": "sgd"}, status="failed")
    b.plan("s", "t", "sam", 0, {"base": "sgd", "rho": 0.05})
    index = build_site(b.con, tmp_path / "a", None, family_of=lambda task: None)
    text = "".join(Page((index.parent / task_page_name("s", "t")).read_text()).text)
    assert "No successful run has test metrics yet." in text
    assert "PARTIAL grid: 0 of 2 cells ok (1 failed, 0 diverged, 1 missing or pending)" in text
    index = build_site(new_store().con, tmp_path / "b", None, family_of=lambda task: None)
    assert "No results in the database yet." in "".join(Page(index.read_text()).text)
