"""Cost against out-of-domain score per task, its Pareto front, and whether cheap methods match.

For a suite such as ``suites/frontier.yaml``: each configuration of a task is a point with its mean
OOD score (selected checkpoint, test split, primary metric; ``leaderboard_averages``) against two
costs: the forward + backward passes per step its runs recorded (``cost``), and its step time
relative to the base optimizer as measured by ``benchmarks/step_cost.py`` (a committed JSON file, so
that the axis is a controlled measurement, not the suite's own timings taken beside other workers).
A point is on the Pareto front when no other point of the task costs at most as much and scores at
least as well, one of the two strictly. The equivalence verdicts are
:func:`tram_bench.stats.equivalence.equivalence_family` over the pairs (variant, reference) of the
task, with the task's ``delta`` from the suite design (fixed before the run).

The same tables and charts come from a results store (``tram-bench frontier --results``) or from a
committed export (``--export``, and the README's frontier blocks of ``tram-bench readme-tables``):
both are a DuckDB connection with the report views, read by :func:`load_frontier`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from tram_bench.report.charts import Point, scatter
from tram_bench.report.significance import signed_difference, units_for
from tram_bench.stats.equivalence import Equivalence, equivalence_family

# The one place for the defaults of ``tram-bench frontier`` and of the README's frontier blocks (the CLI's
# flags default to None and mean these: the parser does not import the report layer).
#: ``benchmarks/step_cost.py --json`` output, relative to the working directory.
DEFAULT_BENCH = "benchmarks/step_cost.json"
#: Its workload whose ratios make the measured cost axis, by the task's family (``--workload`` names one for
#: every task): the benchmark's small CNN with SGD stands for the digit tasks' CNN, its small transformer
#: encoder with Adam for the language-modelling and cross-lingual transformers (both families use Adam).
WORKLOAD_BY_FAMILY = {"vision": "cnn", "lm": "transformer", "xling": "transformer"}
#: ... and for a family outside that table.
DEFAULT_WORKLOAD = "cnn"
#: The cheap configurations tested for equivalence (issue 19's efficient SAM family) ...
DEFAULT_VARIANTS = ("looksam", "random-sam", "late-sam", "msam")
#: ... against these references.
DEFAULT_REFERENCES = ("sam", "tram-prev")


@dataclass(frozen=True)
class FrontierOptions:
    """Where the measured cost axis comes from and which pairs are tested; defaults above."""

    bench: Path = Path(DEFAULT_BENCH)
    workload: str | None = None  # None: WORKLOAD_BY_FAMILY
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    references: tuple[str, ...] = DEFAULT_REFERENCES

    @classmethod
    def from_flags(cls, bench: str | None, workload: str | None, variants: str | None,
                   references: str | None) -> FrontierOptions:
        """From the CLI's flags (None = the default; variants and references comma-separated)."""
        d = cls()
        return cls(Path(bench) if bench else d.bench, workload or None,
                   tuple(variants.split(",")) if variants else d.variants,
                   tuple(references.split(",")) if references else d.references)

    def step_ratios(self) -> StepRatios:
        """The measured ratios of ``bench`` by task family (:class:`StepRatios`, read on first use)."""
        return StepRatios(self.bench, self.workload)


class StepRatios:
    """``ratios(family)``: method id -> measured step time / base optimizer's, from the rows of ``bench`` of
    ``workload``, or when that is None of the family's workload (:data:`WORKLOAD_BY_FAMILY`). The file is read
    when a family is first asked for (a README without frontier blocks needs none), once per workload;
    ValueError naming the file when it is missing or malformed, or has no rows of the workload."""

    def __init__(self, bench: Path, workload: str | None = None) -> None:
        self.bench, self.workload = Path(bench), workload
        self._by_workload: dict[str, dict[str, float]] = {}

    def __call__(self, family: str | None) -> dict[str, float]:
        wl = self.workload or WORKLOAD_BY_FAMILY.get(family or "", DEFAULT_WORKLOAD)
        if wl not in self._by_workload:
            self._by_workload[wl] = load_step_ratios(self.bench, workload=wl)
        return self._by_workload[wl]


