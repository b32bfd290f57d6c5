"""Does a cheap method match a reference? Two one-sided t tests (TOST) with Holm over a family.

The frontier suite asks, per task, whether each cheaper variant is equivalent to SAM and to a named
TRAM variant within a margin ``delta`` fixed before the run. Each (variant, reference) pair is one
hypothesis: H0 "the mean paired difference lies outside (-delta, +delta)", rejected by two one-sided
t tests (Schuirmann 1987) whose larger p is the pair's TOST p. The family (every pair of the task)
is Holm-adjusted, so "equivalent" holds at family-wise error rate ``alpha``.

Unlike :func:`tram_bench.stats.paired.equivalent` (the leaderboard's verdict against one baseline,
an interval check per comparison), this gives adjusted p-values over a family of pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

from tram_bench.stats.paired import holm


@dataclass(frozen=True)
class Equivalence:
    """One (variant, reference) pair of a family: ``n_pairs`` paired differences (variant minus
    reference, report units), their mean (None without pairs), the TOST p, its Holm-adjusted value
    and the verdict: ``"equivalent"`` (adjusted p < alpha) or ``"equivalence not shown"`` (TOST did not
    reject at the Holm-adjusted level: the data do not bound the difference inside the margin, which is
    not evidence of a difference)."""

    variant: str
    reference: str
    n_pairs: int
    mean_diff: float | None
    p_tost: float
    p_adjusted: float
    verdict: str


def tost_p(diffs: Sequence[float], delta: float) -> float:
    """The TOST p of H0 "mean of ``diffs`` <= -delta or >= delta": the larger of the two one-sided
    one-sample t tests' p-values (scipy ``ttest_1samp``). 1.0 with fewer than two differences. With
    zero spread the t statistic is infinite: 0.0 when every difference lies strictly inside the
    margin, else 1.0. ValueError for ``delta <= 0`` or a non-finite difference."""
    if not delta > 0:
        raise ValueError(f"equivalence margin delta must be > 0, got {delta}")
    x = np.asarray(list(diffs), dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"paired differences must be finite, got {list(diffs)}")
    if len(x) < 2:
        return 1.0
    if np.all(x == x[0]):
        return 0.0 if abs(float(x[0])) < delta else 1.0
    above_lower = stats.ttest_1samp(x, -delta, alternative="greater").pvalue
    below_upper = stats.ttest_1samp(x, delta, alternative="less").pvalue
    return float(max(above_lower, below_upper))


def equivalence_family(
    diffs: Mapping[tuple[str, str], Sequence[float]], *, delta: float, alpha: float = 0.05
) -> list[Equivalence]:
    """TOST for every ``(variant, reference)`` key of ``diffs`` (its paired differences, one per
    seed), Holm-adjusted over the whole mapping; results in the mapping's order.

    ValueError for ``alpha`` outside (0, 1), ``delta <= 0`` or a non-finite difference.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    raw = {key: tost_p(values, delta) for key, values in diffs.items()}
    adjusted = dict(zip(raw, holm(list(raw.values()))))
    out = []
    for (variant, reference), values in diffs.items():
        n = len(values)
        mean = math.fsum(values) / n if n else None
        verdict = "equivalent" if adjusted[(variant, reference)] < alpha else "equivalence not shown"
        out.append(Equivalence(variant, reference, n, mean, raw[(variant, reference)],
                               adjusted[(variant, reference)], verdict))
    return out
