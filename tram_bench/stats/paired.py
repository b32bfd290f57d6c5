"""Per-task paired comparisons of configurations with an a priori baseline.

Input everywhere: paired differences ``method - baseline``, one per seed, already signed so that
``> 0`` means better and already in the report's units (accuracy: percentage points; perplexity:
log perplexity ratio ``log(ppl_baseline / ppl_method)``). The functions depend only on the
*multiset* of differences: every sum is a ``math.fsum`` (correctly rounded, hence order-free) and
the bootstrap sees the values sorted, so two configurations with bit-identical per-seed values get
bit-identical results whatever order their rows were read in.

Decision test (one per configuration, Holm over the task's family of ``m`` configurations):

- Differences are rounded to ``TIE_DECIMALS`` decimals first, so that float noise in a difference
  of two accuracies (``9.999999999999998`` vs ``10.000000000000002``) neither breaks a tie nor
  invents a nonzero difference.
- Zeros are dropped (scipy's ``zero_method="wilcox"``); ties get midranks.
- The two-sided p-value comes from the exact null distribution of ``W+`` given the midranks of the
  nonzero differences (each sign flips independently with probability 1/2): with no ties this is
  scipy's ``wilcoxon(d, zero_method="wilcox", method="exact")``, with ties it is scipy's exhaustive
  ``method=PermutationMethod(n_resamples=inf)``; both equalities are tested. It is computed here by
  a convolution over the doubled midranks, O(n^3), because scipy's exhaustive path enumerates 2^n
  sign flips (17 s at n = 16 on the development machine) and its ``"auto"`` path falls back to the
  normal approximation from n = 14 when there are ties or zeros.
- ``p = min(1, 2 * min(P(W+ <= w), P(W+ >= w)))`` (scipy's two-sided convention).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special, stats

#: Decimals kept before ranking (report units: points or log ratio); see the module docstring.
TIE_DECIMALS = 9
#: Verdicts of :func:`compare_family`, in the order the rules are tried.
VERDICTS = ("better", "worse", "equivalent", "underpowered", "inconclusive")
#: Monte-Carlo replicates and seed of the power computation behind :func:`mde`.
MDE_REPS = 2000
MDE_SEED = 20240
#: Minimum number of pairs for the bootstrap interval (below it the t interval stands alone).
BOOTSTRAP_MIN_N = 10
#: Bootstrap resamples of :func:`bootstrap_interval` (scipy's default).
BOOTSTRAP_RESAMPLES = 9999


def _finite(diffs: Sequence[float]) -> np.ndarray:
    """``diffs`` as a float64 array; ValueError naming the first non-finite value."""
    x = np.asarray(list(diffs), dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"paired differences must be finite, got {x[bad][0]!r} at position {int(np.argmax(bad))}")
    return x


def mean_sd(diffs: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1) of ``diffs``, both from ``math.fsum``.

    Returns ``(nan, nan)`` for no values and ``(mean, nan)`` for one. Order-free: the mean is the
    correctly rounded sum divided by n, the SD sums the squared deviations from that mean.
    """
    x = _finite(diffs)
    n = len(x)
    if n == 0:
        return math.nan, math.nan
    mean = math.fsum(x) / n
    if n == 1:
        return mean, math.nan
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in x) / (n - 1))


@lru_cache(maxsize=256)
def _null_distribution(doubled_ranks: tuple[int, ...]) -> np.ndarray:
    """P(2 * W+ = s) for s = 0 .. sum(doubled_ranks), every sign flipped independently with p 1/2.

    ``doubled_ranks`` are twice the (mid)ranks, so integers even with ties.
    """
    probs = np.zeros(sum(doubled_ranks) + 1)
    probs[0] = 1.0
    top = 0
    for r in doubled_ranks:
        # Each rank is either absent from W+ or adds r: halve and shift, exactly in binary floats.
        new = probs[: top + r + 1] * 0.5
        new[r:] += probs[: top + 1] * 0.5
        top += r
        probs[: top + 1] = new
    return probs


def _signed_rank(diffs: Sequence[float]) -> tuple[float, float, float] | None:
    """(two-sided exact p, W+, W-) of the signed-rank test; None when every difference is zero."""
    x = np.round(_finite(diffs), TIE_DECIMALS)
    x = np.sort(x[x != 0.0])
    if len(x) == 0:
        return None
    doubled = np.rint(2.0 * stats.rankdata(np.abs(x))).astype(np.int64)
    order = tuple(sorted(int(r) for r in doubled))
    probs = _null_distribution(order)
    w_plus2 = int(doubled[x > 0].sum())
    lower = math.fsum(probs[: w_plus2 + 1])
    upper = math.fsum(probs[w_plus2:])
    p = min(1.0, 2.0 * min(lower, upper))
    w_plus = w_plus2 / 2.0
    return p, w_plus, sum(order) / 2.0 - w_plus


