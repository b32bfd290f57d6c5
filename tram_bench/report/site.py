"""``tram-bench leaderboard``: a static site that works from ``file://`` (no server, no network).

Layout of ``out_dir``::

    index.html                 suites, completeness, aggregate rank, links to task pages
    published.html             every published table of the paper, with citation
    task-<suite>--<task>.html  one page per task of a suite
    data/runs.{parquet,csv}, data/metrics.{parquet,csv}, data/suite_cells.{parquet,csv}
    claims.html                the paper's headline claims tested on these results (tram_bench/report/claims/)
    runs/<run id>.html         one page per run found in the results directory: training curves (run_page.py)
    tables/<page>--<table>.{csv,json}  every aggregated table of a page, for download (downloads.py)
    .tram-bench-site           the files written last time (stale pages of removed tasks are deleted)
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import re
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from tram_bench.report.claims.render import PAGE as CLAIMS_PAGE
from tram_bench.report.claims.render import ledger_page
from tram_bench.report.charts import (
    ForestRow,
    IntervalRow,
    Point,
    cd_diagram,
    forest_plot,
    interval_chart,
    scatter,
)
from tram_bench.report.curves import RunCurves, read_curves
from tram_bench.report.downloads import TABLES_DIR, PageTables, TableFile, rows_of, write_tables
from tram_bench.report.formatting import fmt, fmt_interval, fmt_p, fmt_pm, fmt_ratio, fmt_signed
from tram_bench.report.htmlkit import Cell, HtmlTable, download_links, h, page, text_cell
from tram_bench.report.kinds import KINDS, config_method, kind_of, task_families
from tram_bench.report.run_page import RUNS_DIR, run_page, run_page_name
from tram_bench.report.model import (
    ID_AVG,
    OOD_AVG,
    MetricTable,
    PublishedTableView,
    StaleRun,
    SuiteReport,
    TaskReport,
    arrow,
    direction_words,
    load_report,
    published_tables,
)
from tram_bench.report.terminal import ensure_views
from tram_bench.report.views import ANALYSIS_METRICS
from tram_bench.report.wording import design_sentence, group_label, unit_words, verdict_text
from tram_bench.util.files import atomic_write_text

MANIFEST = ".tram-bench-site"
DATA_DIR = "data"
RAW_TABLES = ("runs", "metrics", "suite_cells")
PM_WORDS = {"ci95": "± 95% CI", "std": "± std over seeds", "std_across_domains": "± std across domains",
            "unspecified": "± (meaning not stated)", "none": ""}


def slug(text: str) -> str:
    """A file-name-safe, collision-free form of any string."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:48] or "x"
    return f"{base}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"


def task_page_name(suite: str, task_label: str) -> str:
    return f"task-{slug(suite)}--{slug(task_label)}.html"


def _sql_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def export_raw(con, out_dir: Path) -> list[Path]:
    """Parquet and CSV copies of the store's tables beside the pages (DuckDB COPY, no other writer)."""
    d = out_dir / DATA_DIR
    d.mkdir(parents=True, exist_ok=True)
    written = []
    for table in RAW_TABLES:
        for ext, opts in (("parquet", "FORMAT PARQUET"), ("csv", "FORMAT CSV, HEADER")):
            target = d / f"{table}.{ext}"
            tmp = d / f".{table}.{ext}.tmp"
            con.execute(f"COPY (SELECT * FROM {table}) TO {_sql_string(str(tmp))} ({opts})")
            os.replace(tmp, target)
            written.append(target)
    return written


def _href(path: str) -> str:
    return h(quote(path))


def _stat_cell(t: MetricTable, key: str, config: str) -> Cell:
    row = next(r for r in t.rows if r.config == config)
    s = row.cells.get(key)
    if s is None or s.mean is None:
        return Cell("–", sort=None)
    best = config in t.best.get(key, set())
    mark = '<span aria-label="best in column">★ </span>' if best else ""
    text = f"{mark}{h(fmt_pm(s.mean, s.ci95))}<span class=\"n\">n={s.n}</span>"
    tip = f"mean {fmt(s.mean)}, std {fmt(s.std)}, 95% CI ±{fmt(s.ci95)}, n={s.n} seeds"
    return Cell(text, sort=s.mean, cls="best" if best else "", title=tip)


def headline_key(t: MetricTable) -> str:
    """The column a table is summarised by: the OOD average, else the only OOD domain, else the ID average."""
    if any(c.key == OOD_AVG for c in t.columns):
        return OOD_AVG
    return next((c.key for c in t.columns if c.in_domain is False), None) or ID_AVG


def headline_chart(t: MetricTable) -> str:
    """Each method's mean and 95% CI (t, over seeds) in the table's headline column, one row per method in
    the table's order; empty when no method has a mean there."""
    key = headline_key(t)
    rows = []
    for r in t.rows:
        s = r.cells.get(key)
        if s is None or s.mean is None:
            continue
        ci = s.ci95 if s.ci95 is not None else float("nan")
        best = "★ best, " if r.config in t.best.get(key, set()) else ""
        rows.append(IntervalRow(r.config + (" (partial)" if r.partial else ""), s.mean, s.mean - ci, s.mean + ci,
                                f"{best}n={s.n}"))
    if not rows:
        return ""
    svg = interval_chart(rows, unit=f"{t.metric} {t.arrow} ({direction_words(t.higher_is_better)})",
                         title=f"{key}: {t.metric}, {t.checkpoint} checkpoint, {t.split} split", reference=None)
    caption = f"Mean ± 95% CI (t) over seeds of the {key} column above; ★ = best mean."
    return f'<figure class="headline">{svg}<figcaption>{h(caption)}</figcaption></figure>'


