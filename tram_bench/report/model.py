"""What the terminal report and the static site show, read from the views into dataclasses.

Both renderers consume :class:`SuiteReport` objects, so the numbers on the page and in the terminal
come from one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterable

from tram_bench.report.kinds import method_kinds
from tram_bench.report.significance import AcrossRow, RankRow as RankIntervalRow, SignificanceResult, TaskTest
from tram_bench.report.views import columns

CHECKPOINTS = ("selected", "final")
ID_AVG = "ID avg"
OOD_AVG = "OOD avg"


@dataclass(frozen=True)
class Stat:
    mean: float | None
    std: float | None
    ci95: float | None
    n: int


@dataclass(frozen=True)
class Completeness:
    n_cells: int
    n_planned: int
    n_ok: int
    n_failed: int
    n_diverged: int
    n_missing: int
    partial: bool

    def summary(self) -> str:
        if not self.partial:
            return f"complete: {self.n_ok}/{self.n_cells} runs ok"
        return (
            f"PARTIAL grid: {self.n_ok} of {self.n_cells} cells ok "
            f"({self.n_failed} failed, {self.n_diverged} diverged, {self.n_missing} missing or pending)"
        )


@dataclass(frozen=True)
class Column:
    key: str  # a domain name, or ID_AVG / OOD_AVG
    in_domain: bool | None  # None for the averages


@dataclass
class MethodRow:
    config: str
    method: str
    hparams: str
    n_ok: int
    n_cells: int
    partial: bool
    cells: dict[str, Stat] = field(default_factory=dict)


@dataclass
class MetricTable:
    checkpoint: str
    split: str
    metric: str
    higher_is_better: bool
    columns: list[Column]
    rows: list[MethodRow]
    best: dict[str, set[str]]  # column key -> configs with the best mean (ties all marked)

    @property
    def arrow(self) -> str:
        return arrow(self.higher_is_better)


@dataclass(frozen=True)
class RankRow:
    config: str
    method: str
    n_tasks: int
    n_tasks_in_suite: int
    mean_rank: float
    borda: float
    partial: bool


@dataclass(frozen=True)
class SeverityRow:
    checkpoint: str
    metric: str
    higher_is_better: bool
    domain: str
    baseline: str
    severity: Stat
    rank: int


@dataclass(frozen=True)
class GainRow:
    checkpoint: str
    metric: str
    config: str
    domain: str
    gain: Stat
    severity: float | None


@dataclass(frozen=True)
class CorrelationRow:
    checkpoint: str
    metric: str
    config: str
    n_domains: int
    pearson: float | None
    spearman: float | None


@dataclass(frozen=True)
class StaleRun:
    """A run of a planned suite that the current plan no longer lists (excluded from every statistic)."""

    run_id: str
    task_label: str
    method: str
    hparams: str
    seed: int
    status: str


@dataclass(frozen=True)
class CostRow:
    config: str
    n: int
    reference: str | None
    steps: float | None
    forward: float | None
    backward: float | None
    step_time_s: float | None
    wall_time_s: float | None
    peak_memory_mb: float | None
    forward_ratio: float | None
    backward_ratio: float | None
    step_time_ratio: float | None
    wall_time_ratio: float | None
    peak_memory_ratio: float | None


@dataclass(frozen=True)
class EqualComputeRow:
    config: str
    metric: str
    higher_is_better: bool
    backward: float
    score: float
    base_task_label: str
    base_config: str
    base_backward: float
    base_score: float
    advantage: float


@dataclass(frozen=True)
class ComparisonRow:
    config: str
    checkpoint: str
    metric: str
    domain: str
    paper_domain: str
    table_id: str
    method_label: str
    published: float
    published_pm: float | None
    published_pm_kind: str
    ours: float | None
    ours_ci95: float | None
    n: int
    delta: float | None
    tolerance: float
    within_tolerance: bool | None
    partial: bool


@dataclass(frozen=True)
class AnalysisRow:
    checkpoint: str
    split: str
    metric: str
    higher_is_better: bool
    config: str
    id_mean: float | None
    ood_mean: float | None
    ood_std_across_domains: float | None
    n_ood_domains: int
    n_min: int
    partial: bool
    # Across runs: Pearson of the run's in-domain value with its OOD average (None below 3 runs or
    # for a constant side), and how many runs had both.
    id_ood_pearson: float | None = None
    n_runs_paired: int = 0


@dataclass(frozen=True)
class AnalysisPoint:
    """One successful run in an analysis scatter plot (both values are the run's OOD averages)."""

    checkpoint: str
    metric: str
    higher_is_better: bool
    config: str
    seed: int
    value: float
    primary_metric: str
    primary_higher_is_better: bool
    primary_value: float


@dataclass(frozen=True)
class RunRow:
    run_id: str
    config: str
    seed: int
    status: str
    planned: bool
    git_commit: str | None
    device: str | None
    device_name: str | None
    torch_version: str | None
    precision: str | None
    wall_time_s: float | None
    finished_at: str | None
    error: str | None
    # Seconds spent building or waiting for a shared asset (never in the run's cost), and the one-line
    # error of a failed analysis beside kept training metrics; None in a store from before schema 2.
    asset_time_s: float | None = None
    analysis_error: str | None = None


@dataclass(frozen=True)
class PublishedCellView:
    value_text: str
    pm_text: str | None  # as printed
    pm_kind: str


@dataclass
class PublishedTableView:
    table_id: str
    title: str
    caption: str
    split: str
    model: str
    metric: str
    higher_is_better: bool
    seeds: int
    statistic: str  # "mean", or "std" for Table 13 (a spread over seeds: it has no direction)
    columns: list[tuple[str, str, bool]]  # (domain id, printed label, in_domain)
    rows: list[tuple[str, str, dict[str, PublishedCellView]]]  # (method id, printed label, cells)

    @property
    def arrow(self) -> str:
        return arrow(self.higher_is_better) if self.statistic == "mean" else ""


@dataclass
class TaskReport:
    suite: str
    task_label: str
    task: str
    completeness: Completeness
    primary_metric: str | None
    tables: list[MetricTable]
    severity: list[SeverityRow]
    gains: list[GainRow]
    correlations: list[CorrelationRow]
    significance: list[SignificanceResult]
    cost: list[CostRow]
    equal_compute: list[EqualComputeRow]
    comparison: list[ComparisonRow]
    analysis: list[AnalysisRow]
    runs: list[RunRow]
    family: str | None = None
    kinds: dict[str, str] = field(default_factory=dict)  # method id -> kind, as the store records it
    published_beside: list[PublishedTableView] = field(default_factory=list)
    analysis_points: list[AnalysisPoint] = field(default_factory=list)
    design: TaskTest | None = None
    errors: list[str] = field(default_factory=list)  # data errors (duplicate seeds): shown, never hidden
    stale: list[StaleRun] = field(default_factory=list)

    def primary(self) -> list[SignificanceResult]:
        return [s for s in self.significance if s.group == "primary"]

    def table(self, checkpoint: str, metric: str | None = None, split: str = "test") -> MetricTable | None:
        metric = metric or self.primary_metric
        for t in self.tables:
            if t.checkpoint == checkpoint and t.metric == metric and t.split == split:
                return t
        return None


@dataclass
class SuiteReport:
    suite: str
    completeness: Completeness
    tasks: list[TaskReport]
    ranks: list[RankRow]
    across: list[AcrossRow] = field(default_factory=list)
    rank_intervals: list[RankIntervalRow] = field(default_factory=list)
    cd_ranks: dict[str, float] = field(default_factory=dict)  # empty below 5 tasks
    cd_cliques: list[list[str]] = field(default_factory=list)
    stale: list[StaleRun] = field(default_factory=list)  # every stale run of the suite, any task label
    kinds: dict[str, str] = field(default_factory=dict)  # method id -> kind (report/kinds.py), shared by its tasks

    @property
    def n_stale(self) -> int:
        return len(self.stale)

    @property
    def best(self) -> str | None:
        """The configuration whose rank interval is alone at the top, else None."""
        return next((r.config for r in self.rank_intervals if r.best), None)


def arrow(higher_is_better: bool) -> str:
    return "↑" if higher_is_better else "↓"


def direction_words(higher_is_better: bool) -> str:
    return "higher is better" if higher_is_better else "lower is better"


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _dicts(con, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


class _Views:
    """Each view read once, ordered, and grouped by (suite, task_label): a view over views is
    recomputed by every query, so one query per view (not per task) keeps a report fast."""

    ORDER = {
        "completeness": "config",
        "leaderboard": "checkpoint, split, metric, config",
        "leaderboard_averages": "config",
        "shift_severity": "checkpoint, metric, severity_rank, domain",
        "shift_gain": "checkpoint, metric, config, domain",
        "gain_severity_correlation": "checkpoint, metric, config",
        "significance": "config, \"group\"",
        "task_tests": "task",
        "duplicate_seeds": "config, seed",
        "stale_runs": "seed, run_id",
        "cost": "config",
        "equal_compute": "config, base_config",
        "published_comparison": "table_id, is_average, domain, config",
        "analysis_summary": "metric, checkpoint, split, config",
        "analysis_id_ood_correlation": "metric, checkpoint, split, config",
        "analysis_run_points": "metric, checkpoint, config, seed, run_id",
        "primary_metric": "metric",
    }

    def __init__(self, con) -> None:
        self.con = con
        self._cache: dict[str, dict[tuple[str, str], list[dict[str, Any]]]] = {}

    def rows(self, view: str, suite: str, task_label: str) -> list[dict[str, Any]]:
        if view not in self._cache:
            grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for d in _dicts(self.con, f"SELECT * FROM {view} ORDER BY suite, task_label, {self.ORDER[view]}"):
                grouped.setdefault((d["suite"], d["task_label"]), []).append(d)
            self._cache[view] = grouped
        return self._cache[view].get((suite, task_label), [])


def _completeness(d: dict[str, Any]) -> Completeness:
    return Completeness(
        n_cells=int(d["n_cells"]), n_planned=int(d["n_planned"]), n_ok=int(d["n_ok"]),
        n_failed=int(d["n_failed"]), n_diverged=int(d["n_diverged"]), n_missing=int(d["n_missing"]),
        partial=bool(d["partial"]),
    )


def _best(rows: list[MethodRow], key: str, higher_is_better: bool) -> set[str]:
    means = [(r.cells[key].mean, r.config) for r in rows if key in r.cells and r.cells[key].mean is not None]
    if not means:
        return set()
    target = max(m for m, _ in means) if higher_is_better else min(m for m, _ in means)
    return {c for m, c in means if m == target}


def _metric_tables(v: _Views, suite: str, task_label: str) -> list[MetricTable]:
    comp = {d["config"]: d for d in v.rows("completeness", suite, task_label)}
    cells = v.rows("leaderboard", suite, task_label)
    avgs = v.rows("leaderboard_averages", suite, task_label)
    tables: dict[tuple[str, str, str], MetricTable] = {}
    rows: dict[tuple[str, str, str], dict[str, MethodRow]] = {}
    domains: dict[tuple[str, str, str], dict[str, bool]] = {}

    def row_for(key, d) -> MethodRow:
        by_config = rows.setdefault(key, {})
        if d["config"] not in by_config:
            c = comp[d["config"]]
            by_config[d["config"]] = MethodRow(
                config=d["config"], method=d["method"], hparams=d["hparams"], n_ok=int(c["n_ok"]),
                n_cells=int(c["n_cells"]), partial=bool(c["partial"]),
            )
        return by_config[d["config"]]

    for d in cells:
        key = (d["checkpoint"], d["split"], d["metric"])
        if key not in tables:
            tables[key] = MetricTable(d["checkpoint"], d["split"], d["metric"], bool(d["higher_is_better"]), [], [], {})
        domains.setdefault(key, {})[d["domain"]] = bool(d["in_domain"])
        row_for(key, d).cells[d["domain"]] = Stat(_num(d["mean"]), _num(d["std"]), _num(d["ci95"]), int(d["n"]))
    for d in avgs:
        key = (d["checkpoint"], d["split"], d["metric"])
        if key not in tables:
            continue
        r = row_for(key, d)
        if d["n_id"]:
            r.cells[ID_AVG] = Stat(_num(d["id_mean"]), _num(d["id_std"]), _num(d["id_ci95"]), int(d["n_id"]))
        if d["n_ood"]:
            r.cells[OOD_AVG] = Stat(_num(d["ood_mean"]), _num(d["ood_std"]), _num(d["ood_ci95"]), int(d["n_ood"]))
    out = []
    for key, t in tables.items():
        doms = domains[key]
        id_doms = sorted(d for d, i in doms.items() if i)
        ood_doms = sorted(d for d, i in doms.items() if not i)
        t.columns = [Column(d, True) for d in id_doms] + [Column(d, False) for d in ood_doms]
        # Averages are shown only when they summarise more than one domain column.
        if len(id_doms) > 1:
            t.columns.append(Column(ID_AVG, None))
        if len(ood_doms) > 1:
            t.columns.append(Column(OOD_AVG, None))
        t.rows = sorted(rows[key].values(), key=lambda r: r.config)
        t.best = {c.key: _best(t.rows, c.key, t.higher_is_better) for c in t.columns}
        out.append(t)
    analysis_last = {"sharpness": 1, "cka": 1}
    out.sort(key=lambda t: (analysis_last.get(t.metric, 0), t.split != "test", t.metric, CHECKPOINTS.index(t.checkpoint)
                            if t.checkpoint in CHECKPOINTS else 9))
    return out


def _task_report(v: _Views, suite: str, tc: dict[str, Any],
                 family_of: Callable[[str], str | None] | None, kinds: dict[str, str]) -> TaskReport:
    con = v.con
    label = tc["task_label"]
    args = (suite, label)
    pm_rows = v.rows("primary_metric", suite, label)
    pm = (pm_rows[0]["metric"],) if pm_rows else None
    severity = [
        SeverityRow(d["checkpoint"], d["metric"], bool(d["higher_is_better"]), d["domain"], d["baseline"],
                    Stat(_num(d["severity"]), _num(d["severity_std"]), _num(d["severity_ci95"]), int(d["n"])),
                    int(d["severity_rank"]))
        for d in v.rows("shift_severity", *args) if d["split"] == "test"
    ]
    gains = [
        GainRow(d["checkpoint"], d["metric"], d["config"], d["domain"],
                Stat(_num(d["gain"]), _num(d["gain_std"]), None, int(d["n_pairs"])), _num(d["severity"]))
        for d in v.rows("shift_gain", *args) if d["split"] == "test" and not d["in_domain"]
    ]
    correlations = [
        CorrelationRow(d["checkpoint"], d["metric"], d["config"], int(d["n_domains"]), _num(d["pearson"]),
                       _num(d["spearman"]))
        for d in v.rows("gain_severity_correlation", *args) if d["split"] == "test"
    ]
    group_order = {g: i for i, g in enumerate(("primary", "in_domain", "worst_ood", "final"))}
    significance = sorted((_record(SignificanceResult, d) for d in v.rows("significance", *args)),
                          key=lambda r: (group_order.get(r.group, 9), r.config))
    design = next((_record(TaskTest, d) for d in v.rows("task_tests", *args)), None)
    errors = [f"{d['config']}: {d['n_runs']} ok runs with seed {d['seed']} ({d['run_ids']}); that seed is left "
              "out of every paired statistic of this configuration" for d in v.rows("duplicate_seeds", *args)]
    stale = [StaleRun(d["run_id"], d["task_label"], d["method"], d["hparams"], int(d["seed"]), d["status"])
             for d in v.rows("stale_runs", *args)]
    cost = [
        CostRow(d["config"], int(d["n"]), d["reference"], *(_num(d[k]) for k in (
            "steps", "forward", "backward", "step_time_s", "wall_time_s", "peak_memory_mb", "forward_ratio",
            "backward_ratio", "step_time_ratio", "wall_time_ratio", "peak_memory_ratio")))
        for d in v.rows("cost", *args)
    ]
    equal = [
        EqualComputeRow(d["config"], d["metric"], bool(d["higher_is_better"]), float(d["backward"]), float(d["score"]),
                        d["base_task_label"], d["base_config"], float(d["base_backward"]), float(d["base_score"]),
                        float(d["advantage"]))
        for d in v.rows("equal_compute", *args)
    ]
    comparison = [
        ComparisonRow(d["config"], d["checkpoint"], d["metric"], d["domain"], d["paper_domain"], d["table_id"],
                      d["method_label"], float(d["published"]), _num(d["published_pm"]), d["published_pm_kind"],
                      _num(d["ours"]), _num(d["ours_ci95"]), int(d["n"]), _num(d["delta"]), float(d["tolerance"]),
                      None if d["within_tolerance"] is None else bool(d["within_tolerance"]), bool(d["partial"]))
        for d in v.rows("published_comparison", *args)
    ]
    id_ood = {(d["config"], d["checkpoint"], d["split"], d["metric"]): d
              for d in v.rows("analysis_id_ood_correlation", *args)}
    analysis = []
    for d in v.rows("analysis_summary", *args):
        c = id_ood.get((d["config"], d["checkpoint"], d["split"], d["metric"]))
        analysis.append(AnalysisRow(
            d["checkpoint"], d["split"], d["metric"], bool(d["higher_is_better"]), d["config"], _num(d["id_mean"]),
            _num(d["ood_mean"]), _num(d["ood_std_across_domains"]), int(d["n_ood_domains"]), int(d["n_min"]),
            bool(d["partial"]), id_ood_pearson=_num(c["pearson"]) if c else None,
            n_runs_paired=int(c["n_runs"]) if c else 0))
    analysis_points = [
        AnalysisPoint(d["checkpoint"], d["metric"], bool(d["higher_is_better"]), d["config"], int(d["seed"]),
                      float(d["analysis_ood_avg"]), d["primary_metric"], bool(d["primary_higher_is_better"]),
                      float(d["primary_ood_avg"]))
        for d in v.rows("analysis_run_points", *args)
        if _num(d["analysis_ood_avg"]) is not None and _num(d["primary_ood_avg"]) is not None
    ]
    have = columns(con, "runs")
    schema2 = ", ".join(f"r.{c}" if c in have else f"NULL AS {c}" for c in ("asset_time_s", "analysis_error"))
    runs = [
        RunRow(d["run_id"], d["config"], int(d["seed"]), d["status"], bool(d["planned"]), d["git_commit"], d["device"],
               d["device_name"], d["torch_version"], d["precision"], _num(d["wall_time_s"]),
               None if d["finished_at"] is None else str(d["finished_at"]), d["error"],
               _num(d["asset_time_s"]), d["analysis_error"])
        for d in _dicts(
            con,
            "SELECT c.run_id, c.config, c.seed, c.status, c.planned, r.git_commit, r.device, r.device_name, "
            f"r.torch_version, r.precision, r.wall_time_s, r.finished_at, r.error, {schema2} "
            "FROM cells c LEFT JOIN runs r ON r.run_id = c.run_id WHERE c.suite = ? AND c.task_label = ? "
            "ORDER BY c.config, c.seed",
            args,
        )
    ]
    report = TaskReport(
        suite=suite, task_label=label, task=tc["task"], completeness=_completeness(tc),
        primary_metric=pm[0] if pm else None, tables=_metric_tables(v, suite, label), severity=severity,
        gains=gains, correlations=correlations, significance=significance, cost=cost, equal_compute=equal,
        comparison=comparison, analysis=analysis, runs=runs, analysis_points=analysis_points, design=design,
        errors=errors, stale=stale, kinds=kinds,
    )
    if family_of is not None and not comparison:
        report.family = family_of(report.task)
        if report.family:
            report.published_beside = published_tables_for_family(con, report.family)
    return report


def load_report(con, task: str | None = None,
                family_of: Callable[[str], str | None] | None = None) -> list[SuiteReport]:
    """Every suite (or only the tasks whose label or id is ``task``), from views made by create_views.

    ``family_of``: a task id's family, to place the paper's tables of that family beside the task (None:
    no published tables); ``report.kinds.task_families(con).get`` reads the families the runs record."""
    suites = []
    v = _Views(con)
    kinds = method_kinds(con)
    for sc in _dicts(con, "SELECT * FROM suite_completeness ORDER BY suite"):
        tcs = _dicts(con, "SELECT * FROM task_completeness WHERE suite = ? ORDER BY task_label", (sc["suite"],))
        if task is not None:
            tcs = [t for t in tcs if task in (t["task_label"], t["task"])]
            if not tcs:
                continue
        ranks = [
            RankRow(d["config"], d["method"], int(d["n_tasks"]), int(d["n_tasks_in_suite"]), float(d["mean_rank"]),
                    float(d["borda"]), bool(d["partial"]))
            for d in _dicts(con, "SELECT * FROM aggregate_rank WHERE suite = ? ORDER BY borda DESC, mean_rank, config",
                            (sc["suite"],))
        ]
        suites.append(SuiteReport(
            suite=sc["suite"], completeness=_completeness(sc),
            tasks=[_task_report(v, sc["suite"], t, family_of, kinds) for t in tcs], ranks=ranks, kinds=kinds,
            **_suite_summary(con, sc["suite"]),
        ))
    return suites


def _record(cls, d: dict[str, Any]):
    """A dataclass of significance.py from a row of its table (non-finite floats read as None)."""
    return cls(**{f.name: _num(d[f.name]) if isinstance(d[f.name], float) else d[f.name] for f in fields(cls)})


def _suite_summary(con, suite: str) -> dict[str, Any]:
    """The across-task tables of one suite (made by significance.create_significance_table)."""
    across = [_record(AcrossRow, d) for d in _dicts(
        con, "SELECT * FROM across_tasks WHERE suite = ? ORDER BY units, iqm DESC, config", (suite,))]
    intervals = [_record(RankIntervalRow, d) for d in _dicts(
        con, "SELECT * FROM rank_intervals WHERE suite = ? ORDER BY rank, mean_rank, config", (suite,))]
    cd_ranks = {d["config"]: float(d["avg_rank"])
                for d in _dicts(con, "SELECT * FROM cd_ranks WHERE suite = ? ORDER BY config", (suite,))}
    cliques: dict[int, list[str]] = {}
    for d in _dicts(con, "SELECT * FROM cd_cliques WHERE suite = ? ORDER BY clique, config", (suite,)):
        cliques.setdefault(int(d["clique"]), []).append(d["config"])
    stale = [StaleRun(d["run_id"], d["task_label"], d["method"], d["hparams"], int(d["seed"]), d["status"])
             for d in _dicts(con, "SELECT * FROM stale_runs WHERE suite = ? ORDER BY task_label, method, seed, run_id",
                             (suite,))]
    return {"across": across, "rank_intervals": intervals, "cd_ranks": cd_ranks,
            "cd_cliques": [cliques[k] for k in sorted(cliques)], "stale": stale}


def published_tables(con, table_ids: Iterable[str] | None = None) -> list[PublishedTableView]:
    """Published tables in wide form (one per table, split and metric), in the paper's row/column order."""
    wanted = None if table_ids is None else list(table_ids)
    meta = {d["table_id"]: d for d in _dicts(con, "SELECT * FROM published_tables")}
    cells = _dicts(con, "SELECT * FROM published_display ORDER BY position")
    views: dict[tuple[str, str, str], PublishedTableView] = {}
    row_cells: dict[tuple[str, str, str], dict[tuple[str, str], dict[str, PublishedCellView]]] = {}
    for d in cells:
        if wanted is not None and d["table_id"] not in wanted:
            continue
        key = (d["table_id"], d["split"], d["metric"])
        v = views.get(key)
        if v is None:
            m = meta[d["table_id"]]
            v = views[key] = PublishedTableView(
                table_id=d["table_id"], title=m["title"], caption=m["caption"], split=d["split"], model=d["model"],
                metric=d["metric"], higher_is_better=bool(d["higher_is_better"]), seeds=int(d["seeds"]),
                statistic=d["statistic"], columns=[], rows=[],
            )
        if d["domain"] not in [c[0] for c in v.columns]:
            v.columns.append((d["domain"], d["domain_label"], bool(d["in_domain"])))
        by_row = row_cells.setdefault(key, {})
        row_key = (d["method"], d["method_label"])
        if row_key not in by_row:
            by_row[row_key] = {}
            v.rows.append((d["method"], d["method_label"], by_row[row_key]))
        by_row[row_key][d["domain"]] = PublishedCellView(d["value_text"], d["pm_text"], d["pm_kind"])
    order = {t: i for i, t in enumerate(wanted)} if wanted is not None else None
    out = list(views.values())
    if order is not None:
        out.sort(key=lambda v: order[v.table_id])
    return out


def published_tables_for_family(con, family: str) -> list[PublishedTableView]:
    ids = [r[0] for r in con.execute(
        "SELECT table_id FROM published_family_map WHERE family = ? ORDER BY position", [family]).fetchall()]
    return published_tables(con, ids) if ids else []
