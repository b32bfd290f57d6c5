"""``tram-bench report``: the leaderboard as rich tables in the terminal.

Three views (``VIEWS``): ``compact`` (the default, readable in an 80-column terminal: one row per method
with its in-domain average, OOD average, worst OOD domain and verdict), ``domains`` (adds the full
per-domain table) and ``wide`` (every table: per-domain, verdicts, severity, cost, analysis).
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tram_bench.report.formatting import fmt, fmt_interval, fmt_p, fmt_pm, fmt_ratio, fmt_signed
from tram_bench.report.model import (
    ID_AVG,
    OOD_AVG,
    MetricTable,
    SuiteReport,
    TaskReport,
    arrow,
    direction_words,
    load_report,
)
from tram_bench.report.wording import design_sentence, group_label, unit_words, verdict_text


def ensure_views(con) -> None:
    """Create the report views on ``con`` unless they already exist."""
    names = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    if "leaderboard" not in names:
        from tram_bench.report.views import create_views

        create_views(con)


def _show(console: Console, table: Table, *, natural: bool = False) -> None:
    """Print a table's title on its own line (a rich title would wrap to the table's width).

    ``natural``: print the table at its own width even when that is wider than the console (the
    ``--domains`` / ``--wide`` tables, read with ``less -S``), instead of squeezing each cell to a
    character or two."""
    title, table.title = table.title, None
    if title is not None:
        console.print(title if isinstance(title, Text) else Text(title), style="italic")
    if natural:
        # print(width=) is capped at the console's width, so widen the console for this one table.
        width = console.measure(table, options=console.options.update_width(10_000)).maximum
        saved = console.width
        console.width = max(saved, width)
        try:
            console.print(table, crop=False)
        finally:
            console.width = saved
    else:
        console.print(table)


def _partial_line(partial: bool, summary: str) -> Text:
    return Text(summary, style="bold red" if partial else "green")


def metric_table(t: MetricTable, title: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="italic", show_lines=False)
    table.add_column("method")
    table.add_column("runs ok", justify="right")
    for c in t.columns:
        label = c.key
        if c.in_domain:
            label += " (ID)"
        table.add_column(Text(f"{label} {t.arrow}"), justify="right")
    for r in t.rows:
        cells = []
        for c in t.columns:
            s = r.cells.get(c.key)
            if s is None:
                cells.append(Text("–"))
                continue
            text = f"{fmt_pm(s.mean, s.std)} n={s.n}"
            best = r.config in t.best.get(c.key, set())
            cells.append(Text(("★ " if best else "") + text, style="bold green" if best else ""))
        runs = Text(f"{r.n_ok}/{r.n_cells}" + (" PARTIAL" if r.partial else ""), style="red" if r.partial else "")
        table.add_row(Text(r.config), runs, *cells)
    return table


VIEWS = ("compact", "domains", "wide")


def _worst_domain(t: MetricTable, row) -> tuple[str, float] | None:
    """The row's OOD domain with the worst mean (lowest when higher is better), or None without one."""
    ood = [(c.key, row.cells[c.key].mean) for c in t.columns
           if c.in_domain is False and c.key in row.cells and row.cells[c.key].mean is not None]
    if not ood:
        return None
    return (min if t.higher_is_better else max)(ood, key=lambda kv: kv[1])


def compact_table(t: MetricTable, verdicts: dict[str, str]) -> Table:
    """One row per configuration: runs ok, ID average, OOD average (mean ± std over seeds), the worst OOD
    domain by mean and the verdict against the baseline (``verdicts``: config -> verdict word).

    Built to fit 80 columns whatever the number of domains: no vertical rules, short headers."""
    # 1-space gaps and no rules: 6 columns of at most 15 characters fit 80 with room for the method name.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))
    table.add_column("method", overflow="fold")
    table.add_column("ok", justify="right", no_wrap=True)
    table.add_column(f"ID {t.arrow}", justify="right", no_wrap=True)
    table.add_column(f"OOD avg {t.arrow}", justify="right", no_wrap=True)
    table.add_column("worst OOD", overflow="fold")
    table.add_column("verdict", overflow="fold")
    for r in t.rows:
        def stat(key: str) -> Text:
            s = r.cells.get(key)
            if s is None or s.mean is None:
                return Text("–")
            best = r.config in t.best.get(key, set())
            return Text(("★" if best else "") + fmt_pm(s.mean, s.std), style="bold green" if best else "")
        worst = _worst_domain(t, r)
        verdict = verdicts.get(r.config, "")
        table.add_row(Text(r.config), Text(f"{r.n_ok}/{r.n_cells}" + ("!" if r.partial else ""),
                                           style="red" if r.partial else ""),
                      stat(ID_AVG), stat(OOD_AVG), Text("–" if worst is None else f"{worst[0]}\n{fmt(worst[1])}"),
                      Text(verdict, style=VERDICT_STYLE.get(verdict, "")))
    return table