def metric_rows(t: MetricTable, name: str) -> TableFile:
    """A metric table in long form for download: one row per (configuration, column)."""
    rows = []
    for r in t.rows:
        for c in t.columns:
            st = r.cells.get(c.key)
            rows.append({"config": r.config, "method": r.method, "hparams": r.hparams, "checkpoint": t.checkpoint,
                         "split": t.split, "metric": t.metric, "higher_is_better": t.higher_is_better,
                         "column": c.key, "in_domain": c.in_domain, "mean": None if st is None else st.mean,
                         "std": None if st is None else st.std, "ci95": None if st is None else st.ci95,
                         "n": None if st is None else st.n, "best": r.config in t.best.get(c.key, set()),
                         "runs_ok": r.n_ok, "cells": r.n_cells, "partial": r.partial})
    return rows_of(name, rows)


def _table_name(t: MetricTable) -> str:
    return f"{t.metric}-{t.checkpoint}-{t.split}"


def metric_table_html(t: MetricTable, kinds: dict[str, str], dl: PageTables | None = None, chart: bool = True) -> str:
    """The table of one metric, checkpoint and split; ``kinds``: method id -> kind (rows carry it for the
    filters); ``chart``: the headline interval chart under it; ``dl``: where its CSV/JSON go (none without)."""
    headers = [(h("method"), True), (h("runs ok"), False)]
    for c in t.columns:
        tag = " (in-domain)" if c.in_domain else ""
        headers.append((f'{h(c.key + tag)} <span class="dir" title="{h(direction_words(t.higher_is_better))}">'
                        f"{h(t.arrow)}</span>", False))
    table = HtmlTable(
        headers=headers,
        cls="leaderboard",
        caption=h(f"{t.metric} {t.arrow} ({direction_words(t.higher_is_better)}) — {t.checkpoint} checkpoint, "
                  f"{t.split} split; mean ± 95% CI (t) over seeds (charted below for {headline_key(t)}), "
                  "★ = best mean in the column. Click a header to sort."),
        download=None if dl is None else dl.add(metric_rows(t, slug(_table_name(t)))),
    )
    for r in t.rows:
        status = f"{r.n_ok}/{r.n_cells}" + (" PARTIAL" if r.partial else "")
        cells = [text_cell(r.config), Cell(h(status), sort=r.n_ok, cls="partial" if r.partial else "")]
        cells += [_stat_cell(t, c.key, r.config) for c in t.columns]
        table.add(cells, "partial" if r.partial else "", {"kind": kind_of(kinds, r.method)})
    return table.render() + (headline_chart(t) if chart else "")


def _banner(partial: bool, summary: str) -> str:
    return f'<div class="banner {"partial" if partial else "complete"}" role="status">{h(summary)}</div>'


def _published_html(v: PublishedTableView, label: str = "") -> str:
    headers = [(h("method (paper)"), True)]
    for _, lab, in_domain in v.columns:
        arrow_html = f' <span class="dir">{h(v.arrow)}</span>' if v.arrow else ""
        headers.append((h(lab + (" (in-domain)" if in_domain else "")) + arrow_html, False))
    pm_kinds = sorted({c.pm_kind for _, _, cells in v.rows for c in cells.values() if c.pm_text})
    pm_text = "; ".join(PM_WORDS[k] for k in pm_kinds if PM_WORDS.get(k))
    what = (f"{v.metric} {v.arrow} ({direction_words(v.higher_is_better)})" if v.statistic == "mean"
            else f"standard deviation over seeds of {v.metric} (a spread, no direction)")
    caption = (f"{label}Table {v.table_id}: {v.title} — {v.model}, {v.split}, {what}, {v.seeds} seed(s)"
               f"{'; ' + pm_text if pm_text else ''}.")
    table = HtmlTable(headers=headers, caption=h(caption))
    for method, method_label, cells in v.rows:
        row = [text_cell(f"{method_label}", sort=method_label)]
        for dom, _, _ in v.columns:
            c = cells.get(dom)
            if c is None:
                row.append(Cell("–"))
                continue
            txt = c.value_text + (f" ± {c.pm_text}" if c.pm_text else "")
            row.append(Cell(h(txt), sort=float(c.value_text)))
        table.add(row)
    return f'<p class="note">{h(v.caption)}</p>' + table.render()


def _severity_section(t: TaskReport, dl: PageTables | None = None) -> str:
    metric = t.primary_metric
    sev = [s for s in t.severity if s.checkpoint == "selected" and s.metric == metric]
    if not sev:
        return ('<h2>Shift severity and gain</h2><p class="note">No severity: the task needs a declared baseline '
                "with successful runs and at least one out-of-domain domain.</p>")
    hib = sev[0].higher_is_better
    kind = ("relative drop from the in-domain value, (ID − domain) / ID" if hib
            else "log ratio to the in-domain value, ln(domain / ID)")
    gain_kind = "difference to the baseline (method − baseline)" if hib else "ln(baseline / method)"
    note = (f"Severity of each out-of-domain domain for the declared baseline {sev[0].baseline} (selected checkpoint, "
            f"{metric}): {kind}, per seed then averaged; rank 1 = hardest shift. Gain of a method = {gain_kind}, "
            "paired by seed; positive = better.")
    out = ["<h2>Shift severity and gain over the baseline</h2>", f'<p class="note">{h(note)}</p>']
    table = HtmlTable(headers=[(h("rank"), False), (h("domain"), True), (h("severity ± std"), False), (h("n"), False)],
                      download=None if dl is None else dl.add(rows_of("severity", t.severity)))
    for s in sev:
        table.add([Cell(str(s.rank), sort=s.rank), text_cell(s.domain),
                   Cell(h(fmt_pm(s.severity.mean, s.severity.std)), sort=s.severity.mean), Cell(str(s.severity.n),
                                                                                               sort=s.severity.n)])
    out.append(table.render())
    points = [Point(g.config, g.domain, g.severity, g.gain.mean) for g in t.gains
              if g.checkpoint == "selected" and g.metric == metric and g.severity is not None and g.gain.mean is not None]
    if points and dl is not None:
        out.append(f'<p class="caption">Gain of each method over the baseline per domain (the chart below): '
                   f'{download_links(dl.add(rows_of("gains", t.gains)))}</p>')
    if points:
        out.append("<figure>" + scatter(points, x_label=f"shift severity (baseline {sev[0].baseline})",
                                        y_label="gain over baseline", title=f"gain vs severity, {metric}",
                                        x_name="severity", y_name="gain")
                   + f"<figcaption>{h('One point per method and out-of-domain domain; hover for values.')}"
                     "</figcaption></figure>")
    cor = [c for c in t.correlations if c.checkpoint == "selected" and c.metric == metric]
    if cor:
        table = HtmlTable(headers=[(h("method"), True), (h("OOD domains"), False), (h("Pearson r"), False),
                                   (h("Spearman ρ"), False)],
                          caption=h("Correlation of gain with severity across OOD domains (needs ≥ 3 domains); "
                                    "positive = the method helps more on harder shifts."),
                          download=None if dl is None else dl.add(rows_of("correlations", t.correlations)))
        for c in cor:
            table.add([text_cell(c.config), Cell(str(c.n_domains), sort=c.n_domains),
                       Cell(h(fmt(c.pearson, 3)), sort=c.pearson), Cell(h(fmt(c.spearman, 3)), sort=c.spearman)])
        out.append(table.render())
    return "".join(out)


