"""Test the claims ledger on a results store: one row per (suite, claim, task), one verdict per (suite, claim).

Rules (docs/claims.md states them for readers):

- **Where a claim is tested.** On every task of a suite whose family the claim is about, when the
  task can test it: the subject and every competitor ran there as exactly one configuration each
  (a gridded method names no single variant, so it is not chosen after the fact), ``@baseline`` is
  the task's declared baseline, the claim's metric exists (``sharpness``/``cka`` need the analysis
  enabled), the task has OOD domains for an ``ood_avg`` claim, and at least two seeds pair up.
  Otherwise the row says ``not testable here`` with the reason.
- **Paired differences**, per seed, signed so that > 0 means the subject is better, in the task's
  units (points of accuracy, log perplexity ratio; analysis metrics in their own units):
  :func:`tram_bench.report.significance.signed_difference`, as the significance table computes them.
- **One p-value per (claim, task).** Each competitor gets the exact two-sided Wilcoxon signed-rank p
  of its paired differences (:func:`tram_bench.stats.paired.exact_wilcoxon_p`) and a side (the sign of
  the signed-rank sum). When every competitor's side agrees with the claim, the claim's p is the
  largest of them (an intersection-union test: the claim needs all of them); otherwise it is the
  Bonferroni bound ``k * min p`` over the competitors on the other side (the claim fails if any one
  of them wins).
- **A severity claim** regresses, per seed, the subject's gain over the baseline in each OOD domain on
  that domain's severity for the baseline (relative drop from in-domain accuracy, or log perplexity
  ratio), averaged over the *other* seeds so that a seed's own baseline noise is not on both axes;
  the per-seed slopes are tested against 0 with the same exact test.
- **Family.** The testable (claim, task) rows of a suite form one Holm family (at the suite's alpha),
  apart from the per-task comparison families of the significance table. Verdicts: ``reproduced``
  (Holm-adjusted p < alpha on the claim's side), ``contradicted`` (on the other side), else
  ``inconclusive`` with the minimal detectable effect of the binding comparison at alpha/m (or the
  note that alpha is out of reach).
- **Suite verdict** (:func:`combine`): contradicted on any task -> ``contradicted``; else reproduced on
  any task -> ``reproduced``; else tested anywhere -> ``inconclusive``; else ``not testable here``.

Every verdict is a CPU-scale stand-in for the paper's setting (``stand_in``), unless the task is an
exact published setup (``published/mapping.yaml``).
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass, field, fields
from typing import Any, Iterable, Mapping, Sequence

from tram_bench.report.claims.ledger import BASELINE, Claim, load_claims
from tram_bench.report.published import PublishedData, insert_rows, read_published
from tram_bench.report.significance import signed_difference, units_for
from tram_bench.methods.kinds import PLAIN
from tram_bench.report.kinds import kind_of, method_kinds
from tram_bench.stats import paired
from tram_bench.suite.design import DEFAULT_ALPHA

VERDICTS = ("reproduced", "contradicted", "inconclusive", "not testable here")
#: What ``@baseline`` may stand for: a method whose recorded kind is plain (``tram_bench.methods.plain``;
#: ``adam`` includes ``base: adamw``), the paper's "base optimizer alone".
BASELINE_KIND = PLAIN
NOT_TESTABLE = "not testable here"
#: Fewest paired seeds for a tested row (a mean, an SD and an interval need two).
MIN_PAIRS = 2
#: Fewest OOD domains for a severity slope (a line through two points has no residual).
MIN_SEVERITY_DOMAINS = 3


@dataclass(frozen=True)
class ClaimRow:
    """One claim on one task of one suite (a row of the ``claims`` table).

    ``effect``, ``ci_low``/``ci_high`` (95% t interval) and ``n_pairs`` belong to the binding
    comparison ``binding`` (the competitor whose test decides the claim), in ``units`` and signed so
    that > 0 = the subject is better; for a severity claim they are the mean per-seed slope.
    ``p_value`` is the claim's p before adjustment, ``p_adjusted`` after Holm over the suite's
    testable rows (``family_size`` of them). ``mde`` and ``seeds_for_delta`` are set for an
    inconclusive row where they are defined. ``reason`` says why a row is not testable, or what
    decided an inconclusive one.
    """

    suite: str
    claim_id: str
    task_label: str
    task: str
    family: str | None
    stand_in: str
    subject: str
    competitors: str
    binding: str | None
    metric: str
    score: str
    units: str | None
    direction: str
    n_pairs: int
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_adjusted: float | None
    family_size: int
    alpha: float
    min_attainable_p: float | None
    mde: float | None
    seeds_for_delta: int | None
    verdict: str
    reason: str


@dataclass(frozen=True)
class ClaimVerdict:
    """A claim's verdict in one suite (a row of ``claims_summary``), by :func:`combine` over its task rows."""

    suite: str
    claim_id: str
    statement: str
    source: str
    verdict: str
    n_tasks: int
    n_tested: int
    n_reproduced: int
    n_contradicted: int
    reason: str
    evidence: str


