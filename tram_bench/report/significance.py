"""Paired comparisons with each task's declared baseline (the a priori design), and the across-task summary.

Design (docs/views.md, "Significance"): the reference of a task is the baseline its suite declared
(``suite_cells.baseline``, written from the plan's design); nothing is ever chosen from results. A
task without one is not tested and says so (:data:`NO_BASELINE`).

- **Primary endpoint**: selected checkpoint, test split, OOD average of the task's primary metric (the
  in-domain average for a task without OOD domains), paired by seed. **Family**: the task's trained
  non-baseline configurations (``zero-shot`` excluded). Decision: contract A's ``compare_family``
  (exact Wilcoxon, Holm over the family, TOST equivalence within ±delta, underpowered when the design
  cannot reach alpha).
- **Descriptive groups**, no adjustment and no verdict: the in-domain average, the worst OOD domain
  (the domain where the baseline's mean is worst, fixed per task) and the final checkpoint.
- **Units**: percentage points for accuracy (``100 · (method − baseline)``), log perplexity ratio for
  perplexity (``ln(baseline / method)``); every difference is signed so that > 0 = better.
- **Hygiene**: a seed with two ok runs in one configuration (the ``duplicate_seeds`` view, an error
  in the report) does not enter that configuration's pairs (nor any pair when it is the baseline's).

Across tasks (per suite and units): the IQM of the per-(task, seed) differences and the probability
of improvement, each with a stratified bootstrap CI; rank intervals of every configuration present on
all tasks (shared ranks where intervals overlap); the CD diagram's data with >= 5 tasks.
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass, field, fields
from typing import Any, Iterable, Mapping

from tram_bench.report.power import pooled_sd, task_power
from tram_bench.stats import across, paired
from tram_bench.suite.design import DEFAULT_ALPHA, DEFAULT_UNITS, UNITS_BY_METRIC

NO_BASELINE = "no declared baseline: not tested"
ZERO_SHOT = "zero-shot"  # evaluates the pre-trained model: not part of the family of trained configurations
GROUPS = ("primary", "in_domain", "worst_ood", "final")
GROUP_WORDS = {"primary": "primary endpoint (OOD average, selected checkpoint)",
               "in_domain": "in-domain average (descriptive)",
               "worst_ood": "worst OOD domain (descriptive)",
               "final": "final checkpoint, OOD average (descriptive)"}


@dataclass(frozen=True)
class SignificanceResult:
    """One configuration against its task's baseline in one group (a row of the ``significance`` table).

    Differences are in ``units`` and signed so that > 0 = better than ``reference``. ``verdict``,
    ``p_adjusted``, ``min_attainable_p``, ``mde`` and ``seeds_for_delta`` are set for the primary
    group only (the descriptive groups are shown, not tested).
    """

    suite: str
    task_label: str
    task: str
    group: str  # one of GROUPS
    checkpoint: str
    metric: str
    score: str  # "ood_avg", "id_avg" or "domain:<name>"
    higher_is_better: bool
    units: str
    delta: float | None
    alpha: float
    comparisons: int
    reference: str
    config: str
    method: str
    n_pairs: int
    mean_diff: float | None
    sd_diff: float | None
    ci_low: float | None
    ci_high: float | None
    boot_low: float | None
    boot_high: float | None
    wilcoxon_p: float | None
    ttest_p: float | None
    p_adjusted: float | None
    min_attainable_p: float | None
    mde: float | None
    seeds_for_delta: int | None
    verdict: str | None


@dataclass(frozen=True)
class TaskTest:
    """The design of one task as tested (a row of ``task_tests``): its reference, margin, power and notes."""

    suite: str
    task_label: str
    task: str
    reference: str | None
    metric: str | None
    score: str | None
    units: str
    delta: float | None
    alpha: float
    comparisons: int
    n_seeds: int
    sd_pooled: float | None
    mde: float | None
    min_attainable_p: float
    note: str | None  # NO_BASELINE, or why nothing could be tested

    @property
    def reaches_alpha(self) -> bool:
        return self.min_attainable_p < self.alpha


@dataclass(frozen=True)
class AcrossRow:
    """A configuration across a suite's tasks of one unit (a row of ``across_tasks``)."""

    suite: str
    units: str
    config: str
    n_tasks: int
    n_pairs: int
    iqm: float
    iqm_low: float
    iqm_high: float
    poi: float
    poi_low: float
    poi_high: float