def _forest(t: TaskReport) -> str:
    """The task's decision at a glance: each method's paired difference to the baseline with its CI."""
    d = t.design
    rows = [ForestRow(s.config, s.mean_diff, s.ci_low if s.ci_low is not None else float("nan"),
                      s.ci_high if s.ci_high is not None else float("nan"), s.verdict or "not tested", s.n_pairs)
            for s in t.primary() if s.mean_diff is not None]
    if d is None or d.reference is None or not rows:
        return ""
    svg = forest_plot(rows, unit=unit_words(d.units), delta=d.delta,
                      title=f"{t.task_label}: difference to the baseline {d.reference}")
    caption = (f"Mean paired difference to the declared baseline {d.reference} (> 0 = better) with its 95% t "
               f"interval, primary endpoint; shaded band = the equivalence margin ±{fmt(d.delta)} "
               f"{unit_words(d.units)}; the verdict of each method at the right.")
    return f'<figure class="forest">{svg}<figcaption>{h(caption)}</figcaption></figure>'


def _significance_section(t: TaskReport, dl: PageTables | None = None) -> str:
    out = ["<h2>Significance against the baseline</h2>"]
    for e in t.errors:
        out.append(f'<p class="banner partial" role="alert">{h("error: " + e)}</p>')
    d = t.design
    if d is None:
        return "".join(out) if t.errors else ""
    if d.reference is None:
        out.append(f'<p class="note">{h(d.note or "")}</p>')
        return "".join(out)
    out.append(f'<p class="note">{h(design_sentence(t))}</p>')
    primary = t.primary()
    if primary:
        table = HtmlTable(
            headers=[(h(x), x in ("method", "verdict")) for x in (
                "method", "paired seeds", "mean Δ [95% CI]", "bootstrap 95% CI", "Wilcoxon p", "Holm p",
                "paired t-test p", "MDE", "verdict")],
            caption=h(f"Primary endpoint against {d.reference}; Δ in {unit_words(d.units)}, > 0 = better. The verdict "
                      "follows the exact Wilcoxon signed-rank test, Holm-adjusted over the family; the t-test is "
                      "shown beside it. Bootstrap interval from 10 paired seeds."),
            download=None if dl is None else dl.add(rows_of("significance", t.significance)))
        for s in primary:
            boot = "–" if s.boot_low is None else f"[{fmt(s.boot_low)}, {fmt(s.boot_high)}]"
            table.add([text_cell(s.config), Cell(str(s.n_pairs), sort=s.n_pairs),
                       Cell(h(fmt_interval(s.mean_diff, s.ci_low, s.ci_high)), sort=s.mean_diff), text_cell(boot),
                       Cell(h(fmt_p(s.wilcoxon_p)), sort=s.wilcoxon_p), Cell(h(fmt_p(s.p_adjusted)), sort=s.p_adjusted),
                       Cell(h(fmt_p(s.ttest_p)), sort=s.ttest_p), Cell(h(fmt(s.mde)), sort=s.mde),
                       Cell(h(verdict_text(s)), sort=s.verdict or "", cls=f"l verdict {h(s.verdict or '')}")])
        out.append(table.render())
    desc = [s for s in t.significance if s.group != "primary"]
    if desc:
        table = HtmlTable(
            headers=[(h(x), x in ("method", "group")) for x in ("method", "group", "paired seeds", "mean Δ [95% CI]")],
            caption=h("Descriptive differences to the baseline: shown, not adjusted, no verdict. The worst OOD "
                      "domain is the baseline's worst domain, fixed per task."))
        for s in desc:
            table.add([text_cell(s.config), text_cell(group_label(s)), Cell(str(s.n_pairs), sort=s.n_pairs),
                       Cell(h(fmt_interval(s.mean_diff, s.ci_low, s.ci_high)), sort=s.mean_diff)])
        out.append(table.render())
    return "".join(out)


def _stale_table(stale: list[StaleRun], caption: str) -> str:
    table = HtmlTable(headers=[(h(x), x != "seed") for x in ("run", "task", "method", "hyperparameters", "seed",
                                                             "status")], caption=h(caption))
    for r in stale:
        table.add([text_cell(r.run_id), text_cell(r.task_label), text_cell(r.method), text_cell(r.hparams),
                   Cell(str(r.seed), sort=r.seed), text_cell(r.status)])
    return f'<details class="stale"><summary>{h(f"Stale runs ({len(stale)})")}</summary>{table.render()}</details>'


def _stale_section(t: TaskReport) -> str:
    if not t.stale:
        return ""
    return "<h2>Stale runs</h2>" + _stale_table(
        t.stale, f"{len(t.stale)} stale run(s): runs of this suite that its current plan no longer lists (the "
        "suite was edited after they ran). Excluded from every statistic.")