def _task(console: Console, t: TaskReport, checkpoint: str, view: str = "compact") -> None:
    console.rule(f"[bold]{_esc(t.suite)} / {_esc(t.task_label)}[/bold] (task {_esc(t.task)})")
    console.print(_partial_line(t.completeness.partial, t.completeness.summary()))
    mt = t.table(checkpoint)
    if mt is None:
        console.print(Text("no successful runs with test metrics yet", style="yellow"))
        return
    verdicts = {s.config: s.verdict or "not tested" for s in t.primary()}
    if t.design is not None and t.design.reference is not None:
        verdicts.setdefault(t.design.reference, "baseline")
    table = compact_table(mt, verdicts)
    table.title = Text(f"{mt.metric} {mt.arrow} ({direction_words(mt.higher_is_better)}), {checkpoint} checkpoint, "
                       "test split: mean ± std over seeds; ★ best; ! partial grid; worst OOD = the OOD domain "
                       "with the worst mean; verdict against the declared baseline")
    _show(console, table)
    for note in run_notes(t):
        console.print(Text(note, style="yellow"))
    if view == "compact":
        for e in t.errors:
            console.print(Text(f"error: {e}", style="bold red"))
        if t.design is not None and t.design.reference is None and t.design.note:
            console.print(Text(f"significance: {t.design.note}", style="yellow"))
        console.print(Text("per-domain table: --domains; every table (verdict tests, severity, cost): --wide",
                           style="dim"))
        return
    _show(console, metric_table(
        mt,
        f"{mt.metric} {mt.arrow} ({direction_words(mt.higher_is_better)}), {checkpoint} checkpoint, test split: "
        "mean ± std over seeds, n seeds; ★ best per column",
    ), natural=True)
    if view == "domains":
        return
    _verdicts(console, t)
    sev = [s for s in t.severity if s.checkpoint == checkpoint and s.metric == mt.metric]
    if sev:
        kind = "relative drop from in-domain" if sev[0].higher_is_better else "log(perplexity ratio to in-domain)"
        table = Table(title=Text(f"shift severity ({kind}, baseline {sev[0].baseline}); rank 1 = hardest"),
                      title_justify="left", title_style="italic")
        for col in ("rank", "domain", "severity", "n"):
            table.add_column(col, justify="right" if col != "domain" else "left")
        for s in sev:
            table.add_row(str(s.rank), Text(s.domain), fmt_pm(s.severity.mean, s.severity.std), str(s.severity.n))
        _show(console, table)
        cor = [c for c in t.correlations if c.checkpoint == checkpoint and c.metric == mt.metric and c.n_domains >= 3]
        if not cor:
            console.print(Text("gain-vs-severity correlation needs at least 3 OOD domains", style="dim"))
        else:
            table = Table(title="correlation of gain over the baseline with shift severity, across OOD domains",
                          title_justify="left", title_style="italic")
            for col in ("method", "domains", "Pearson", "Spearman"):
                table.add_column(col, justify="left" if col == "method" else "right")
            for c in cor:
                table.add_row(Text(c.config), str(c.n_domains), fmt(c.pearson, 3), fmt(c.spearman, 3))
            _show(console, table)
    if t.comparison:
        table = Table(title="reproduced vs published", title_justify="left", title_style="italic")
        for col in ("method", "domain", "paper", "published", "ours", "Δ", "within tolerance"):
            table.add_column(col)
        for c in t.comparison:
            table.add_row(Text(c.config), Text(c.domain), Text(f"Table {c.table_id} {c.paper_domain}"),
                          fmt_pm(c.published, c.published_pm), fmt_pm(c.ours, c.ours_ci95), fmt_signed(c.delta),
                          "yes" if c.within_tolerance else f"no (±{fmt(c.tolerance)})")
        _show(console, table)
    if t.cost:
        ref = t.cost[0].reference or "none declared"
        table = Table(title=f"cost per run (mean over successful runs); ratios to the declared baseline ({ref})",
                      title_justify="left", title_style="italic")
        for col in ("method", "fwd", "bwd", "step s", "wall s", "peak MB", "bwd ×", "step ×", "wall ×", "mem ×"):
            table.add_column(col, justify="left" if col == "method" else "right")
        for c in t.cost:
            table.add_row(Text(c.config), fmt(c.forward), fmt(c.backward), fmt(c.step_time_s), fmt(c.wall_time_s),
                          fmt(c.peak_memory_mb), fmt_ratio(c.backward_ratio), fmt_ratio(c.step_time_ratio),
                          fmt_ratio(c.wall_time_ratio), fmt_ratio(c.peak_memory_ratio))
        _show(console, table)
    _analysis(console, t, checkpoint)