#: The two cost axes, in the order :func:`frontier_charts` returns their charts (file name suffixes).
CHART_AXES = ("passes", "step-time")


@dataclass(frozen=True)
class FrontierPoint:
    """One configuration of one task. ``passes``: mean (forward + backward) passes per step over its
    ok runs; ``step_ratio``: measured step time / the base optimizer's (None: not in the benchmark
    file); ``score``: mean OOD score over ``n`` seeds, in the metric's recorded scale (accuracy a
    fraction); ``higher_is_better`` and name of the (primary) ``metric``."""

    task_label: str
    config: str
    method: str
    passes: float
    step_ratio: float | None
    score: float
    n: int
    higher_is_better: bool
    metric: str

    @property
    def shown(self) -> float:
        """``score`` as tables and charts show it: in percent where the metric's comparison units are
        percentage points (accuracy, ``suite.design.UNITS_BY_METRIC``), as the equivalence margin is."""
        return self.score * _scale(self.metric)


def _scale(metric: str) -> float:
    return 100.0 if units_for(metric) == "points" else 1.0


def _score_label(points: Sequence[FrontierPoint]) -> str:
    """"OOD accuracy x 100" (or the metric's name alone, or "OOD score" for mixed metrics)."""
    metrics = {p.metric for p in points}
    if len(metrics) != 1:
        return "OOD score"
    (metric,) = metrics
    return f"OOD {metric}" + (" x 100" if _scale(metric) == 100.0 else "")


def load_step_ratios(path: Path, workload: str = "cnn", device: str = "cpu") -> dict[str, float]:
    """Method id -> ``ratio_to_base`` of the rows of ``path`` (``step_cost.py --json``) whose
    workload name starts with ``workload`` on ``device``. ValueError naming the file for a missing
    or malformed file, or one without such rows."""
    try:
        rows = json.loads(path.read_text())["rows"]
        ratios = {r["method"]: float(r["ratio_to_base"]) for r in rows
                  if str(r["workload"]).startswith(workload) and r["device"] == device}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such benchmark file (write it with benchmarks/step_cost.py --json)") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a step_cost.py --json file ({type(err).__name__}: {err})") from None
    if not ratios:
        raise ValueError(f"{path}: no rows for workload {workload!r} on {device}")
    return ratios


def pareto_front(points: Sequence[tuple[float, float]], higher_is_better: bool = True) -> list[bool]:
    """For each (cost, score), whether no other point has cost <= and score >= (<= when lower is
    better), at least one strictly. Equal points are all on the front."""
    sign = 1.0 if higher_is_better else -1.0
    out = []
    for i, (cost, score) in enumerate(points):
        dominated = any(
            c <= cost and sign * s >= sign * score and (c < cost or sign * s > sign * score)
            for j, (c, s) in enumerate(points) if j != i
        )
        out.append(not dominated)
    return out


def frontier_points(con: Any, suite: str,
                    step_ratios: dict[str, float] | Callable[[str | None], dict[str, float]]) -> list[FrontierPoint]:
    """Every configuration of ``suite`` with an OOD score and recorded passes (``create_views`` must
    have run on ``con``), ordered by task and configuration; configurations that never train (zero-shot:
    no steps, so no cost per step) are not points. ``step_ratios``: method id -> measured
    ratio for every task, or a function of the task's family returning it (:class:`StepRatios`)."""
    ratios_for = step_ratios if callable(step_ratios) else (lambda family: step_ratios)
    rows = con.execute(
        """
        SELECT la.task_label, la.config, la.method, (c.forward + c.backward) / c.steps AS passes,
               la.ood_mean, la.n_ood, la.higher_is_better, la.metric, td.family
        FROM leaderboard_averages la
        JOIN primary_metric pm USING (suite, task_label, metric)
        JOIN cost c USING (suite, task_label, config)
        LEFT JOIN task_design td ON td.suite = la.suite AND td.task_label = la.task_label
        WHERE la.suite = ? AND la.checkpoint = 'selected' AND la.split = 'test' AND la.ood_mean IS NOT NULL
              AND c.steps > 0
        ORDER BY la.task_label, la.config
        """,
        [suite],
    ).fetchall()
    return [FrontierPoint(task, config, method, float(passes), ratios_for(family).get(method), float(score), int(n),
                          bool(hib), metric) for task, config, method, passes, score, n, hib, metric, family in rows]


