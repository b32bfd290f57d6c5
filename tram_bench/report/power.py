"""Power of a task's design: can its family of comparisons reach alpha at all, and what can it detect.

Shared by the report (each task's minimal detectable effect on the leaderboard) and ``tram-bench plan``
(the power section), so both state the same numbers. The statistics are contract A
(:mod:`tram_bench.stats.paired`): the decision test is the exact two-sided Wilcoxon signed-rank test,
Holm-adjusted over the task's m comparisons, so the smallest adjusted p a design can reach is
``min(1, m * 2 / 2**n)`` for n paired seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

from tram_bench.stats.paired import mde, min_attainable_p, seeds_needed

POWER = 0.8  # the power at which the minimal detectable effect and the seeds needed are stated


@dataclass(frozen=True)
class TaskPower:
    """The power of one task's design.

    ``m`` comparisons (trained non-baseline configurations), ``n`` paired seeds, family-wise ``alpha``;
    ``delta`` (the equivalence margin or the ``--mde`` target) and every effect are in ``units``
    ("points" = percentage points of accuracy, "log_ratio" = log perplexity ratio). ``sd`` is the
    standard deviation of the paired differences measured on earlier runs (None without them);
    ``mde`` is the smallest mean difference the design detects with power :data:`POWER` at alpha/m
    (None without ``sd`` or when alpha cannot be reached); ``seeds_needed`` detects ``delta``
    likewise (None without ``sd``, or above the planner's search limit).
    """

    m: int
    n: int
    alpha: float
    delta: float | None
    units: str
    min_attainable_p: float
    sd: float | None = None
    mde: float | None = None
    seeds_needed: int | None = None

    @property
    def reaches_alpha(self) -> bool:
        return self.min_attainable_p < self.alpha

    def reach_text(self) -> str:
        """``"smallest adjusted p 0.0625: cannot reach alpha 0.05"`` (or ``"... < alpha 0.05"``)."""
        p = f"smallest adjusted p {self.min_attainable_p:.3g}"
        if self.m == 0:
            return "no comparisons (only the baseline)"
        if self.reaches_alpha:
            return f"{p} < alpha {self.alpha:g}"
        return f"{p}: cannot reach alpha {self.alpha:g}"


def pooled_sd(sds: Iterable[float | None]) -> float | None:
    """Root mean square of the finite standard deviations (the family's typical SD), None if none."""
    vals = sorted(s for s in sds if s is not None and math.isfinite(s))
    if not vals:
        return None
    return math.sqrt(math.fsum(s * s for s in vals) / len(vals))


def task_power(*, m: int, n: int, alpha: float, delta: float | None, units: str, sd: float | None) -> TaskPower:
    """Power of a design with ``m`` comparisons and ``n`` paired seeds (arguments as in :class:`TaskPower`)."""
    floor = min_attainable_p(n, max(m, 1))
    level = alpha / max(m, 1)
    effect = mde(sd, n, level, POWER) if sd is not None and sd > 0 and n > 0 else None
    need = seeds_needed(sd, delta, level, POWER) if sd is not None and sd > 0 and delta else None
    return TaskPower(m=m, n=n, alpha=alpha, delta=delta, units=units, min_attainable_p=floor, sd=sd, mde=effect,
                     seeds_needed=need)


def design_power(design, sds: Mapping[str, float], mde_target: float | None = None) -> list[tuple[str, TaskPower]]:
    """(task label, power) for each task of a ``SuiteDesign`` (tram_bench.suite.design); ``sds`` as from
    :func:`tram_bench.report.earlier_runs.earlier_sds`; ``mde_target`` replaces each task's delta as the
    effect to detect."""
    out = []
    for t in design.tasks:
        delta = mde_target if mde_target is not None else t.delta
        out.append((t.task_label, task_power(m=t.comparisons, n=len(t.seeds), alpha=design.alpha, delta=delta,
                                             units=t.units, sd=sds.get(t.task_label))))
    return out


def power_lines(design, rows: list[tuple[str, TaskPower]], *, override: bool,
                source: str = "earlier runs") -> list[str]:
    """The ``tram-bench plan`` power section as plain lines: a heading, then one line per task.

    ``source`` names, in words, where the SDs come from (``plan`` passes the pilot's, see
    :func:`tram_bench.report.earlier_runs.pilot_evidence`). Each task with an SD and a delta says
    plainly whether its MDE is at most delta, else ``cannot reach delta within this budget: MDE X``.
    """
    from tram_bench.report.formatting import fmt
    from tram_bench.report.wording import unit_words

    lines = [f"power (per task: Holm over its m comparisons at alpha {design.alpha:g}, exact Wilcoxon signed-rank; "
             f"MDE and seeds needed at {POWER:.0%} power and alpha/m; SD of paired differences: {source}):"]
    baselines = {t.task_label: t.baseline_method for t in design.tasks}
    for label, p in rows:
        base = baselines.get(label)
        head = f"  {label}: baseline {base}" if base else f"  {label}: no baseline (not tested)"
        parts = [head, f"m = {p.m}", f"n = {p.n} seeds", p.reach_text()]
        units = unit_words(p.units)
        if p.sd is None:
            parts.append("SD of paired differences: none")
        else:
            parts.append(f"SD of paired differences {fmt(p.sd)} {units}")
            parts.append(f"MDE {fmt(p.mde)} {units}" if p.mde is not None else "MDE: none (alpha unreachable)")
            if p.delta is not None:
                what = "--mde" if override else "delta"
                if p.mde is not None and p.mde <= p.delta:
                    parts.append(f"MDE <= {what}: yes")
                elif p.mde is not None:
                    parts.append(f"cannot reach {what} within this budget: MDE {fmt(p.mde)} {units}")
                else:
                    parts.append(f"cannot reach {what} within this budget (alpha unreachable)")
                need = f"{p.seeds_needed} seeds" if p.seeds_needed is not None else "more than 100 seeds"
                parts.append(f"{need} to detect {what} = {fmt(p.delta)} {units}")
        lines.append(", ".join(parts))
    return lines


__all__ = ["POWER", "TaskPower", "design_power", "pooled_sd", "power_lines", "task_power"]