def _published_section(t: TaskReport, dl: PageTables | None = None) -> str:
    if t.comparison:
        table = HtmlTable(headers=[(h(x), x in ("method", "domain", "paper cell", "reproduced")) for x in (
            "method", "domain", "paper cell", "published", "ours (± 95% CI)", "n", "Δ (ours − paper)", "tolerance",
            "reproduced")],
            caption=h("Our runs of a published setup against the paper (ours scaled to the paper's unit)."),
            download=None if dl is None else dl.add(rows_of("published-vs-reproduced", t.comparison)))
        for c in t.comparison:
            ok = "yes" if c.within_tolerance else "no"
            table.add([
                text_cell(c.config + (" (partial)" if c.partial else "")), text_cell(c.domain),
                text_cell(f"Table {c.table_id}: {c.method_label}, {c.paper_domain}"),
                Cell(h(fmt_pm(c.published, c.published_pm)), sort=c.published),
                Cell(h(fmt_pm(c.ours, c.ours_ci95)), sort=c.ours), Cell(str(c.n), sort=c.n),
                Cell(h(fmt_signed(c.delta)), sort=c.delta), Cell(h(f"±{fmt(c.tolerance)}"), sort=c.tolerance),
                Cell(h(ok), sort=ok, cls="l best" if c.within_tolerance else "l"),
            ])
        return "<h2>Published vs reproduced</h2>" + table.render()
    if t.published_beside:
        parts = ["<h2>Published results (different setup)</h2>",
                 '<p class="note"><span class="badge setup">different setup</span> '
                 + h(f"This task ({t.task}, family {t.family}) does not reproduce a published setup; the paper's "
                     "tables for the same family of shift are shown beside ours for orientation only. The numbers "
                     "are not comparable.") + "</p>"]
        for v in t.published_beside:
            parts.append(_published_html(v, label="Paper (different setup) — "))
        return "".join(parts)
    return ""


def _cost_section(t: TaskReport, dl: PageTables | None = None) -> str:
    if not t.cost:
        return ""
    table = HtmlTable(
        headers=[(h(x), x == "method") for x in ("method", "runs", "steps", "forward", "backward", "step time (s)",
                                                 "wall time (s)", "peak memory (MB)", "backward ×", "step time ×",
                                                 "wall time ×", "memory ×", "relative to")],
        caption=h("Mean over successful runs; × = ratio to the task's declared baseline. "
                  "Timings depend on the machine and its load."),
        download=None if dl is None else dl.add(rows_of("cost", t.cost)),
    )
    for c in t.cost:
        table.add([text_cell(c.config), Cell(str(c.n), sort=c.n), Cell(h(fmt(c.steps)), sort=c.steps),
                   Cell(h(fmt(c.forward)), sort=c.forward), Cell(h(fmt(c.backward)), sort=c.backward),
                   Cell(h(fmt(c.step_time_s)), sort=c.step_time_s), Cell(h(fmt(c.wall_time_s)), sort=c.wall_time_s),
                   Cell(h(fmt(c.peak_memory_mb)), sort=c.peak_memory_mb),
                   Cell(h(fmt_ratio(c.backward_ratio)), sort=c.backward_ratio),
                   Cell(h(fmt_ratio(c.step_time_ratio)), sort=c.step_time_ratio),
                   Cell(h(fmt_ratio(c.wall_time_ratio)), sort=c.wall_time_ratio),
                   Cell(h(fmt_ratio(c.peak_memory_ratio)), sort=c.peak_memory_ratio),
                   text_cell(c.reference or "–")])
    out = "<h2>Cost</h2>" + table.render()
    if t.equal_compute:
        eq = HtmlTable(
            headers=[(h(x), x in ("method", "base run group")) for x in (
                "method", "backward passes", "score", "base run group", "base backward", "base score", "advantage")],
            caption=h("Equal compute: the declared baseline run with the same number of backward passes "
                      "(within 1%) in this suite; score = selected-checkpoint OOD average (ID if no OOD); "
                      "advantage > 0 means the method is better at equal compute."),
            download=None if dl is None else dl.add(rows_of("equal-compute", t.equal_compute)))
        for e in t.equal_compute:
            eq.add([text_cell(e.config), Cell(h(fmt(e.backward)), sort=e.backward), Cell(h(fmt(e.score)), sort=e.score),
                    text_cell(f"{e.base_task_label}: {e.base_config}"), Cell(h(fmt(e.base_backward)), sort=e.base_backward),
                    Cell(h(fmt(e.base_score)), sort=e.base_score), Cell(h(fmt_signed(e.advantage)), sort=e.advantage)])
        out += "<h3>Accuracy at equal compute</h3>" + eq.render()
    return out


def _analysis_scatter(t: TaskReport, metric: str) -> str:
    """Per run: its OOD average of ``metric`` (x) against its OOD average of the primary metric (y)."""
    pts = [p for p in t.analysis_points if p.checkpoint == "selected" and p.metric == metric]
    if not pts:
        return ""
    p0 = pts[0]
    x_arrow, y_arrow = arrow(p0.higher_is_better), arrow(p0.primary_higher_is_better)
    svg = scatter(
        [Point(p.config, f"seed {p.seed}", p.value, p.primary_value) for p in pts],
        x_label=f"OOD-average {metric} {x_arrow} ({direction_words(p0.higher_is_better)})",
        y_label=f"OOD-average {p0.primary_metric} {y_arrow}",
        title=f"{p0.primary_metric} vs {metric}, one point per run",
        zero_line=False, x_name=f"OOD-avg {metric}", y_name=f"OOD-avg {p0.primary_metric}")
    caption = (f"One point per successful run (selected checkpoint, test split): x = the run's mean of {metric} "
               f"over its OOD domains, y = the run's mean of {p0.primary_metric} over the same task's OOD domains; "
               "one colour per method. Hover a point for its values.")
    return (f'<figure class="analysis-scatter" data-metric="{h(metric)}">{svg}'
            f"<figcaption>{h(caption)}</figcaption></figure>")