def frontier_verdicts(con: Any, suite: str, variants: Sequence[str], references: Sequence[str],
                      alpha: float = 0.05) -> dict[str, tuple[float, list[Equivalence]]]:
    """Task label -> (delta, the family's verdicts): for every variant and reference configuration
    (by config name) present in the task, the per-seed differences of OOD averages (variant minus
    reference in the design's ``units`` as the significance tests take them: percentage points for
    accuracy, log ratio for perplexity; > 0 is better), paired by seed. Tasks without a ``delta`` in
    the suite design are left out."""
    rows = con.execute(
        """
        SELECT ra.task_label, ra.config, ra.seed, ra.ood_avg, ra.higher_is_better, td.delta, td.units
        FROM run_averages ra
        JOIN primary_metric pm USING (suite, task_label, metric)
        JOIN task_design td ON td.suite = ra.suite AND td.task_label = ra.task_label
        WHERE ra.suite = ? AND ra.checkpoint = 'selected' AND ra.split = 'test' AND ra.ood_avg IS NOT NULL
              AND td.delta IS NOT NULL
        """,
        [suite],
    ).fetchall()
    by_task: dict[str, dict[str, dict[int, float]]] = {}
    design: dict[str, tuple[float, str, bool]] = {}
    for task, config, seed, value, hib, delta, units in rows:
        by_task.setdefault(task, {}).setdefault(config, {})[int(seed)] = float(value)
        design[task] = (float(delta), units, bool(hib))
    out = {}
    for task, configs in sorted(by_task.items()):
        # The margin is in the design's units (accuracy: percentage points), so are the differences.
        _, units, hib = design[task]
        family = {}
        for variant in variants:
            for reference in references:
                if variant in configs and reference in configs:
                    seeds = sorted(set(configs[variant]) & set(configs[reference]))
                    diffs = [signed_difference(configs[variant][s], configs[reference][s], units=units,
                                               higher_is_better=hib) for s in seeds]
                    family[(variant, reference)] = [d for d in diffs if d is not None]
        if family:
            out[task] = (design[task][0], equivalence_family(family, delta=design[task][0], alpha=alpha))
    return out


def frontier_charts(points: Sequence[FrontierPoint]) -> dict[str, list[str]]:
    """Task label -> two inline SVG scatters (OOD score against passes per step, and against the
    measured step-time ratio; points without a ratio are left off the second), the Pareto front in
    its own series ("Pareto front" / "dominated"), each point's tooltip naming its configuration."""
    out: dict[str, list[str]] = {}
    for task in sorted({p.task_label for p in points}):
        rows = [p for p in points if p.task_label == task]
        charts = []
        for axis, x_label in (("passes", "forward + backward passes per step"),
                              ("step_ratio", "step time / base optimizer's (step_cost.py)")):
            shown = [p for p in rows if getattr(p, axis) is not None]
            front = pareto_front([(getattr(p, axis), p.score) for p in shown],
                                 higher_is_better=all(p.higher_is_better for p in shown))
            charts.append(scatter(
                [Point("Pareto front" if on else "dominated", p.config, getattr(p, axis), p.shown)
                 for p, on in zip(shown, front)],
                x_label=x_label, y_label=f"{_score_label(rows)} (mean over seeds)", zero_line=False,
                title=f"{task}: OOD score against cost",
            ))
        out[task] = charts
    return out