@dataclass(frozen=True)
class RankRow:
    """Bootstrap rank interval of a configuration over a suite's tasks (a row of ``rank_intervals``)."""

    suite: str
    config: str
    rank: float
    mean_rank: float
    rank_low: float
    rank_high: float
    n_tasks: int
    best: bool  # contract A's best_method: its interval is alone at the top


@dataclass
class Results:
    significance: list[SignificanceResult] = field(default_factory=list)
    tasks: list[TaskTest] = field(default_factory=list)
    across: list[AcrossRow] = field(default_factory=list)
    ranks: list[RankRow] = field(default_factory=list)
    cd_ranks: list[tuple[str, str, float]] = field(default_factory=list)  # (suite, config, average rank)
    cd_cliques: list[tuple[str, int, str]] = field(default_factory=list)  # (suite, clique index, config)


# --- differences in the report's units -------------------------------------------------------------

def units_for(metric: str) -> str:
    return UNITS_BY_METRIC.get(metric, DEFAULT_UNITS)


def signed_difference(method: float, baseline: float, *, units: str, higher_is_better: bool) -> float | None:
    """``method`` relative to ``baseline`` in ``units``, > 0 = better; None for a log ratio of non-positive values."""
    if units == "log_ratio":
        if not (method > 0 and baseline > 0):
            return None
        r = math.log(method / baseline)
        return r if higher_is_better else -r
    scale = 100.0 if units == "points" else 1.0
    d = scale * (method - baseline)
    return d if higher_is_better else -d


def exact_mean(values: Iterable[float]) -> float:
    """Mean that depends only on the set of values (``math.fsum`` is exactly rounded)."""
    vals = list(values)
    return math.fsum(vals) / len(vals)


# --- reading the views -------------------------------------------------------------------------------

@dataclass
class _Task:
    suite: str
    task_label: str
    task: str
    metric: str
    higher_is_better: bool = True
    # (group, config) -> seed -> values (a list, so that duplicate seeds are seen, not overwritten)
    scores: dict[tuple[str, str], dict[int, list[float]]] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)
    has_ood: bool = False
    domain_values: dict[tuple[str, str], dict[int, list[float]]] = field(default_factory=dict)  # (config, domain)


def _read_tasks(con) -> dict[tuple[str, str], _Task]:
    tasks: dict[tuple[str, str], _Task] = {}
    rows = con.execute(
        """
        SELECT ra.suite, ra.task_label, ra.task, ra.metric, ra.higher_is_better, ra.config, ra.method, ra.seed,
               ra.checkpoint, ra.id_avg, ra.ood_avg
        FROM run_averages ra JOIN primary_metric pm USING (suite, task_label, metric)
        WHERE ra.split = 'test' AND ra.checkpoint IN ('selected', 'final')
        ORDER BY ra.suite, ra.task_label, ra.config, ra.seed, ra.run_id
        """
    ).fetchall()
    for suite, label, task, metric, hib, config, method, seed, ckpt, id_avg, ood_avg in rows:
        t = tasks.setdefault((suite, label), _Task(suite, label, task, metric))
        t.higher_is_better = bool(hib)
        t.methods[config] = method
        t.has_ood = t.has_ood or ood_avg is not None
    for suite, label, task, metric, hib, config, method, seed, ckpt, id_avg, ood_avg in rows:
        t = tasks[(suite, label)]
        # The score is the OOD average; a task without OOD domains is scored in-domain.
        score = ood_avg if t.has_ood else id_avg
        groups = [("primary", score), ("in_domain", id_avg)] if ckpt == "selected" else [("final", score)]
        for group, value in groups:
            if value is not None and math.isfinite(value):
                t.scores.setdefault((group, config), {}).setdefault(int(seed), []).append(float(value))
    for suite, label, config, domain, seed, value in con.execute(
        """
        SELECT rv.suite, rv.task_label, rv.config, rv.domain, rv.seed, rv.value
        FROM run_values rv JOIN primary_metric pm USING (suite, task_label, metric)
        WHERE rv.split = 'test' AND rv.checkpoint = 'selected' AND NOT rv.in_domain
        ORDER BY rv.suite, rv.task_label, rv.config, rv.domain, rv.seed, rv.run_id
        """
    ).fetchall():
        t = tasks.get((suite, label))
        if t is not None and value is not None and math.isfinite(value):
            t.domain_values.setdefault((config, domain), {}).setdefault(int(seed), []).append(float(value))
    return tasks


