"""Monte-Carlo null check: identical methods get a 'better'/'worse' verdict in at most alpha of families."""

from __future__ import annotations

import numpy as np

from tram_bench.stats.paired import compare_family


def test_family_wise_error_rate_of_verdicts_under_the_null():
    # 2000 simulated tasks, each a family of m = 5 configurations identical to the baseline:
    # n = 9 normal paired differences with mean 0 (9 seeds: the floor 5 * 2/512 is under alpha,
    # and below the 10 pairs from which compare_family also bootstraps, which would take minutes).
    # delta only matters after the better/worse rule; a wide one keeps the seed planner's
    # Monte Carlo at small n (fast).
    alpha, families, m, n = 0.05, 2000, 5, 9
    diffs = np.random.default_rng(2024).normal(0.0, 1.0, (families, m, n))
    wrong = 0
    for family in diffs:
        verdicts = {c.verdict for c in compare_family({f"c{i}": family[i] for i in range(m)}, alpha=alpha, delta=2.0)}
        wrong += bool(verdicts & {"better", "worse"})
    rate = wrong / families
    se = (alpha * (1 - alpha) / families) ** 0.5
    assert rate <= alpha + 3 * se, rate
    # The check has teeth: the unadjusted per-test rate at n = 9 is ~4%, so without Holm five
    # independent tests would exceed 15% family-wise; and the test does reject sometimes.
    assert rate > 0