def _analysis_section(t: TaskReport, con, dl: PageTables | None = None) -> str:
    if not t.analysis:
        return ""
    out = ["<h2>Analysis: sharpness and representation similarity</h2>"]
    for metric in sorted({a.metric for a in t.analysis}):
        rows = [a for a in t.analysis if a.metric == metric]
        hib = rows[0].higher_is_better
        table = HtmlTable(
            headers=[(h("method"), True), (h("checkpoint"), True), (h("split"), True),
                     (f"{h('in-domain')} <span class=\"dir\">{h(arrow(hib))}</span>", False),
                     (f"{h('OOD avg ± std across domains')} <span class=\"dir\">{h(arrow(hib))}</span>", False),
                     (h("Pearson ρ (ID vs OOD avg)"), False), (h("seeds (min)"), False)],
            caption=h(f"{metric} {arrow(hib)} ({direction_words(hib)}): per-domain means over seeds, then the OOD "
                      "average ± standard deviation across OOD domains (as in the paper's Table 6). Pearson ρ = "
                      "correlation across runs (seeds) of a run's in-domain value with its OOD average (the "
                      "paper's \"Pearson ρ (En vs ZS)\"), n = runs with both; – when fewer than 3 runs have both "
                      "or either side is constant."),
            download=None if dl is None else dl.add(rows_of(f"analysis-{slug(metric)}", rows)))
        for a in rows:
            rho = "–" if a.id_ood_pearson is None else fmt(a.id_ood_pearson, 3)
            table.add([text_cell(a.config + (" (partial)" if a.partial else "")), text_cell(a.checkpoint),
                       text_cell(a.split), Cell(h(fmt(a.id_mean)), sort=a.id_mean),
                       Cell(h(fmt_pm(a.ood_mean, a.ood_std_across_domains)), sort=a.ood_mean),
                       Cell(f'{h(rho)}<span class="n">n={a.n_runs_paired}</span>', sort=a.id_ood_pearson),
                       Cell(str(a.n_min), sort=a.n_min)])
        out.append(f"<h3>{h(metric)}</h3>" + table.render())
    # Sharpness then CKA, the order of the paper's Table 6 (a) and (b).
    for metric in ANALYSIS_METRICS:
        out.append(_analysis_scatter(t, metric))
    for v in published_tables(con, ["6"]):
        out.append(_published_html(v, label="Paper (different setup) — "))
    return "".join(out)


def _runs_section(t: TaskReport, out_dir: Path, results_dir: Path | None, run_pages: dict[str, str] | None = None,
                  dl: PageTables | None = None) -> str:
    """The provenance table; ``run_pages``: run id -> its page (relative to the site root), linked from
    the run id."""
    run_pages = run_pages or {}
    table = HtmlTable(
        headers=[(h(x), x not in ("seed", "wall time (s)", "asset time (s)")) for x in (
            "run", "method", "seed", "status", "git commit", "device", "torch", "precision", "wall time (s)",
            "finished", "asset time (s)", "analysis error", "record")],
        caption=h("Every cell of this task's grid with its provenance; a run id links to the run's page "
                  "(training curves) and the last column to its record.json when the results directory is "
                  "known. Asset time: building or waiting for a shared pretrained asset, kept out of the "
                  "run's cost."),
        download=None if dl is None else dl.add(rows_of("runs", t.runs)),
    )
    for r in t.runs:
        link = h(r.run_id)
        if r.run_id in run_pages:
            link = f'<a href="{_href(run_pages[r.run_id])}">{h(r.run_id)}</a>'
        record_link = "–"
        if results_dir is not None:
            record = results_dir / "runs" / r.run_id / "record.json"
            if record.exists():
                record_link = f'<a href="{_href(os.path.relpath(record, out_dir))}">record.json</a>'
        status = r.status + ("" if r.planned else " (not in plan)")
        device = " ".join(x for x in (r.device, r.device_name) if x)
        table.add([Cell(link, sort=r.run_id, cls="l"), text_cell(r.config), Cell(str(r.seed), sort=r.seed),
                   Cell(h(status), sort=status, cls="l" + (" partial" if r.status != "ok" else ""),
                        title=r.error or None),
                   text_cell(r.git_commit or "–"), text_cell(device or "–"), text_cell(r.torch_version or "–"),
                   text_cell(r.precision or "–"), Cell(h(fmt(r.wall_time_s)), sort=r.wall_time_s),
                   text_cell(r.finished_at or "–"),
                   Cell(h(fmt(r.asset_time_s)), sort=r.asset_time_s),
                   text_cell(r.analysis_error or "–"), Cell(record_link, cls="l")],
                  data={"kind": kind_of(t.kinds, config_method(r.config))})
    return "<h2>Runs and provenance</h2>" + table.render()


def _raw_links(prefix: str = "") -> str:
    links = " · ".join(
        f'<a href="{_href(f"{prefix}{DATA_DIR}/{t}.{ext}")}">{h(f"{t}.{ext}")}</a>'
        for t in RAW_TABLES for ext in ("parquet", "csv")
    )
    return f'<p class="note">Raw records: {links}</p>'