def chart_files(points: Sequence[FrontierPoint], prefix: str = "") -> dict[str, dict[str, str]]:
    """Task label -> {file name: SVG text} of its two charts, named ``{prefix}{task}-{axis}.svg`` with
    ``axis`` from :data:`CHART_AXES` (characters other than letters, digits, ``.``, ``_``, ``-`` in the
    task label become ``-``)."""
    out = {}
    for task, charts in frontier_charts(points).items():
        stem = prefix + re.sub(r"[^A-Za-z0-9._-]", "-", task)
        out[task] = {f"{stem}-{axis}.svg": svg for axis, svg in zip(CHART_AXES, charts)}
    return out


@dataclass(frozen=True)
class Frontier:
    """What ``tram-bench frontier`` shows of one suite: its points and, per task, (delta, verdicts)."""

    suite: str
    points: list[FrontierPoint]
    verdicts: dict[str, tuple[float, list[Equivalence]]]


def load_frontier(con: Any, suite: str, step_ratios: dict[str, float] | Callable[[str | None], dict[str, float]],
                  options: FrontierOptions = FrontierOptions()) -> Frontier:
    """The points and verdicts of ``suite`` (``options.variants`` x ``options.references``) from a
    connection with the report views (a results store after ``ensure_views``, or
    :func:`tram_bench.report.readme_tables.load_export`). ``points`` is empty when no configuration
    of the suite has an OOD score. ``step_ratios`` as :func:`frontier_points` (ValueError when a task's
    family has no rows in the benchmark file)."""
    return Frontier(suite, frontier_points(con, suite, step_ratios),
                    frontier_verdicts(con, suite, options.variants, options.references))


def frontier_markdown(points: Sequence[FrontierPoint], verdicts: dict[str, tuple[float, list[Equivalence]]],
                      images: dict[str, list[tuple[str, str]]] | None = None) -> str:
    """README-ready Markdown: per task, the cost/score table with the front marked on both axes, then
    ``images[task]`` as image links ``![alt](href)`` (the charts, when given), then the equivalence
    verdicts with the margin and the seeds."""
    lines: list[str] = []
    for task in sorted({p.task_label for p in points}):
        rows = [p for p in points if p.task_label == task]
        hib = all(p.higher_is_better for p in rows)
        on_passes = pareto_front([(p.passes, p.score) for p in rows], hib)
        timed = [p for p in rows if p.step_ratio is not None]
        on_ratio = dict(zip((p.config for p in timed), pareto_front([(p.step_ratio, p.score) for p in timed], hib)))
        lines += [f"**{task}** ({_score_label(rows)}, mean over seeds; ★ = on the Pareto front of that cost)", "",
                  "| config | passes/step | step time / base | OOD score | seeds |", "|---|---|---|---|---|"]
        for p, front in zip(rows, on_passes):
            ratio = "-" if p.step_ratio is None else f"{p.step_ratio:.2f}" + (" ★" if on_ratio.get(p.config) else "")
            lines.append(f"| {p.config} | {p.passes:.2f}{' ★' if front else ''} | {ratio} | {p.shown:.2f} | {p.n} |")
        lines.append("")
        for alt, href in (images or {}).get(task, []):
            lines += [f"![{alt}]({href})", ""]
        if task in verdicts:
            delta, family = verdicts[task]
            # One decimal below the margin's first digit, at least two (a log-ratio margin of 0.01: three).
            places = max(2, 1 - math.floor(math.log10(delta))) if delta > 0 else 2
            lines += [f"Equivalence (TOST, margin ±{delta:g}, Holm over {len(family)} pairs):", "",
                      "| variant | reference | seeds | mean diff | TOST p | Holm p | verdict |",
                      "|---|---|---|---|---|---|---|"]
            for r in family:
                mean = "-" if r.mean_diff is None else f"{r.mean_diff:+.{places}f}"
                lines.append(f"| {r.variant} | {r.reference} | {r.n_pairs} | {mean} | {r.p_tost:.3g} | "
                             f"{r.p_adjusted:.3g} | {r.verdict} |")
            lines.append("")
    return "\n".join(lines)