def run_notes(t: TaskReport) -> list[str]:
    """One line per run with an asset time above zero (building or waiting for a shared pretrained asset,
    kept out of its cost) or an analysis error (its training metrics are kept); every view shows them."""
    notes = []
    for r in t.runs:
        who = f"run {r.run_id} ({r.config}, seed {r.seed})"
        if r.asset_time_s:
            notes.append(f"{who}: {fmt(r.asset_time_s)} s building or waiting for shared assets (not in its cost)")
        if r.analysis_error:
            notes.append(f"{who}: analysis error (training metrics kept): {r.analysis_error}")
    return notes


VERDICT_STYLE = {"better": "bold green", "worse": "bold red", "equivalent": "cyan", "inconclusive": "yellow",
                 "underpowered": "magenta"}


def _verdicts(console: Console, t: TaskReport) -> None:
    """The task's decision against its declared baseline, then the descriptive groups (no verdict)."""
    for e in t.errors:
        console.print(Text(f"error: {e}", style="bold red"))
    if t.stale:
        console.print(Text(f"{len(t.stale)} stale run(s) (not in the current plan of this suite; excluded from "
                           "every statistic): " + ", ".join(f"{r.method} seed {r.seed} ({r.run_id})" for r in t.stale),
                           style="yellow"))
    d = t.design
    if d is None:
        return
    if d.reference is None:
        console.print(Text(f"significance: {d.note}", style="yellow"))
        return
    console.print(Text(design_sentence(t), style="italic"))
    primary = t.primary()
    if not primary:
        return
    table = Table(title=Text(f"verdicts against the baseline {d.reference} (primary endpoint; Δ in "
                             f"{unit_words(d.units)}, > 0 = better)"), title_justify="left", title_style="italic")
    for col in ("method", "pairs", "mean Δ [95% CI]", "Wilcoxon p", "Holm p", "paired t p", "MDE", "verdict"):
        table.add_column(col, justify="left" if col in ("method", "verdict") else "right")
    for s in primary:
        table.add_row(Text(s.config), str(s.n_pairs), fmt_interval(s.mean_diff, s.ci_low, s.ci_high),
                      fmt_p(s.wilcoxon_p), fmt_p(s.p_adjusted), fmt_p(s.ttest_p), fmt(s.mde),
                      Text(verdict_text(s), style=VERDICT_STYLE.get(s.verdict or "", "")))
    _show(console, table)
    desc = [s for s in t.significance if s.group != "primary"]
    if desc:
        table = Table(title=Text("descriptive differences to the baseline (not adjusted, no verdict)"),
                      title_justify="left", title_style="italic")
        for col in ("method", "group", "pairs", "mean Δ [95% CI]"):
            table.add_column(col, justify="left" if col in ("method", "group") else "right")
        for s in desc:
            table.add_row(Text(s.config), Text(group_label(s)), str(s.n_pairs),
                          fmt_interval(s.mean_diff, s.ci_low, s.ci_high))
        _show(console, table)


