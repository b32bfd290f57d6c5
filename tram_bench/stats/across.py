"""Aggregates over the tasks of a suite: IQM, probability of improvement, ranks, CD-diagram data.

Inputs are nested mappings keyed by task label and seed. Seeds pair the runs of one task: the
stratified bootstrap resamples seeds *within* each task (Agarwal et al., NeurIPS 2021), and for
ranks the same resampled seeds are used for every method (the pairing is kept). Every estimate
is a function of the data and ``seed`` only: tasks and seeds are visited in sorted order, point
estimates sum with ``math.fsum``. Intervals are percentile intervals of ``reps`` replicates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats

from tram_bench.stats.paired import TIE_DECIMALS, exact_wilcoxon_p, holm

#: Confidence level of every across-task interval (one place).
LEVEL = 0.95
#: Fewest tasks for a critical-difference diagram (below it the ranks over tasks say too little).
CD_MIN_TASKS = 5

TaskSeedValues = Mapping[str, Mapping[int, float]]


def _trim(n: int) -> int:
    """Values cut from each end by the interquartile mean (scipy ``trim_mean(x, 0.25)``'s rule)."""
    return int(n * 0.25)


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: the mean of the middle values after cutting ``floor(n / 4)`` from each end.

    The cut is scipy's ``trim_mean(values, 0.25)`` rule (as used by rliable); the sum is a
    ``math.fsum`` over the sorted values, so the result depends only on the multiset.
    ValueError for no values or a non-finite one.
    """
    x = np.sort(np.asarray(list(values), dtype=np.float64))
    if len(x) == 0 or not np.isfinite(x).all():
        raise ValueError(f"iqm needs finite values, got {x.tolist()}")
    k = _trim(len(x))
    middle = x[k:len(x) - k]
    return math.fsum(middle) / len(middle)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its ``LEVEL`` percentile-bootstrap interval (same units as the data)."""

    value: float
    low: float
    high: float


def _stratified(diffs: TaskSeedValues) -> list[np.ndarray]:
    """One array per task (tasks sorted), values in seed order; tasks without seeds left out."""
    out = []
    for task in sorted(diffs):
        by_seed = diffs[task]
        x = np.asarray([by_seed[s] for s in sorted(by_seed)], dtype=np.float64)
        if len(x):
            if not np.isfinite(x).all():
                raise ValueError(f"task {task!r}: values must be finite, got {x.tolist()}")
            out.append(x)
    if not out:
        raise ValueError("no (task, seed) values to aggregate")
    return out


def _resample(strata: list[np.ndarray], reps: int, seed: int) -> np.ndarray:
    """(reps, N) matrix: each row resamples every task's seeds with replacement, tasks side by side."""
    rng = np.random.default_rng(seed)
    return np.concatenate([x[rng.integers(0, len(x), size=(reps, len(x)))] for x in strata], axis=1)


def _interval(replicates: np.ndarray) -> tuple[float, float]:
    tail = (1.0 - LEVEL) / 2.0
    return float(np.quantile(replicates, tail)), float(np.quantile(replicates, 1.0 - tail))


def iqm_estimate(diffs: TaskSeedValues, reps: int = 2000, seed: int = 0) -> Estimate:
    """IQM of all per-(task, seed) paired differences with a stratified-bootstrap interval.

    Args:
        diffs: task label -> seed -> paired difference to the baseline (report units, > 0 better).
            The units of different task families differ (points, log ratio): pass one family, or
            accept that the IQM mixes them as the leaderboard states.
        reps: bootstrap replicates; seed: their generator's seed.

    Raises:
        ValueError: no values, or a non-finite one.
    """
    strata = _stratified(diffs)
    value = iqm(np.concatenate(strata))
    boot = np.sort(_resample(strata, reps, seed), axis=1)
    k = _trim(boot.shape[1])
    middle = boot[:, k:boot.shape[1] - k]
    return Estimate(value, *_interval(middle.sum(axis=1) / middle.shape[1]))


def probability_of_improvement(diffs: TaskSeedValues, reps: int = 2000, seed: int = 0) -> Estimate:
    """Share of (task, seed) pairs where the method beats the baseline, stratified-bootstrap interval.

    A pair scores 1 when its difference is > 0, 1/2 when it is 0 and 0 when < 0 (after rounding to
    ``TIE_DECIMALS`` decimals, the tie rule of the signed-rank test). Pairs are pooled, so a task
    with more seeds weighs more. ValueError as :func:`iqm_estimate`.
    """
    strata = [np.sign(np.round(x, TIE_DECIMALS)) * 0.5 + 0.5 for x in _stratified(diffs)]
    pooled = np.concatenate(strata)
    boot = _resample(strata, reps, seed)
    return Estimate(math.fsum(pooled) / len(pooled), *_interval(boot.mean(axis=1)))


@dataclass(frozen=True)
class RankInterval:
    """A method's place among the suite's methods (1 = best).

    ``rank``: shared rank, 1 + the number of methods whose interval lies entirely better (lower)
    than this one's, so methods with overlapping intervals can share a rank; ``mean_rank``: its
    average over tasks of the within-task rank of its mean score (ties averaged); ``low``/``high``:
    ``LEVEL`` bootstrap interval of its position (1 = best, ties take the better position).
    """

    method: str
    rank: int
    mean_rank: float
    low: int
    high: int


def _common_table(scores: Mapping[str, Mapping[str, Mapping[int, float]]]) -> tuple[list[str], list[np.ndarray]]:
    """Methods (sorted) and one (methods, seeds) matrix per usable task (tasks, seeds sorted).

    A task is used when every method has it; only the seeds that every method ran on it count.
    """
    methods = sorted(scores)
    tasks = sorted(set.intersection(*(set(scores[m]) for m in methods))) if methods else []
    tables = []
    for task in tasks:
        seeds = sorted(set.intersection(*(set(scores[m][task]) for m in methods)))
        if seeds:
            table = np.asarray([[scores[m][task][s] for s in seeds] for m in methods], dtype=np.float64)
            if not np.isfinite(table).all():
                raise ValueError(f"task {task!r}: scores must be finite")
            tables.append(table)
    return methods, tables


def _observed_task_means(tables: list[np.ndarray]) -> np.ndarray:
    """(tasks, methods) mean score over seeds, each a ``math.fsum`` (order-free, exact ties)."""
    return np.asarray([[math.fsum(row) / len(row) for row in table] for table in tables])


def rank_intervals(scores: Mapping[str, Mapping[str, Mapping[int, float]]], reps: int = 2000,
                   seed: int = 0) -> list[RankInterval]:
    """Ranks of methods over a suite's tasks with bootstrap rank intervals.

    Args:
        scores: method -> task -> seed -> score, higher better (e.g. the signed primary endpoint).
            Only tasks that every method has, and on each only the seeds every method ran, count.
        reps: bootstrap replicates (seeds resampled within each task, the same draw for every
            method); seed: their generator's seed.

    Returns:
        One :class:`RankInterval` per method, ordered by (rank, mean_rank, method); ``[]`` when no
        task is common to all methods.
    """
    methods, tables = _common_table(scores)
    if not tables:
        return []
    observed = stats.rankdata(-_observed_task_means(tables), axis=1, method="average")
    mean_rank = [math.fsum(observed[:, i]) / len(tables) for i in range(len(methods))]
    rng = np.random.default_rng(seed)
    rank_sum = np.zeros((reps, len(methods)))
    for table in tables:
        idx = rng.integers(0, table.shape[1], size=(reps, table.shape[1]))
        means = table[:, idx].mean(axis=2).T  # (reps, methods); identical rows stay identical
        rank_sum += stats.rankdata(-means, axis=1, method="average")
    position = stats.rankdata(rank_sum, axis=1, method="min")
    tail = (1.0 - LEVEL) / 2.0
    low = np.quantile(position, tail, axis=0, method="lower").astype(int)
    high = np.quantile(position, 1.0 - tail, axis=0, method="higher").astype(int)
    out = [RankInterval(m, 1 + int((high < low[i]).sum()), mean_rank[i], int(low[i]), int(high[i]))
           for i, m in enumerate(methods)]
    return sorted(out, key=lambda r: (r.rank, r.mean_rank, r.method))


def best_method(intervals: Sequence[RankInterval]) -> str | None:
    """The method whose rank interval lies entirely above (better than) every other's, else None.

    None also for fewer than two methods (nothing to be best among).
    """
    for r in intervals:
        others = [o for o in intervals if o is not r]
        if others and all(r.high < o.low for o in others):
            return r.method
    return None


@dataclass(frozen=True)
class CDData:
    """What a critical-difference diagram draws.

    ``avg_ranks``: method -> average over tasks of its within-task rank (1 = best), best first;
    ``cliques``: maximal runs of methods (in ``avg_ranks`` order, two or more) whose every pair is
    not significantly different; ``p_adjusted``: (method a, method b) -> Holm-adjusted exact
    Wilcoxon p over tasks, a < b by name; ``n_tasks``; ``alpha``.
    """

    avg_ranks: dict[str, float]
    cliques: tuple[tuple[str, ...], ...]
    p_adjusted: dict[tuple[str, str], float]
    n_tasks: int
    alpha: float


def cd_diagram_data(scores: Mapping[str, Mapping[str, Mapping[int, float]]], alpha: float = 0.05) -> CDData | None:
    """Average ranks and cliques of methods over tasks (pairwise Wilcoxon + Holm, not Nemenyi).

    Blocks are tasks: each method's score on a task is its mean over the seeds common to all
    methods (as :func:`rank_intervals`). Every pair of methods is tested with
    :func:`~tram_bench.stats.paired.exact_wilcoxon_p` on the per-task differences, Holm over all
    pairs; pairwise tests do not depend on which other methods are in the pool, unlike mean-rank
    post-hoc tests (Benavoli et al., JMLR 2016). The signed-rank test compares magnitudes across
    tasks, so ``scores`` should share units (e.g. paired differences to the baseline).

    Returns:
        None with fewer than ``CD_MIN_TASKS`` common tasks or fewer than two methods.
    """
    methods, tables = _common_table(scores)
    if len(tables) < CD_MIN_TASKS or len(methods) < 2:
        return None
    means = _observed_task_means(tables)
    ranks = stats.rankdata(-means, axis=1, method="average")
    avg = {m: math.fsum(ranks[:, i]) / len(tables) for i, m in enumerate(methods)}
    pairs = list(combinations(range(len(methods)), 2))
    raw = [exact_wilcoxon_p(means[:, a] - means[:, b]) for a, b in pairs]
    adjusted = holm([1.0 if p is None else p for p in raw])
    p_adj = {(methods[a], methods[b]): p for (a, b), p in zip(pairs, adjusted)}
    order = sorted(methods, key=lambda m: (avg[m], m))

    def same(a: str, b: str) -> bool:
        return p_adj[tuple(sorted((a, b)))] >= alpha

    cliques: list[tuple[str, ...]] = []
    for i in range(len(order)):
        j = i
        while j + 1 < len(order) and all(same(order[k], order[j + 1]) for k in range(i, j + 1)):
            j += 1
        clique = tuple(order[i:j + 1])
        if len(clique) > 1 and not any(set(clique) <= set(c) for c in cliques):
            cliques.append(clique)
    return CDData({m: avg[m] for m in order}, tuple(cliques), p_adj, len(tables), alpha)