def task_page(t: TaskReport, con, out_dir: Path, results_dir: Path | None, generated: str,
              dl: PageTables | None = None, run_pages: dict[str, str] | None = None) -> str:
    """A task's page: forest plot, the primary metric's tables (selected and final checkpoint), the tests,
    severity, published numbers, cost, analyses, runs. ``dl`` collects the page's downloadable tables
    (the other metrics and splits are downloads only, to keep the page small); ``run_pages`` as in
    ``_runs_section``."""
    body = [f"<h1>{h(t.task_label)} <span class=\"muted\">— suite {h(t.suite)}</span></h1>",
            f'<p class="note">task id <code>{h(t.task)}</code>; primary metric '
            f"{h(t.primary_metric or '–')}</p>",
            _banner(t.completeness.partial, t.completeness.summary()), _forest(t)]
    primary = [m for m in t.tables if m.metric == t.primary_metric and m.split == "test"]
    others = [m for m in t.tables if m not in primary]
    body.append("<h2>Leaderboard</h2>")
    if not primary:
        body.append('<p class="note">No successful run has test metrics yet.</p>')
    for m in primary:
        # The headline chart for the selected checkpoint only: the final one's differs by little and costs
        # as many bytes.
        body.append(f"<h3>{h(m.checkpoint)} checkpoint</h3>" + metric_table_html(m, t.kinds, dl, chart=m is primary[0]))
    if others:
        if dl is None:
            body.append("<details><summary>Other metrics and splits</summary>")
            for m in others:
                body.append(f"<h3>{h(f'{m.metric}, {m.checkpoint} checkpoint, {m.split} split')}</h3>"
                            + metric_table_html(m, t.kinds, chart=False))
            body.append("</details>")
        else:
            items = "".join(f"<li>{h(f'{m.metric}, {m.checkpoint} checkpoint, {m.split} split')}: "
                            f"{download_links(dl.add(metric_rows(m, slug(_table_name(m)))))}</li>" for m in others)
            body.append('<h3>Other metrics and splits</h3><p class="note">Mean, std, 95% CI and n per method and '
                        f"domain, as in the tables above, for download:</p><ul>{items}</ul>")
    body.append(_significance_section(t, dl))
    body.append(_stale_section(t))
    body.append(_severity_section(t, dl))
    body.append(_published_section(t, dl))
    body.append(_cost_section(t, dl))
    body.append(_analysis_section(t, con, dl))
    body.append(_runs_section(t, out_dir, results_dir, run_pages, dl))
    body.append(_raw_links())
    return page(f"{t.suite} / {t.task_label} — tram-bench", "".join(body), generated=generated)


def _methods_table(s: SuiteReport, dl: PageTables | None) -> str:
    """One row per configuration, one column per task: its mean in the task's headline column (selected
    checkpoint, test split); rows carry the method kind for the index filter."""
    boards = [(t, t.table("selected")) for t in s.tasks]
    boards = [(t, mt) for t, mt in boards if mt is not None]
    if not boards:
        return ""
    configs: dict[str, str] = {}
    for _, mt in boards:
        for r in mt.rows:
            configs.setdefault(r.config, r.method)
    headers = [(h("method"), True), (h("kind"), True)] + [
        (f"{h(t.task_label)} <span class=\"dir\">{h(mt.arrow)}</span>", False) for t, mt in boards]
    flat = []
    table = HtmlTable(headers=headers, caption=h(
        "Each method's mean over seeds in each task's headline column (the OOD average where the task has one), "
        "selected checkpoint, test split; ★ = best in the task. Filter the rows by method kind above."))
    for config, method in configs.items():
        cells = [text_cell(config), text_cell(kind_of(s.kinds, method))]
        for t, mt in boards:
            key = headline_key(mt)
            row = next((r for r in mt.rows if r.config == config), None)
            st = None if row is None else row.cells.get(key)
            if st is None or st.mean is None:
                cells.append(Cell("–"))
                continue
            best = config in mt.best.get(key, set())
            cells.append(Cell(("★ " if best else "") + h(fmt(st.mean)), sort=st.mean, cls="best" if best else ""))
            flat.append({"config": config, "method": method, "kind": kind_of(s.kinds, method), "task": t.task_label,
                         "column": key, "metric": mt.metric, "higher_is_better": mt.higher_is_better,
                         "mean": st.mean, "std": st.std, "ci95": st.ci95, "n": st.n, "best": best})
        table.add(cells, data={"kind": kind_of(s.kinds, method)})
    if dl is not None:
        table.download = dl.add(rows_of(f"methods-{slug(s.suite)}", flat))
    return "<h3>Methods across tasks</h3>" + table.render()


def _across_section(s: SuiteReport, dl: PageTables | None = None) -> str:
    """Across tasks: the IQM chart of paired differences, rank intervals, the CD diagram (>= 5 tasks)."""
    out = [_methods_table(s, dl)]
    if s.stale:
        out.append(_stale_table(s.stale, f"{s.n_stale} stale run(s): runs of this suite that its current plan no "
                                "longer lists (the suite was edited after they ran). Excluded from every statistic."))
    for units in sorted({a.units for a in s.across}):
        rows = [IntervalRow(a.config, a.iqm, a.iqm_low, a.iqm_high,
                            f"P(better) {fmt(a.poi, 2)} [{fmt(a.poi_low, 2)}, {fmt(a.poi_high, 2)}], {a.n_tasks} task(s)")
                for a in s.across if a.units == units]
        svg = interval_chart(rows, unit=unit_words(units), title=f"{s.suite}: IQM of paired differences to each "
                             "task's baseline")
        caption = (f"Interquartile mean over (task, seed) of the paired differences to each task's declared baseline "
                   f"({unit_words(units)}, > 0 = better) with a 95% stratified bootstrap CI (seeds resampled within "
                   "tasks); at the right the probability of improvement (share of pairs where the method beats the "
                   "baseline) with its CI.")
        links = "" if dl is None else " " + download_links(dl.add(rows_of(
            f"iqm-{slug(s.suite)}-{slug(units)}", [a for a in s.across if a.units == units])))
        out.append(f'<h3>Across tasks</h3><figure class="iqm">{svg}<figcaption>{h(caption)}{links}</figcaption>'
                   "</figure>")
    if s.rank_intervals:
        best = (f"Best method: {s.best} (its rank interval is alone at the top)." if s.best
                else "No best method: no rank interval is alone at the top.")
        table = HtmlTable(
            headers=[(h("method"), True), (h("rank"), False), (h("mean rank"), False), (h("95% rank interval"), False)],
            caption=h("Ranks over the suite's tasks with bootstrap intervals (seeds resampled); methods whose "
                      "intervals overlap share a rank; ★ = the best method."),
            download=None if dl is None else dl.add(rows_of(f"rank-intervals-{slug(s.suite)}", s.rank_intervals)))
        for r in s.rank_intervals:
            table.add([text_cell(r.config + (" ★" if r.best else "")), Cell(h(fmt(r.rank, 1)), sort=r.rank),
                       Cell(h(fmt(r.mean_rank, 2)), sort=r.mean_rank),
                       Cell(h(f"[{fmt(r.rank_low, 1)}, {fmt(r.rank_high, 1)}]"), sort=r.rank_low)],
                      data={"kind": kind_of(s.kinds, config_method(r.config))})
        out.append(f'<h3>Rank intervals</h3><p class="note best-method">{h(best)}</p>' + table.render())
    if s.cd_ranks:
        svg = cd_diagram(s.cd_ranks, s.cd_cliques, title=f"{s.suite}: critical-difference diagram")
        out.append('<h3>Critical-difference diagram</h3><figure class="cd">' + svg + "<figcaption>"
                   + h("Average rank over tasks (1 = best); a bar joins methods that pairwise Wilcoxon tests with "
                       "Holm's correction do not tell apart.") + "</figcaption></figure>")
    return "".join(out)