def exact_wilcoxon_p(diffs: Sequence[float]) -> float | None:
    """Two-sided exact Wilcoxon signed-rank p-value of paired differences (module docstring).

    Args:
        diffs: paired differences, any length; values equal after rounding to ``TIE_DECIMALS``
            decimals are ties, values that round to 0 are zeros (dropped).

    Returns:
        The p-value in (0, 1], or None when no nonzero difference remains (no test possible).

    Raises:
        ValueError: a difference is NaN or infinite.
    """
    result = _signed_rank(diffs)
    return None if result is None else result[0]


def min_attainable_p(n_pairs: int, m: int) -> float:
    """Smallest Holm-adjusted p a design can produce: ``min(1, m * 2 / 2**n_pairs)``.

    ``2 / 2**n`` is the exact two-sided signed-rank p when all n differences share one sign; Holm
    multiplies the smallest p of a family of ``m`` by m. ValueError for negative n or m < 1.
    """
    if n_pairs < 0 or m < 1:
        raise ValueError(f"need n_pairs >= 0 and m >= 1, got n_pairs={n_pairs}, m={m}")
    return min(1.0, m * 2.0 / 2.0**n_pairs)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in input order, each at most 1.

    Sorted ascending, the i-th smallest (0-based) is multiplied by ``m - i`` and the products are
    made non-decreasing (running maximum). Same numbers as statsmodels
    ``multipletests(p, method="holm")[1]`` (tested), which is not called here because its Holm
    branch runs ``gc.collect()`` on every call: 60 ms per family with the stats imports alone and
    300 ms in a process holding torch (measured), for a report that adjusts one family per task.
    An empty family gives ``[]``. ValueError for a p outside [0, 1] or NaN.
    """
    p = np.asarray(list(pvalues), dtype=np.float64)
    if len(p) == 0:
        return []
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"p-values must lie in [0, 1], got {p.tolist()}")
    order = np.argsort(p, kind="stable")
    steps = np.minimum(1.0, np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1)))
    adjusted = np.empty_like(p)
    adjusted[order] = steps
    return [float(v) for v in adjusted]


def t_interval(diffs: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``diffs`` and its two-sided Student t interval at ``level``: ``(mean, low, high)``.

    Mean and SD come from :func:`mean_sd` (order-free). With one value the bounds are NaN; with
    zero spread they equal the mean. ValueError for no values or a level outside (0, 1).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    mean, sd = mean_sd(diffs)
    n = len(diffs)
    if n == 0:
        raise ValueError("t_interval needs at least one difference")
    if n == 1:
        return mean, math.nan, math.nan
    # special.stdtrit is the Student t quantile (stats.t.ppf without its per-call overhead).
    half = float(special.stdtrit(n - 1, 0.5 + level / 2.0)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def paired_t_p(diffs: Sequence[float]) -> float | None:
    """Two-sided one-sample t-test p of mean 0 (scipy ``ttest_1samp``'s value, from :func:`mean_sd`).

    None with fewer than two differences or zero spread (no t statistic). Shown beside the
    signed-rank p; never used for a verdict.
    """
    mean, sd = mean_sd(diffs)
    if len(diffs) < 2 or not sd > 0:
        return None
    t = mean / (sd / math.sqrt(len(diffs)))
    return float(2.0 * special.stdtr(len(diffs) - 1, -abs(t)))


def bootstrap_interval(diffs: Sequence[float], level: float = 0.95, seed: int = 0) -> tuple[float, float] | None:
    """BCa bootstrap interval of the mean (``scipy.stats.bootstrap``, ``BOOTSTRAP_RESAMPLES``).

    Returns None when there are fewer than ``BOOTSTRAP_MIN_N`` differences (too few for a bootstrap
    to mean much). The values are sorted before resampling so the interval depends only on their
    multiset and ``seed``. Identical values give ``(value, value)``.
    """
    x = np.sort(_finite(diffs))
    if len(x) < BOOTSTRAP_MIN_N:
        return None
    if x[0] == x[-1]:
        return float(x[0]), float(x[0])
    res = stats.bootstrap((x,), np.mean, confidence_level=level, n_resamples=BOOTSTRAP_RESAMPLES,
                          method="BCa", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def equivalent(diffs: Sequence[float], delta: float, alpha: float = 0.05) -> bool:
    """Two one-sided t tests at ``alpha``: the ``1 - 2 alpha`` t interval lies strictly inside ±delta.

    False with fewer than two differences (no interval). ValueError for ``delta <= 0``.
    """
    if not delta > 0:
        raise ValueError(f"equivalence margin delta must be > 0, got {delta}")
    if len(diffs) < 2:
        return False
    _, low, high = t_interval(diffs, level=1.0 - 2.0 * alpha)
    return -delta < low and high < delta


@lru_cache(maxsize=4096)
def _critical_count(n: int, alpha: float) -> int | None:
    """Largest c with exact two-sided p(min(W+, W-) = c) < alpha for n untied ranks; None if none."""
    probs = _null_distribution(tuple(range(2, 2 * n + 1, 2)))
    # probs indexes 2*W; W takes integer values only, so use the even entries.
    cdf = np.cumsum(probs[::2])
    ok = np.nonzero(2.0 * cdf < alpha)[0]
    return int(ok[-1]) if len(ok) else None


@lru_cache(maxsize=1024)
def _mde_effect(n: int, alpha: float, power: float) -> float | None:
    """Standardised MDE (mean / SD) of the exact two-sided signed-rank test, 'better' direction.

    Normal differences d = e + Z with Z ~ N(0, 1), no ties or zeros (probability 0). With A the
    Walsh averages (Z_i + Z_j) / 2, i <= j, W- = #{A_k <= -e}, and the test says 'better' iff
    W- <= c (c from :func:`_critical_count`), i.e. iff e > -A_(c+1) (A sorted ascending). So each
    simulated sample has a threshold effect t_r = -A_(c+1) and the power at e is the share of
    t_r < e: the MDE is the ``power`` quantile of the t_r. The draws are nested in n (row k of the
    (n, reps) draw is the same for every n), so the estimate is smooth in n.
    """
    c = _critical_count(n, alpha)
    if c is None:
        return None
    # float32: the thresholds need ~4 digits (Monte-Carlo error ~1%), and it halves the memory traffic.
    z = np.random.default_rng(MDE_SEED).standard_normal((n, MDE_REPS)).T.astype(np.float32)
    i, j = np.triu_indices(n)
    thresholds = np.empty(MDE_REPS)
    for start in range(0, MDE_REPS, 500):  # chunks keep the Walsh matrix small at large n
        walsh = z[start:start + 500, i] + z[start:start + 500, j]
        thresholds[start:start + 500] = -0.5 * np.partition(walsh, c, axis=1)[:, c]
    thresholds.sort()
    return float(max(0.0, thresholds[math.ceil(power * MDE_REPS) - 1]))


def mde(sd: float, n_pairs: int, alpha: float, power: float = 0.8) -> float | None:
    """Minimal detectable mean difference of the exact signed-rank test (report units, > 0).

    The smallest true mean difference that the test at level ``alpha`` declares 'better' with
    probability ``power`` when the n paired differences are normal with standard deviation ``sd``.
    Pass ``alpha / m`` for a family of m under Holm (its first step). Computed by a deterministic
    Monte Carlo (``MDE_REPS`` samples, seed ``MDE_SEED``, exact per-sample thresholds; see
    ``_mde_effect``), cached per (n, alpha, power): Monte-Carlo error about 1.5% of the value;
    about 5 ms at n = 10, 0.2 s at n = 100 (uncached).

    Returns:
        The MDE (0.0 when ``sd == 0`` and alpha is reachable), or None when ``2 / 2**n >= alpha``:
        no effect can be detected.

    Raises:
        ValueError: negative or non-finite sd, alpha or power outside (0, 1).
    """
    if not (math.isfinite(sd) and sd >= 0):
        raise ValueError(f"sd must be finite and >= 0, got {sd}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha and power must lie in (0, 1), got alpha={alpha}, power={power}")
    if n_pairs < 1:
        return None
    effect = _mde_effect(int(n_pairs), float(alpha), float(power))
    return None if effect is None else sd * effect


def seeds_needed(sd: float, delta: float, alpha: float, power: float = 0.8, max_n: int = 100) -> int | None:
    """Smallest number of seeds whose :func:`mde` at ``alpha`` is at most ``delta``.

    Pass ``alpha / m`` as for :func:`mde`. Searched by bisection over n in [1, max_n] (the MDE
    decreases with n; doubling, then bisection). None when even ``max_n`` seeds do not suffice. ValueError for ``delta <= 0``.
    """
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta}")

    def enough(n: int) -> bool:
        value = mde(sd, n, alpha, power)
        return value is not None and value <= delta

    # Doubling first, then bisection: large n (slow to simulate) is only tried when needed.
    # Below n0 the floor 2 / 2**n is not under alpha: no test, no MDE (cheap to know).
    n0 = next((n for n in range(1, max_n + 1) if _critical_count(n, alpha) is not None), None)
    if n0 is None:
        return None
    low, high = n0 - 1, n0
    while not enough(high):
        if high >= max_n:
            return None
        low, high = high, min(2 * high, max_n)
    while high - low > 1:  # enough(high) holds, enough(low) does not (or low == 0)
        mid = (low + high) // 2
        if enough(mid):
            high = mid
        else:
            low = mid
    return high


@dataclass(frozen=True)
class Comparison:
    """One configuration against the task's baseline (fields in report units; None = undefined).

    ``n_pairs`` seeds; ``mean_diff``/``sd_diff`` of the paired differences; ``ci_low``/``ci_high``
    95% t interval; ``boot_low``/``boot_high`` BCa bootstrap interval (n >= 10); ``wilcoxon_p``
    exact two-sided p (None: all differences zero); ``ttest_p`` paired t-test p, shown beside it and
    never used for the verdict (None: zero spread or n < 2); ``p_adjusted`` Holm over the family
    (a missing Wilcoxon p counts as 1); ``min_attainable_p`` = :func:`min_attainable_p`;
    ``mde`` at alpha/m and ``seeds_for_delta`` = :func:`seeds_needed` for the family's delta;
    ``verdict`` one of ``VERDICTS``.
    """

    config: str
    n_pairs: int
    mean_diff: float | None
    sd_diff: float | None
    ci_low: float | None
    ci_high: float | None
    boot_low: float | None
    boot_high: float | None
    wilcoxon_p: float | None
    ttest_p: float | None
    p_adjusted: float
    min_attainable_p: float
    mde: float | None
    seeds_for_delta: int | None
    verdict: str


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def compare_family(diffs_by_config: Mapping[str, Sequence[float]], *, alpha: float, delta: float) -> list[Comparison]:
    """Compare every configuration of one task with the baseline; one :class:`Comparison` each.

    Args:
        diffs_by_config: configuration label -> its paired differences to the baseline (one per
            seed, report units, > 0 = better). The family is the whole mapping: m = its size.
        alpha: family-wise error rate (the suite's ``alpha``).
        delta: equivalence margin in report units (the suite's ``delta`` for the task family).

    Verdict rules, first match wins:

    1. ``better`` / ``worse``: Holm-adjusted exact Wilcoxon p < alpha; the direction is the side
       the test rejected on (W+ > W-: better). A detected difference is the claim the family-wise
       error rate protects, so it is stated even when it also lies inside ±delta.
    2. ``equivalent``: the ``1 - 2 alpha`` t interval (90% at alpha 0.05: two one-sided tests at
       alpha) lies inside ±delta. Tried before
       ``underpowered`` because equivalence does not rely on the signed-rank floor: a small design
       can still bound the difference tightly.
    3. ``underpowered``: ``min_attainable_p >= alpha``: this design could never have said better or
       worse, so "not shown" carries no information about the methods.
    4. ``inconclusive``: otherwise; ``mde`` and ``seeds_for_delta`` say what the design could see.

    Returns:
        Comparisons in the mapping's key order.

    Raises:
        ValueError: non-finite differences, alpha outside (0, 1), delta <= 0.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    m = len(diffs_by_config)
    tests = {k: _signed_rank(v) for k, v in diffs_by_config.items()}
    adjusted = dict(zip(tests, holm([1.0 if t is None else t[0] for t in tests.values()])))
    out = []
    for config, diffs in diffs_by_config.items():
        values = _finite(diffs)
        n = len(values)
        mean, sd = mean_sd(values)
        low = high = math.nan
        if n >= 2:
            _, low, high = t_interval(values)
        boot = bootstrap_interval(values)
        ttest_p = paired_t_p(values)
        floor = min_attainable_p(n, m)
        test = tests[config]
        sd_or_zero = 0.0 if math.isnan(sd) else sd
        design_mde = mde(sd_or_zero, n, alpha / m) if n >= 2 else None
        seeds = seeds_needed(sd_or_zero, delta, alpha / m) if n >= 2 else None
        if test is not None and adjusted[config] < alpha:
            verdict = "better" if test[1] > test[2] else "worse"
        elif equivalent(values, delta, alpha=alpha):
            verdict = "equivalent"
        elif floor >= alpha:
            verdict = "underpowered"
        else:
            verdict = "inconclusive"
        out.append(Comparison(
            config=config, n_pairs=n, mean_diff=_none_if_nan(mean), sd_diff=_none_if_nan(sd),
            ci_low=_none_if_nan(low), ci_high=_none_if_nan(high),
            boot_low=None if boot is None else boot[0], boot_high=None if boot is None else boot[1],
            wilcoxon_p=None if test is None else test[0], ttest_p=ttest_p, p_adjusted=adjusted[config],
            min_attainable_p=floor, mde=design_mde, seeds_for_delta=seeds, verdict=verdict,
        ))
    return out