def _dicts(con, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


# --- per task ------------------------------------------------------------------------------------------

def _single(per_seed: Mapping[int, list[float]]) -> tuple[dict[int, float], list[int]]:
    """Seeds with exactly one value, and the seeds that have more (duplicates)."""
    ok = {s: v[0] for s, v in per_seed.items() if len(v) == 1}
    dup = sorted(s for s, v in per_seed.items() if len(v) > 1)
    return ok, dup


def _diffs(method: Mapping[int, float], base: Mapping[int, float], units: str, hib: bool) -> dict[int, float]:
    out = {}
    for seed in sorted(set(method) & set(base)):
        d = signed_difference(method[seed], base[seed], units=units, higher_is_better=hib)
        if d is not None:
            out[seed] = d
    return out


def _describe(diffs: list[float]) -> dict[str, float | None]:
    """Mean, SD, 95% t interval, bootstrap interval (n >= 10) and the two p-values, unadjusted."""
    from scipy import stats

    n = len(diffs)
    out: dict[str, float | None] = {"mean_diff": None, "sd_diff": None, "ci_low": None, "ci_high": None,
                                    "boot_low": None, "boot_high": None, "wilcoxon_p": None, "ttest_p": None}
    if n == 0:
        return out
    # Rounded as the decision test rounds (paired.TIE_DECIMALS): a spread of float noise between two
    # equal accuracies is no spread, and a t-test of it would be a meaningless warning.
    diffs = [round(d, paired.TIE_DECIMALS) for d in diffs]
    mean, sd = paired.mean_sd(diffs)
    out["mean_diff"], out["sd_diff"] = _finite(mean), _finite(sd)
    if n >= 2:
        _, low, high = paired.t_interval(diffs)
        out["ci_low"], out["ci_high"] = _finite(low), _finite(high)
        if out["sd_diff"]:
            out["ttest_p"] = _finite(float(stats.ttest_1samp(sorted(diffs), 0.0).pvalue))
    boot = paired.bootstrap_interval(diffs)
    if boot is not None:
        out["boot_low"], out["boot_high"] = _finite(boot[0]), _finite(boot[1])
    out["wilcoxon_p"] = paired.exact_wilcoxon_p(diffs)
    return out


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _worst_domain(t: _Task, baseline: str) -> str | None:
    means = {}
    for (config, domain), per_seed in t.domain_values.items():
        if config == baseline:
            vals, _ = _single(per_seed)
            if vals:
                means[domain] = exact_mean(sorted(vals.values()))
    if len(means) < 2:  # one OOD domain is the OOD average itself
        return None
    sign = 1.0 if t.higher_is_better else -1.0
    return min(means, key=lambda d: (sign * means[d], d))


def _task_results(t: _Task, design: Mapping[str, Any] | None, baseline: str | None, planned: list[str],
                  out: Results) -> dict[str, dict[int, float]]:
    """Append the task's rows to ``out``; return the primary differences per configuration (config -> seed -> diff)."""
    alpha = float(design["alpha"]) if design and design.get("alpha") is not None else DEFAULT_ALPHA
    units = (design or {}).get("units") or units_for(t.metric)
    delta = (design or {}).get("delta")
    delta = None if delta is None else float(delta)
    family = [c for c in planned if c != baseline and t.methods.get(c, _method_of(c)) != ZERO_SHOT]
    m = len(family) if baseline is not None or design is None or design.get("comparisons") is None else int(
        design["comparisons"])
    n_seeds = int(design["n_seeds"]) if design and design.get("n_seeds") is not None else 0
    score = "ood_avg" if t.has_ood else "id_avg"
    if baseline is None:
        out.tasks.append(TaskTest(t.suite, t.task_label, t.task, None, t.metric, score, units, delta, alpha, m,
                                  n_seeds, None, None, paired.min_attainable_p(n_seeds, max(m, 1)), NO_BASELINE))
        return {}

    def values(group: str, config: str) -> dict[int, float]:
        return _single(t.scores.get((group, config), {}))[0]

    primary: dict[str, dict[int, float]] = {}
    for c in family:
        primary[c] = _diffs(values("primary", c), values("primary", baseline), units, t.higher_is_better)
    decisions = {}
    if family:
        # No margin declared (a family without a default): the smallest positive margin, which no
        # interval lies inside, so equivalence is never claimed.
        margin = delta if delta is not None and delta > 0 else math.ulp(0.0)
        for comp in paired.compare_family({c: [primary[c][s] for s in sorted(primary[c])] for c in family},
                                          alpha=alpha, delta=margin):
            decisions[comp.config] = comp
    sds = [decisions[c].sd_diff for c in family if c in decisions]
    sd = pooled_sd(sds)
    power = task_power(m=m, n=n_seeds or max((len(v) for v in primary.values()), default=0), alpha=alpha,
                       delta=delta, units=units, sd=sd)
    out.tasks.append(TaskTest(t.suite, t.task_label, t.task, baseline, t.metric, score, units, delta, alpha, m,
                              power.n, sd, power.mde, power.min_attainable_p, None))
    worst = _worst_domain(t, baseline)
    common = dict(suite=t.suite, task_label=t.task_label, task=t.task, metric=t.metric,
                  higher_is_better=t.higher_is_better, units=units, delta=delta, alpha=alpha, comparisons=m,
                  reference=baseline)
    for c in family:
        comp = decisions[c]
        tested = comp.n_pairs > 0  # a planned configuration without paired runs yet has no verdict
        out.significance.append(SignificanceResult(
            group="primary", checkpoint="selected", score=score, config=c, method=t.methods.get(c, _method_of(c)),
            n_pairs=comp.n_pairs, mean_diff=comp.mean_diff, sd_diff=comp.sd_diff, ci_low=comp.ci_low,
            ci_high=comp.ci_high, boot_low=comp.boot_low, boot_high=comp.boot_high, wilcoxon_p=comp.wilcoxon_p,
            ttest_p=comp.ttest_p, p_adjusted=comp.p_adjusted if tested else None,
            min_attainable_p=comp.min_attainable_p, mde=_finite(comp.mde),
            seeds_for_delta=comp.seeds_for_delta if delta is not None else None,
            verdict=comp.verdict if tested else None, **common))
        groups: list[tuple[str, str, str, dict[int, float], dict[int, float]]] = []
        if t.has_ood:
            groups.append(("in_domain", "selected", "id_avg", values("in_domain", c), values("in_domain", baseline)))
        if worst is not None:
            groups.append(("worst_ood", "selected", f"domain:{worst}",
                           _single(t.domain_values.get((c, worst), {}))[0],
                           _single(t.domain_values.get((baseline, worst), {}))[0]))
        groups.append(("final", "final", score, values("final", c), values("final", baseline)))
        for group, ckpt, sc, mv, bv in groups:
            dd = _diffs(mv, bv, units, t.higher_is_better)
            out.significance.append(SignificanceResult(
                group=group, checkpoint=ckpt, score=sc, config=c, method=t.methods.get(c, _method_of(c)),
                n_pairs=len(dd), **_describe([dd[s] for s in sorted(dd)]), p_adjusted=None, min_attainable_p=None,
                mde=None, seeds_for_delta=None, verdict=None, **common))
    return primary


def _method_of(config: str) -> str:
    return config.split("[", 1)[0].split(" ", 1)[0]


# --- across tasks ------------------------------------------------------------------------------------------

def _across(suite: str, by_units: Mapping[str, Mapping[str, Mapping[str, Mapping[int, float]]]], out: Results) -> None:
    """``by_units``: units -> config -> task -> seed -> primary difference to the task's baseline."""
    for units in sorted(by_units):
        for config in sorted(by_units[units]):
            diffs = {task: dict(v) for task, v in by_units[units][config].items() if v}
            if not diffs:
                continue
            est = across.iqm_estimate(diffs)
            poi = across.probability_of_improvement(diffs)
            out.across.append(AcrossRow(suite, units, config, len(diffs), sum(len(v) for v in diffs.values()),
                                        est.value, est.low, est.high, poi.value, poi.low, poi.high))


def _ranks(suite: str, scores: Mapping[str, Mapping[str, Mapping[int, float]]], out: Results) -> None:
    """``scores``: config -> task -> seed -> primary score signed so that higher is better."""
    tasks = set().union(*(set(v) for v in scores.values())) if scores else set()
    complete = {c: v for c, v in scores.items() if set(v) == tasks and all(v[t] for t in tasks)}
    if len(complete) < 2 or not tasks:
        return
    intervals = across.rank_intervals(complete)
    best = across.best_method(intervals)
    for r in intervals:
        out.ranks.append(RankRow(suite, r.method, float(r.rank), float(r.mean_rank), float(r.low), float(r.high),
                                 len(tasks), r.method == best))
    cd = across.cd_diagram_data(complete)
    if cd is not None:
        for config, rank in sorted(cd.avg_ranks.items()):
            out.cd_ranks.append((suite, config, float(rank)))
        for i, clique in enumerate(cd.cliques):
            for config in clique:
                out.cd_cliques.append((suite, i, config))


# --- entry points -------------------------------------------------------------------------------------------

def compute_significance(con) -> Results:
    """Every table of this module from the report views on ``con`` (see the module docstring)."""
    tasks = _read_tasks(con)
    designs = {(d["suite"], d["task_label"]): d for d in _dicts(con, "SELECT * FROM task_design")}
    baselines = {(d["suite"], d["task_label"]): d["config"] for d in _dicts(con, "SELECT * FROM task_baseline")}
    planned: dict[tuple[str, str], list[str]] = {}
    for d in _dicts(con, "SELECT DISTINCT suite, task_label, config FROM cells ORDER BY config"):
        planned.setdefault((d["suite"], d["task_label"]), []).append(d["config"])
    out = Results()
    diffs_by_suite: dict[str, dict[str, dict[str, dict[str, dict[int, float]]]]] = {}
    scores_by_suite: dict[str, dict[str, dict[str, dict[int, float]]]] = {}
    for key in sorted(tasks):
        t = tasks[key]
        base = baselines.get(key)
        primary = _task_results(t, designs.get(key), base, planned.get(key, []), out)
        units = next((r.units for r in out.tasks if (r.suite, r.task_label) == key), units_for(t.metric))
        for config, d in primary.items():
            if d:
                diffs_by_suite.setdefault(t.suite, {}).setdefault(units, {}).setdefault(config, {})[t.task_label] = d
        sign = 1.0 if t.higher_is_better else -1.0
        for (group, config), per_seed in t.scores.items():
            if group == "primary":
                vals = _single(per_seed)[0]
                if vals:
                    scores_by_suite.setdefault(t.suite, {}).setdefault(config, {})[t.task_label] = {
                        s: sign * v for s, v in vals.items()}
    for suite in sorted(set(diffs_by_suite) | set(scores_by_suite)):
        _across(suite, diffs_by_suite.get(suite, {}), out)
        _ranks(suite, scores_by_suite.get(suite, {}), out)
    return out


_SQL_TYPES = {"str": "VARCHAR", "bool": "BOOLEAN", "int": "INTEGER", "float": "DOUBLE"}


def _create(con, name: str, cls, rows: list[tuple], temporary: bool) -> None:
    cols = []
    for f in fields(cls):
        base = f.type.split("|")[0].strip() if isinstance(f.type, str) else f.type.__name__
        cols.append(f"\"{f.name}\" {_SQL_TYPES[base]}")  # quoted: \"group\" is an SQL keyword
    con.execute(f"CREATE OR REPLACE {'TEMP ' if temporary else ''}TABLE {name} ({', '.join(cols)})")
    from tram_bench.report.published import insert_rows

    insert_rows(con, name, rows)


def create_significance_table(con, *, temporary: bool = True) -> Results:
    """Create ``significance``, ``task_tests``, ``across_tasks``, ``rank_intervals``,
    ``cd_ranks`` and ``cd_cliques`` on ``con`` (needs the report views) and return their rows."""
    res = compute_significance(con)
    _create(con, "significance", SignificanceResult, [astuple(r) for r in res.significance], temporary)
    _create(con, "task_tests", TaskTest, [astuple(r) for r in res.tasks], temporary)
    _create(con, "across_tasks", AcrossRow, [astuple(r) for r in res.across], temporary)
    _create(con, "rank_intervals", RankRow, [astuple(r) for r in res.ranks], temporary)
    tmp = "TEMP " if temporary else ""
    con.execute(f"CREATE OR REPLACE {tmp}TABLE cd_ranks (suite VARCHAR, config VARCHAR, avg_rank DOUBLE)")
    con.execute(f"CREATE OR REPLACE {tmp}TABLE cd_cliques (suite VARCHAR, clique INTEGER, config VARCHAR)")
    from tram_bench.report.published import insert_rows

    insert_rows(con, "cd_ranks", res.cd_ranks)
    insert_rows(con, "cd_cliques", res.cd_cliques)
    return res