def _filters(suites: list[SuiteReport]) -> str:
    """The index's filter form: method kind and task family (sort.js hides the rows that differ)."""
    kinds = sorted({kind_of(s.kinds, r.method) for s in suites for t in s.tasks for mt in t.tables for r in mt.rows},
                   key=KINDS.index)
    families = sorted({t.family or "unknown" for s in suites for t in s.tasks})
    if not kinds and not families:
        return ""

    def select(name: str, label: str, values: list[str]) -> str:
        options = '<option value="">all</option>' + "".join(f'<option value="{h(v)}">{h(v)}</option>' for v in values)
        return f'<label>{h(label)} <select data-filter="{h(name)}">{options}</select></label>'

    return ('<form class="filters" aria-label="Filter the tables"><span>Filter rows:</span>'
            + select("kind", "method kind", kinds) + select("family", "task family", families) + "</form>")


def index_page(suites: list[SuiteReport], citation: str, generated: str, dl: PageTables | None = None) -> str:
    """The site's front page: per suite its tasks, methods across tasks, IQM and ranks; ``dl`` collects its
    downloadable tables."""
    body = ["<h1>tram-bench leaderboard</h1>",
            '<p class="note">Fine-tuning optimizers under distribution shift. Every metric shows its direction: '
            "↑ higher is better, ↓ lower is better. Partial grids are marked PARTIAL everywhere.</p>",
            _filters(suites)]
    if not suites:
        body.append('<p class="note">No results in the database yet.</p>')
    for s in suites:
        badge = "partial" if s.completeness.partial else "complete"
        body.append(f'<h2>Suite {h(s.suite)} <span class="badge {badge}">'
                    f"{h('PARTIAL' if s.completeness.partial else 'complete')}</span></h2>")
        body.append(_banner(s.completeness.partial, s.completeness.summary()))
        tasks = HtmlTable(headers=[(h(x), x in ("task", "task id", "primary metric", "baseline", "verdicts", "grid"))
                                   for x in ("task", "task id", "primary metric", "baseline", "verdicts", "MDE",
                                             "runs ok", "grid")],
            caption=h("Each task's declared baseline, how many of its comparisons reached each verdict, and the "
                      "minimal detectable effect of its design (80% power, exact Wilcoxon at alpha/m, in the "
                      "task's units)."),
            download=None if dl is None else dl.add(rows_of(f"tasks-{slug(s.suite)}", [
                {"task": t.task_label, "task_id": t.task, "family": t.family, "primary_metric": t.primary_metric,
                 "baseline": t.design.reference if t.design is not None else None,
                 "mde": t.design.mde if t.design is not None else None, "runs_ok": t.completeness.n_ok,
                 "cells": t.completeness.n_cells, "partial": t.completeness.partial} for t in s.tasks])))
        for t in s.tasks:
            link = f'<a href="{_href(task_page_name(t.suite, t.task_label))}">{h(t.task_label)}</a>'
            mt = t.table("selected")
            metric = f"{t.primary_metric} {arrow(mt.higher_is_better)}" if mt is not None else "–"
            d = t.design
            counts: dict[str, int] = {}
            for r in t.primary():
                counts[r.verdict or "not tested"] = counts.get(r.verdict or "not tested", 0) + 1
            verdicts = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or (
                d.note if d is not None and d.note else "–")
            mde = "–"
            if d is not None and d.mde is not None:
                mde = f"{fmt(d.mde)} {unit_words(d.units)}"
            elif d is not None and d.reference is not None and not d.reaches_alpha:
                mde = "none: alpha unreachable"
            tasks.add([Cell(link, sort=t.task_label, cls="l"), text_cell(t.task), text_cell(metric),
                       text_cell(d.reference if d is not None and d.reference else "none declared"),
                       text_cell(verdicts), Cell(h(mde), sort=None if d is None else d.mde),
                       Cell(h(f"{t.completeness.n_ok}/{t.completeness.n_cells}"), sort=t.completeness.n_ok),
                       text_cell("PARTIAL" if t.completeness.partial else "complete")],
                      "partial" if t.completeness.partial else "", {"family": t.family or "unknown"})
        body.append("<h3>Tasks</h3>" + tasks.render())
        body.append(_across_section(s, dl))
    body.append('<h2>Published results</h2><p class="note"><a href="published.html">The paper’s tables</a>, '
                "machine-readable in <code>tram_bench/report/published/</code>. "
                f"{h(citation)}</p>")
    body.append(f'<h2>The paper’s claims</h2><p class="note"><a href="{CLAIMS_PAGE}">Each headline claim of the '
                "paper</a>, tested on these results: reproduced, contradicted, inconclusive or not testable here "
                "(CPU-scale stand-ins for the paper’s settings).</p>")
    body.append(_raw_links())
    return page("tram-bench leaderboard", "".join(body), generated=generated)