@dataclass
class ClaimsResult:
    rows: list[ClaimRow] = field(default_factory=list)
    verdicts: list[ClaimVerdict] = field(default_factory=list)


# --- the store, as the claims need it ----------------------------------------------------------------

@dataclass
class _Task:
    suite: str
    label: str
    task: str
    family: str | None = None
    alpha: float = DEFAULT_ALPHA
    delta: float | None = None
    units: str | None = None
    baseline: str | None = None  # configuration name
    primary_metric: str | None = None
    configs: dict[str, list[str]] = field(default_factory=dict)  # method -> its configurations here
    kinds: dict[str, str] = field(default_factory=dict)  # method -> kind, as the store records it
    # (metric, score, config) -> seed -> values; a list so that a duplicate seed is seen, never overwritten
    scores: dict[tuple[str, str, str], dict[int, list[float]]] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)  # metric -> direction
    # (config, domain) -> seed -> values of the primary metric (test split, selected checkpoint)
    domains: dict[tuple[str, str], dict[int, list[float]]] = field(default_factory=dict)
    id_domains: set[str] = field(default_factory=set)


def _rows(con, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _read(con) -> dict[tuple[str, str], _Task]:
    tasks: dict[tuple[str, str], _Task] = {}
    kinds = method_kinds(con)
    for r in _rows(con, "SELECT DISTINCT suite, task_label, task, method, config FROM cells ORDER BY config"):
        t = tasks.setdefault((r["suite"], r["task_label"]),
                             _Task(r["suite"], r["task_label"], r["task"], kinds=kinds))
        t.configs.setdefault(r["method"], []).append(r["config"])
    for r in _rows(con, "SELECT * FROM task_design"):
        t = tasks.get((r["suite"], r["task_label"]))
        if t is None:
            continue
        t.family = r["family"]
        t.alpha = float(r["alpha"]) if r["alpha"] is not None else DEFAULT_ALPHA
        t.delta = None if r["delta"] is None else float(r["delta"])
        t.units = r["units"]
    for r in _rows(con, "SELECT suite, task_label, config FROM task_baseline"):
        if (r["suite"], r["task_label"]) in tasks:
            tasks[(r["suite"], r["task_label"])].baseline = r["config"]
    for r in _rows(con, "SELECT suite, task_label, metric FROM primary_metric"):
        if (r["suite"], r["task_label"]) in tasks:
            tasks[(r["suite"], r["task_label"])].primary_metric = r["metric"]
    for r in _rows(con, """
            SELECT suite, task_label, config, seed, metric, higher_is_better, id_avg, ood_avg FROM run_averages
            WHERE split = 'test' AND checkpoint = 'selected' ORDER BY suite, task_label, config, seed, run_id"""):
        t = tasks.get((r["suite"], r["task_label"]))
        if t is None:
            continue
        metric = "primary" if r["metric"] == t.primary_metric else r["metric"]
        t.higher_is_better[metric] = bool(r["higher_is_better"])
        for score in ("id_avg", "ood_avg"):
            value = r[score]
            if value is not None and math.isfinite(value):
                t.scores.setdefault((metric, score, r["config"]), {}).setdefault(int(r["seed"]), []).append(
                    float(value))
    for r in _rows(con, """
            SELECT rv.suite, rv.task_label, rv.config, rv.seed, rv.domain, rv.in_domain, rv.value
            FROM run_values rv JOIN primary_metric pm USING (suite, task_label, metric)
            WHERE rv.split = 'test' AND rv.checkpoint = 'selected'
            ORDER BY rv.suite, rv.task_label, rv.config, rv.domain, rv.seed, rv.run_id"""):
        t = tasks.get((r["suite"], r["task_label"]))
        if t is None or r["value"] is None or not math.isfinite(r["value"]):
            continue
        if r["in_domain"]:
            t.id_domains.add(r["domain"])
        t.domains.setdefault((r["config"], r["domain"]), {}).setdefault(int(r["seed"]), []).append(float(r["value"]))
    return tasks


def _single(per_seed: Mapping[int, list[float]]) -> dict[int, float]:
    """Seeds with exactly one value: a duplicate seed (an error in the report) pairs with nothing."""
    return {s: v[0] for s, v in per_seed.items() if len(v) == 1}


# --- one (claim, task) ------------------------------------------------------------------------------------

@dataclass
class _Pending:
    """A testable row before the family's adjustment."""

    claim: Claim
    task: _Task
    binding: str
    diffs: list[float]  # of the binding comparison, > 0 = the subject is better
    p_value: float
    supports: bool  # True: the p is for the claim's side; False: against it
    units: str
    score: str
    competitors: str
    delta: float | None
    note: str = ""


class _NotTestable(Exception):
    pass


def _config(t: _Task, method: str) -> str:
    if method == BASELINE:
        if t.baseline is None:
            raise _NotTestable("no declared baseline for this task")
        base = next((m for m, cs in t.configs.items() if t.baseline in cs), None)
        if base is None or kind_of(t.kinds, base) != BASELINE_KIND:
            # The paper's claims compare with the base optimizer alone; a suite may declare another baseline.
            raise _NotTestable(f"the declared baseline {t.baseline} is not a plain base optimizer")
        return t.baseline
    configs = t.configs.get(method, [])
    if not configs:
        raise _NotTestable(f"{method} does not run on this task")
    if len(configs) > 1:
        raise _NotTestable(f"{method} has {len(configs)} configurations here ({', '.join(configs)}); "
                           "the claim names none of them")
    return configs[0]


def _configs(claim: Claim, t: _Task) -> tuple[str, list[str]]:
    missing = [m for m in (claim.subject, *claim.competitors) if m != BASELINE and m not in t.configs]
    if missing:
        raise _NotTestable(f"not in this task's methods: {', '.join(missing)}")
    subject = _config(t, claim.subject)
    competitors = [_config(t, c) for c in claim.competitors]
    if subject in competitors:
        raise _NotTestable(f"{claim.subject} is this task's baseline itself")
    return subject, competitors


def _side(diffs: Sequence[float]) -> int:
    """+1 when the signed-rank sum of ``diffs`` is positive, -1 when negative, 0 when it is zero.

    Rounded and stripped of zeros as :mod:`tram_bench.stats.paired` does, so the side is the one its
    exact test rejects on.
    """
    import numpy as np
    from scipy import stats

    x = np.round(np.asarray(list(diffs), dtype=np.float64), paired.TIE_DECIMALS)
    x = x[x != 0.0]
    if len(x) == 0:
        return 0
    ranks = stats.rankdata(np.abs(x))
    total = float(ranks[x > 0].sum() - ranks[x < 0].sum())
    return (total > 0) - (total < 0)


def _paired(t: _Task, metric: str, score: str, units: str, a: str, b: str) -> list[float]:
    """Per-seed differences of configuration ``a`` over ``b`` (> 0 = ``a`` better), in seed order."""
    hib = t.higher_is_better.get(metric, True)
    va = _single(t.scores.get((metric, score, a), {}))
    vb = _single(t.scores.get((metric, score, b), {}))
    out = []
    for seed in sorted(set(va) & set(vb)):
        d = signed_difference(va[seed], vb[seed], units=units, higher_is_better=hib)
        if d is not None:
            out.append(d)
    return out


def _units(claim: Claim, t: _Task) -> tuple[str, float | None]:
    """Units of the claim's differences on ``t`` and the equivalence margin they share (None: no margin).

    An analysis metric keeps its own scale (sharpness x100 relative to 1 + loss, CKA in [0, 1]); its
    units are named by the metric, and no margin is declared for it.
    """
    if claim.metric == "primary":
        units = t.units or units_for(t.primary_metric or "")
        return units, t.delta
    return claim.metric, None


def _compare(claim: Claim, t: _Task) -> _Pending:
    subject, competitors = _configs(claim, t)
    metric = claim.metric
    if not any(k[0] == metric and k[2] == subject for k in t.scores):
        what = f"analysis {metric!r} not enabled (no {metric} values)" if metric != "primary" else "no results yet"
        raise _NotTestable(f"{what} for {subject}")
    if claim.group == "ood_avg" and not any(k[0] == metric and k[1] == "ood_avg" for k in t.scores):
        raise _NotTestable("the task has no OOD domains")
    units, delta = _units(claim, t)
    diffs_by = {}
    for c in competitors:
        diffs = _paired(t, metric, claim.group, units, subject, c)
        if len(diffs) < MIN_PAIRS:
            raise _NotTestable(f"{len(diffs)} paired seed(s) of {subject} and {c} (need {MIN_PAIRS})")
        diffs_by[c] = diffs
    binding, p, supports = decide(diffs_by, claim.direction)
    return _Pending(claim, t, binding, diffs_by[binding], p, supports, units, claim.group,
                    ", ".join(competitors), delta)


def decide(diffs_by_competitor: Mapping[str, Sequence[float]], direction: str) -> tuple[str, float, bool]:
    """One claim's p-value from its comparisons (module docstring): ``(binding competitor, p, supports)``.

    Args:
        diffs_by_competitor: competitor -> paired differences subject minus competitor (> 0 = subject
            better), in any units; at least one competitor.
        direction: ``better`` (the claim: the subject beats each) or ``worse`` (it loses to each).

    Returns:
        When every comparison lies on the claim's side (the sign of its signed-rank sum): the competitor
        with the largest exact Wilcoxon p, that p, True (intersection-union). Otherwise, when some lie on
        the other side: the one of those with the smallest p, ``min(1, k * p)``, False (Bonferroni over
        the k comparisons). A comparison with no side (zero signed-rank sum) and none against: it, 1, True.
    """
    sign = 1.0 if direction == "better" else -1.0
    tests = []
    for c, diffs in diffs_by_competitor.items():
        p = paired.exact_wilcoxon_p(diffs)
        tests.append((c, 1.0 if p is None else p, _side([sign * d for d in diffs])))
    if all(side > 0 for _, _, side in tests):
        c, p, _ = max(tests, key=lambda x: x[1])  # the weakest comparison decides an intersection-union test
        return c, p, True
    against = [x for x in tests if x[2] < 0]
    if against:
        c, p, _ = min(against, key=lambda x: x[1])
        return c, min(1.0, len(tests) * p), False
    c = next(x[0] for x in tests if x[2] == 0)  # a tie: the claim can be neither shown nor refuted by it
    return c, 1.0, True


def _severity(claim: Claim, t: _Task) -> _Pending:
    """The subject's per-seed slope of gain on (leave-one-seed-out) baseline severity; see the module docstring."""
    subject, (base,) = _configs(claim, t)
    hib = t.higher_is_better.get("primary", True)
    units = t.units or units_for(t.primary_metric or "")
    ood = sorted({d for (c, d) in t.domains if c == base and d not in t.id_domains})
    if len(ood) < MIN_SEVERITY_DOMAINS:
        raise _NotTestable(f"{len(ood)} OOD domain(s) (a severity slope needs {MIN_SEVERITY_DOMAINS})")

    def per_seed(config: str, domain: str) -> dict[int, float]:
        return _single(t.domains.get((config, domain), {}))

    in_domain = {}
    for seed in set().union(*(per_seed(base, d).keys() for d in t.id_domains)) if t.id_domains else set():
        vals = [per_seed(base, d).get(seed) for d in sorted(t.id_domains)]
        if all(v is not None for v in vals):
            in_domain[seed] = math.fsum(vals) / len(vals)
    seeds = sorted(s for s in in_domain if all(s in per_seed(base, d) and s in per_seed(subject, d) for d in ood))
    if len(seeds) < MIN_PAIRS:
        raise _NotTestable(f"{len(seeds)} seed(s) with every OOD domain for {subject} and {base} (need {MIN_PAIRS})")
    try:
        slopes = severity_slopes({d: {s: per_seed(subject, d)[s] for s in seeds} for d in ood},
                                 {d: {s: per_seed(base, d)[s] for s in seeds} for d in ood},
                                 {s: in_domain[s] for s in seeds}, units=units, higher_is_better=hib)
    except ValueError as exc:
        raise _NotTestable(str(exc)) from None
    _, p, supports = decide({base: slopes}, claim.direction)
    return _Pending(claim, t, base, slopes, p, supports, f"{units} per unit severity", "severity slope", base, None,
                    note=f"{len(ood)} OOD domains")


def severity_slopes(subject: Mapping[str, Mapping[int, float]], base: Mapping[str, Mapping[int, float]],
                    in_domain: Mapping[int, float], *, units: str, higher_is_better: bool) -> list[float]:
    """Per seed, the OLS slope of the subject's gain over the baseline on the baseline's shift severity.

    Args:
        subject, base: OOD domain -> seed -> value of the primary metric (the same domains and seeds).
        in_domain: seed -> the baseline's in-domain value (at least two seeds).
        units: the gain's units (:func:`tram_bench.report.significance.signed_difference`).
        higher_is_better: the metric's direction.

    Returns:
        One slope per seed, in sorted seed order: gain (> 0 = subject better) per unit of severity.
        A domain's severity is the baseline's relative drop from in-domain ((id - b) / id, accuracy) or
        its log ratio to in-domain (ln(b / id), perplexity), averaged over the *other* seeds, so that a
        seed's own baseline noise, which also enters its gains, is not on the x axis too.

    Raises:
        ValueError: fewer than :data:`MIN_SEVERITY_DOMAINS` usable domains for a seed, or severities that
            do not differ between domains.
    """
    from scipy import stats

    def severity(domain: str, seed: int) -> float | None:
        i, b = in_domain[seed], base[domain][seed]
        if higher_is_better:
            return (i - b) / i if i != 0 else None
        return math.log(b / i) if b > 0 and i > 0 else None

    seeds = sorted(in_domain)
    slopes = []
    for seed in seeds:
        xs, ys = [], []
        for d in sorted(base):
            others = [severity(d, s) for s in seeds if s != seed]
            gain = signed_difference(subject[d][seed], base[d][seed], units=units, higher_is_better=higher_is_better)
            if gain is None or not others or any(o is None for o in others):
                continue
            xs.append(math.fsum(others) / len(others))
            ys.append(gain)
        if len(xs) < MIN_SEVERITY_DOMAINS or max(xs) - min(xs) <= 0:
            raise ValueError("the OOD domains do not differ in severity for the baseline")
        slopes.append(float(stats.linregress(xs, ys).slope))
    return slopes


# --- the suite ----------------------------------------------------------------------------------------------

def _stand_in(claim: Claim, t: _Task, published: PublishedData) -> str:
    info = published.tables.get(claim.source.table)
    title = f"Table {claim.source.table}" + (f", {info.title}" if info else "")
    if any(m.task == t.task and m.table == claim.source.table for m in published.mapping.tasks):
        return f"the published setup ({title})"
    return f"CPU-scale stand-in for the paper's setting ({title})"


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _row(p: _Pending, adjusted: float, m: int, n_max: int, alpha: float, published: PublishedData) -> ClaimRow:
    """The row of a tested claim; ``n_max`` is the most pairs any row of the family has.

    Its smallest attainable adjusted p: at least its own floor ``2 / 2**n`` (Holm multiplies by at least
    1), and at least the family's first step ``m * 2 / 2**n_max`` (Holm rejects nothing before the
    smallest p of the family passes alpha/m). With one n for the whole family this is ``m * 2 / 2**n``.
    """
    claim, t = p.claim, p.task
    # Rounded as the exact test rounds them: float noise between equal values is no spread and no effect.
    diffs = [round(d, paired.TIE_DECIMALS) for d in p.diffs]
    n = len(diffs)
    mean, low, high = paired.t_interval(diffs)
    _, sd = paired.mean_sd(diffs)
    floor = max(paired.min_attainable_p(n, 1), paired.min_attainable_p(n_max, m))
    mde = seeds = None
    if adjusted < alpha:
        verdict = "reproduced" if p.supports else "contradicted"
        reason = f"Holm-adjusted p {adjusted:.4g} < alpha {alpha:g}"
    else:
        verdict = "inconclusive"
        if floor >= alpha:
            reason = (f"cannot reach alpha {alpha:g}: smallest attainable adjusted p {floor:.3g} ({n} seeds, "
                      f"m = {m} in the family)")
        else:
            sd0 = 0.0 if not math.isfinite(sd) else sd
            mde = _finite(paired.mde(sd0, n, alpha / m))
            if p.delta is not None and p.delta > 0:
                seeds = paired.seeds_needed(sd0, p.delta, alpha / m)
            reason = f"Holm-adjusted p {adjusted:.4g} >= alpha {alpha:g}" + (
                f"; MDE {mde:.3g} {p.units}" if mde is not None else "")
    if p.note:
        reason += f" ({p.note})"
    return ClaimRow(
        suite=t.suite, claim_id=claim.id, task_label=t.label, task=t.task, family=t.family,
        stand_in=_stand_in(claim, t, published), subject=claim.subject, competitors=p.competitors, binding=p.binding,
        metric=t.primary_metric if claim.metric == "primary" else claim.metric, score=p.score, units=p.units,
        direction=claim.direction, n_pairs=n, effect=_finite(mean), ci_low=_finite(low), ci_high=_finite(high),
        p_value=p.p_value, p_adjusted=adjusted, family_size=m, alpha=alpha, min_attainable_p=floor, mde=mde,
        seeds_for_delta=seeds, verdict=verdict, reason=reason)


def _untested(claim: Claim, t: _Task, reason: str, alpha: float, published: PublishedData) -> ClaimRow:
    return ClaimRow(
        suite=t.suite, claim_id=claim.id, task_label=t.label, task=t.task, family=t.family,
        stand_in=_stand_in(claim, t, published), subject=claim.subject, competitors=", ".join(claim.competitors),
        binding=None, metric=t.primary_metric if claim.metric == "primary" else claim.metric,
        score="severity slope" if claim.kind == "severity_slope" else claim.group, units=None,
        direction=claim.direction, n_pairs=0, effect=None, ci_low=None, ci_high=None, p_value=None, p_adjusted=None,
        family_size=0, alpha=alpha, min_attainable_p=None, mde=None, seeds_for_delta=None, verdict=NOT_TESTABLE,
        reason=reason)


def combine(verdicts: Iterable[str]) -> str:
    """The suite verdict of a claim from its per-task verdicts (the stated rule, docs/claims.md).

    ``contradicted`` if any task contradicts it: every verdict comes from one Holm family at alpha, so
    a single contradiction is itself a family-wise-controlled finding, and a claim stated without
    restriction to a task does not survive a task where the opposite is shown. Otherwise
    ``reproduced`` if any task reproduces it (the others being inconclusive or untestable: absence of
    evidence is not evidence against). Otherwise ``inconclusive`` if any task could test it, else
    ``not testable here``.
    """
    vs = set(verdicts)
    unknown = vs - set(VERDICTS)
    if unknown:
        raise ValueError(f"unknown claim verdict(s): {sorted(unknown)}")
    for v in ("contradicted", "reproduced", "inconclusive"):
        if v in vs:
            return v
    return NOT_TESTABLE


def _summary(suite: str, claim: Claim, rows: list[ClaimRow], no_task_reason: str) -> ClaimVerdict:
    verdict = combine(r.verdict for r in rows)
    tested = [r for r in rows if r.verdict != NOT_TESTABLE]
    if not rows:
        reason = no_task_reason
    elif not tested:
        reason = "; ".join(f"{r.task_label}: {r.reason}" for r in rows)
    else:
        decided = [r for r in tested if r.verdict == verdict]
        reason = "; ".join(f"{r.task_label}: {r.reason}" for r in decided)
    return ClaimVerdict(suite=suite, claim_id=claim.id, statement=claim.statement, source=claim.source.text(),
                        verdict=verdict, n_tasks=len(rows), n_tested=len(tested),
                        n_reproduced=sum(r.verdict == "reproduced" for r in rows),
                        n_contradicted=sum(r.verdict == "contradicted" for r in rows), reason=reason,
                        evidence=claim.evidence_text())


def evaluate_claims(con, claims: Sequence[Claim] | None = None,
                    published: PublishedData | None = None) -> ClaimsResult:
    """Every claim on every suite of ``con`` (a connection with the report views; see the module docstring).

    Args:
        con: DuckDB connection on which :func:`tram_bench.report.views.create_views` has run.
        claims: the ledger (default: :func:`load_claims`).
        published: the published tables (default: :func:`read_published`), for the stand-in labels.

    Returns:
        Per-task rows and per-suite verdicts, suites and claims in a fixed order (sorted suites, file order).
    """
    published = published if published is not None else read_published()
    claims = tuple(claims) if claims is not None else load_claims(published=published)
    tasks = _read(con)
    out = ClaimsResult()
    for suite in sorted({s for s, _ in tasks}):
        suite_tasks = [tasks[k] for k in sorted(tasks) if k[0] == suite]
        alpha = min((t.alpha for t in suite_tasks), default=DEFAULT_ALPHA)
        pending: list[_Pending] = []
        untested: dict[tuple[str, str], ClaimRow] = {}
        for claim in claims:
            for t in suite_tasks:
                if not claim.applies_to(t.family):
                    continue
                try:
                    pending.append(_severity(claim, t) if claim.kind == "severity_slope" else _compare(claim, t))
                except _NotTestable as exc:
                    untested[(claim.id, t.label)] = _untested(claim, t, str(exc), alpha, published)
        adjusted = paired.holm([p.p_value for p in pending])
        n_max = max((len(p.diffs) for p in pending), default=0)
        done = {(p.claim.id, p.task.label): _row(p, a, len(pending), n_max, alpha, published)
                for p, a in zip(pending, adjusted)}
        done.update(untested)
        families = sorted({t.family or "unknown" for t in suite_tasks})
        for claim in claims:
            rows = [done[(claim.id, t.label)] for t in suite_tasks if (claim.id, t.label) in done]
            out.rows.extend(rows)
            about = ", ".join(claim.families) or "any"
            out.verdicts.append(_summary(suite, claim, rows,
                                         f"no task of family {about} in this suite (its tasks: {', '.join(families)})"))
    return out


_SQL_TYPES = {"str": "VARCHAR", "int": "INTEGER", "float": "DOUBLE"}


def _create(con, name: str, cls, rows: list[tuple], temporary: bool) -> None:
    cols = []
    for f in fields(cls):
        base = f.type.split("|")[0].strip() if isinstance(f.type, str) else f.type.__name__
        cols.append(f'"{f.name}" {_SQL_TYPES[base]}')
    con.execute(f"CREATE OR REPLACE {'TEMP ' if temporary else ''}TABLE {name} ({', '.join(cols)})")
    insert_rows(con, name, rows)


def create_claims_tables(con, *, temporary: bool = True, claims: Sequence[Claim] | None = None) -> ClaimsResult:
    """Create ``claims`` (per suite, claim and task) and ``claims_summary`` (per suite and claim) on ``con``.

    ``con`` needs the report views (:func:`tram_bench.report.views.create_views`). Temporary tables by
    default, so the store file is never written. Returns the rows.
    """
    res = evaluate_claims(con, claims)
    _create(con, "claims", ClaimRow, [astuple(r) for r in res.rows], temporary)
    _create(con, "claims_summary", ClaimVerdict, [astuple(r) for r in res.verdicts], temporary)
    return res


__all__ = ["ClaimRow", "ClaimVerdict", "ClaimsResult", "NOT_TESTABLE", "VERDICTS", "combine", "create_claims_tables",
           "decide", "evaluate_claims", "severity_slopes"]
