"""tram_bench.stats.paired power: the MDE of the exact signed-rank test and the seed planner."""

from __future__ import annotations


import numpy as np
import pytest
from scipy import stats

from tram_bench.stats.paired import mde, seeds_needed


def test_mde_is_none_when_the_design_cannot_reach_alpha():
    assert mde(1.0, 5, 0.05) is None  # floor 2/32 = 0.0625
    assert mde(1.0, 8, 0.005) is None  # alpha 0.05 / 10 comparisons; floor 2/256 = 0.0078
    assert mde(1.0, 9, 0.005) is not None  # floor 2/512 = 0.0039
    assert mde(1.0, 0, 0.05) is None


def test_mde_scales_with_sd():
    base = mde(1.0, 10, 0.05)
    assert mde(2.5, 10, 0.05) == pytest.approx(2.5 * base, rel=1e-12)
    assert mde(0.0, 10, 0.05) == 0.0


def test_mde_decreases_with_n_and_grows_with_power_and_stricter_alpha():
    values = [mde(1.0, n, 0.05) for n in range(6, 41)]
    assert all(a > b for a, b in zip(values, values[1:])), values
    assert mde(1.0, 12, 0.05, power=0.9) > mde(1.0, 12, 0.05, power=0.8)
    assert mde(1.0, 12, 0.01) > mde(1.0, 12, 0.05)


def _better_rate(effect: float, n: int, alpha: float, reps: int, seed: int) -> float:
    """Share of simulated normal designs in which scipy's exact test says 'better' (independent check)."""
    d = np.random.default_rng(seed).normal(effect, 1.0, (reps, n))
    # 'better' = the two-sided test rejects on the upper side = one-sided upper p < alpha / 2
    p_upper = stats.wilcoxon(d, axis=1, zero_method="wilcox", method="exact", alternative="greater").pvalue
    return float(np.mean(2 * p_upper < alpha))


@pytest.mark.parametrize("n,alpha", [(8, 0.05), (12, 0.01)])
def test_power_at_the_mde_is_the_requested_power(n, alpha):
    effect = mde(1.0, n, alpha)
    reps = 4000
    se = (0.8 * 0.2 / reps) ** 0.5
    assert _better_rate(effect, n, alpha, reps, seed=99) == pytest.approx(0.8, abs=3 * se + 0.015)
    # and clearly below it at two thirds of the MDE
    assert _better_rate(effect * 2 / 3, n, alpha, reps, seed=98) < 0.8 - 5 * se


def test_seeds_needed_is_the_first_n_whose_mde_reaches_delta():
    n = seeds_needed(1.0, 0.8, 0.05)
    assert n is not None
    assert mde(1.0, n, 0.05) <= 0.8 < mde(1.0, n - 1, 0.05)
    # zero spread: the first n whose floor is under alpha (2/2^6 < 0.05 <= 2/2^5)
    assert seeds_needed(0.0, 0.1, 0.05) == 6
    assert seeds_needed(1.0, 0.05, 0.05, max_n=30) is None
    with pytest.raises(ValueError, match="delta"):
        seeds_needed(1.0, 0.0, 0.05)