def published_page(con, citation: str, url: str, generated: str) -> str:
    body = ["<h1>Published results</h1>",
            f'<p class="note">{h(citation)} <a href="{h(url)}">{h(url)}</a>. Numbers copied exactly as printed '
            "(emphasis lost); Table 13's standard deviations are shown as the ± of Tables 5, 12 and 14; Tables 11 "
            "and 12 hold only their extra rows (the others equal Tables 4 and 5).</p>"]
    for v in published_tables(con):
        body.append(f"<h2>{h(f'Table {v.table_id} — {v.split}')}</h2>" + _published_html(v))
    return page("Published results — tram-bench", "".join(body), generated=generated)


def _open(db_path_or_con):
    if isinstance(db_path_or_con, (str, os.PathLike)):
        import duckdb

        path = Path(db_path_or_con)
        if not path.exists():
            raise FileNotFoundError(f"no results database at {path}")
        return duckdb.connect(str(path), read_only=True), True
    return db_path_or_con, False


def _write(path: Path, text: str) -> None:
    atomic_write_text(path, text)
    os.chmod(path, 0o644)  # pages are meant to be published; mkstemp creates them 0600


def _clean_stale(out_dir: Path, written: set[str]) -> None:
    manifest = out_dir / MANIFEST
    if manifest.exists():
        for name in manifest.read_text(encoding="utf-8").splitlines():
            # Only names this module could have written, inside out_dir: pages at the root, run pages and
            # table downloads one level down.
            parts = name.split("/")
            ours = (len(parts) == 1 and name.endswith(".html")) or (
                len(parts) == 2 and parts[0] in (RUNS_DIR, TABLES_DIR) and parts[1] not in ("", ".", ".."))
            if name and name not in written and ours:
                p = out_dir / name
                if p.is_file():
                    p.unlink()
    atomic_write_text(manifest, "".join(f"{n}\n" for n in sorted(written)))


def _generated(con) -> str:
    """The pages' footer, from the store alone (so a rebuild from the same store gives the same bytes)."""
    n, last = con.execute("SELECT count(*), strftime(timezone('UTC', max(finished_at)), '%Y-%m-%d %H:%M UTC') "
                          "FROM runs").fetchone()
    return f"generated by tram-bench from {n} run(s)" + (f", the latest finished {last}" if last else "")


def _read_all_curves(suites: list[SuiteReport], results_dir: Path | None) -> dict[str, RunCurves]:
    """Every run's curves, keyed by run id, for the runs whose directory exists under ``results_dir``."""
    out: dict[str, RunCurves] = {}
    if results_dir is None:
        return out
    for s in suites:
        for t in s.tasks:
            for r in t.runs:
                d = results_dir / "runs" / r.run_id
                if r.run_id not in out and d.is_dir():
                    out[r.run_id] = read_curves(d / "metrics.jsonl")
    return out


def build_site(db_path_or_con, out_dir, results_dir=None, *,
               family_of: Callable[[str], str | None] | None = None) -> Path:
    """Write the static leaderboard into ``out_dir`` and return the path of ``index.html``.

    ``results_dir`` (optional): where the run directories are; with it every run found there gets a page
    under ``runs/`` (training curves from its ``metrics.jsonl``) and a link to its record. Every page's
    tables are also written as CSV and JSON under ``tables/``. The bytes depend only on the store and the
    run directories: a rebuild writes identical files. ``family_of``: a task id's family, for the paper's
    tables beside each task and the family filter (default: the family the store's runs record). Raises FileNotFoundError for a missing database
    and ``curves.RunDataError`` (one line, naming file and line) for an unreadable ``metrics.jsonl``,
    before any file is written."""
    con, owned = _open(db_path_or_con)
    # One thread: a parallel aggregate adds floats in a varying order, and the last digit of a mean would
    # differ between two builds from the same store (the downloads keep every digit).
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.execute("SET threads = 1")
    try:
        ensure_views(con)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        res = Path(results_dir) if results_dir is not None else None
        suites = load_report(con, family_of=family_of or task_families(con).get)
        cit, url = con.execute("SELECT any_value(citation), any_value(url) FROM published_tables").fetchone()
        generated = _generated(con)
        curves = _read_all_curves(suites, res)  # before writing anything: a bad log stops the build cleanly
        export_raw(con, out)
        written: set[str] = set()
        for s in suites:
            for t in s.tasks:
                name = task_page_name(s.suite, t.task_label)
                run_pages = {r.run_id: run_page_name(r.run_id, slug) for r in t.runs if r.run_id in curves}
                if run_pages:
                    (out / RUNS_DIR).mkdir(exist_ok=True)
                for r in t.runs:
                    if r.run_id in run_pages:
                        _write(out / run_pages[r.run_id], run_page(
                            r, curves[r.run_id], suite=s.suite, task_label=t.task_label, task_page=name,
                            results_dir=res, out_dir=out, generated=generated))
                        written.add(run_pages[r.run_id])
                dl = PageTables(name.removesuffix(".html"))
                _write(out / name, task_page(t, con, out, res, generated, dl, run_pages))
                written.add(name)
                written.update(write_tables(out, dl.stem, dl.files, _write))
        _write(out / "published.html", published_page(con, cit or "", url or "", generated))
        written.add("published.html")
        _write(out / CLAIMS_PAGE, ledger_page(con, generated))
        written.add(CLAIMS_PAGE)
        dl = PageTables("index")
        _write(out / "index.html", index_page(suites, cit or "", generated, dl))
        written.add("index.html")
        written.update(write_tables(out, dl.stem, dl.files, _write))
        _clean_stale(out, written)
        return out / "index.html"
    finally:
        if owned:
            con.close()
        else:
            con.execute(f"SET threads = {int(threads)}")


__all__ = ["build_site", "export_raw", "slug", "task_page_name"]