def _analysis(console: Console, t: TaskReport, checkpoint: str) -> None:
    """Table 6 in brief: one table per analysis metric, with the ID-vs-OOD correlation across runs."""
    for metric in sorted({a.metric for a in t.analysis}):
        rows = [a for a in t.analysis if a.metric == metric and a.checkpoint == checkpoint]
        if not rows:
            continue
        hib = rows[0].higher_is_better
        table = Table(title=Text(f"analysis: {metric} {arrow(hib)} ({direction_words(hib)}), {checkpoint} checkpoint; "
                                 "OOD avg ± std across domains; ρ = Pearson across runs of ID vs OOD avg "
                                 "(– below 3 runs or for a constant side)"),
                      title_justify="left", title_style="italic")
        for col in ("method", "split", f"ID {arrow(hib)}", f"OOD avg {arrow(hib)}", "ρ ID vs OOD", "runs", "seeds"):
            table.add_column(col, justify="left" if col in ("method", "split") else "right")
        for a in rows:
            table.add_row(Text(a.config + (" PARTIAL" if a.partial else "")), Text(a.split), fmt(a.id_mean),
                          fmt_pm(a.ood_mean, a.ood_std_across_domains), fmt(a.id_ood_pearson, 3),
                          str(a.n_runs_paired), str(a.n_min))
        _show(console, table)


def _esc(s: str) -> str:
    # Suite and task names go into rich markup strings: escape "[" so they print as typed.
    from rich.markup import escape

    return escape(s)


def _suite(console: Console, s: SuiteReport, checkpoint: str, view: str = "compact") -> None:
    console.rule(f"[bold]suite {_esc(s.suite)}[/bold]", style="blue")
    console.print(_partial_line(s.completeness.partial, s.completeness.summary()))
    if s.n_stale:
        console.print(Text(f"{s.n_stale} stale run(s): runs of this suite that its current plan no longer lists "
                           "(excluded from every statistic)", style="yellow"))
    if s.across:
        table = Table(title=Text("across tasks: IQM of the paired differences to each task's baseline and the "
                                 "probability of improvement, 95% stratified bootstrap CIs"),
                      title_justify="left", title_style="italic")
        for col in ("method", "units", "tasks", "pairs", "IQM Δ [95% CI]", "P(improvement) [95% CI]"):
            table.add_column(col, justify="left" if col in ("method", "units") else "right")
        for a in s.across:
            table.add_row(Text(a.config), unit_words(a.units), str(a.n_tasks), str(a.n_pairs),
                          fmt_interval(a.iqm, a.iqm_low, a.iqm_high), fmt_interval(a.poi, a.poi_low, a.poi_high))
        _show(console, table)
    if s.rank_intervals:
        table = Table(title=Text("rank intervals across tasks (bootstrap over seeds; overlapping intervals share "
                                 "a rank); " + (f"best: {s.best}" if s.best else "no single best method")),
                      title_justify="left", title_style="italic")
        for col in ("method", "rank", "mean rank", "interval"):
            table.add_column(col, justify="left" if col == "method" else "right")
        for r in s.rank_intervals:
            table.add_row(Text(r.config), fmt(r.rank, 1), fmt(r.mean_rank, 2), f"[{fmt(r.rank_low, 1)}, {fmt(r.rank_high, 1)}]")
        _show(console, table)
    for t in s.tasks:
        _task(console, t, checkpoint, view)


def terminal_report(con, console: Console, task: str | None = None, *, checkpoint: str = "selected",
                    view: str = "compact") -> int:
    """Print every suite's leaderboard (or one task's, by label or id). Returns the number of tasks shown.

    ``view`` is one of ``VIEWS`` (default ``compact``, which fits an 80-column console); raises
    ValueError for another value."""
    if view not in VIEWS:
        raise ValueError(f"view {view!r} is not one of {VIEWS}")
    ensure_views(con)
    suites = load_report(con, task=task)
    if not suites:
        console.print(Text("no results" + (f" for task {task!r}" if task else "") + " in the database",
                           style="yellow"))
        return 0
    for s in suites:
        _suite(console, s, checkpoint, view)
    return sum(len(s.tasks) for s in suites)


__all__ = ["VIEWS", "compact_table", "ensure_views", "terminal_report"]
