"""tram_bench.stats.paired: the decision test, Holm, intervals and verdict rules, on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from tram_bench.stats.paired import (
    VERDICTS,
    bootstrap_interval,
    compare_family,
    equivalent,
    exact_wilcoxon_p,
    holm,
    mean_sd,
    min_attainable_p,
    paired_t_p,
    t_interval,
)


# --- the Wilcoxon floor: all n differences positive give p = 2 / 2^n; Holm multiplies by m -----------

FLOOR = {5: 0.0625, 6: 0.03125, 9: 0.00390625, 10: 0.001953125}


@pytest.mark.parametrize("n", sorted(FLOOR))
def test_exact_p_of_n_positive_differences_is_the_floor(n):
    assert exact_wilcoxon_p([float(k) for k in range(1, n + 1)]) == FLOOR[n]
    assert exact_wilcoxon_p([-0.5] * n) == FLOOR[n]  # all tied, one sign: the same floor


@pytest.mark.parametrize("n,m,expected", [
    (5, 1, 0.0625), (5, 5, 0.3125), (5, 10, 0.625),
    (6, 1, 0.03125), (6, 5, 0.15625), (6, 10, 0.3125),
    (9, 1, 0.00390625), (9, 5, 0.01953125), (9, 10, 0.0390625),
    (10, 1, 0.001953125), (10, 5, 0.009765625), (10, 10, 0.01953125),
    (2, 10, 1.0), (0, 1, 1.0),
])
def test_min_attainable_p(n, m, expected):
    assert min_attainable_p(n, m) == expected


def test_min_attainable_p_rejects_an_empty_family():
    with pytest.raises(ValueError, match="m >= 1"):
        min_attainable_p(5, 0)


def test_exact_p_by_hand_without_ties():
    # Ranks 1..5, W- = 4. Subsets of {1..5} with sum <= 4: {}, 1, 2, 3, 4, 1+2, 1+3 -> 7 of 32.
    assert exact_wilcoxon_p([1.0, 2.0, 3.0, -4.0, 5.0]) == 2 * 7 / 32


def test_exact_p_by_hand_with_ties_and_zeros():
    # Zeros dropped; |d| = 1, 1, 1, 2 -> midranks 2, 2, 2, 4; W- = 2. Sign patterns with W- <= 2:
    # none negative, or one of the three 2s -> 4 of 16, two-sided 8/16.
    assert exact_wilcoxon_p([0.0, 1.0, 1.0, -1.0, 2.0, 0.0]) == 0.5


def test_all_zero_differences_have_no_test():
    assert exact_wilcoxon_p([0.0, 0.0, 0.0]) is None
    assert exact_wilcoxon_p([]) is None


def test_float_noise_neither_breaks_ties_nor_invents_differences():
    # Accuracy gains of 10 points computed from fractions: 10 +- a few ulps; and a zero that is 2.8e-15.
    noisy = [(a / 100 - b / 100) * 100 for a, b in [(30, 20), (20, 10), (81, 71), (45, 35)]]
    noisy.append((0.3 - 0.1 - 0.2) * 100)
    assert len(set(noisy)) == 5 and noisy[-1] != 0.0
    # Four tied positive differences and one zero: the floor of n = 4.
    assert exact_wilcoxon_p(noisy) == 2 / 2**4


def test_exact_p_matches_scipy_exact_without_ties():
    rng = np.random.default_rng(3)
    for _ in range(100):
        d = rng.normal(0.4, 1.0, int(rng.integers(1, 30)))
        ours = exact_wilcoxon_p(d)
        theirs = stats.wilcoxon(d, zero_method="wilcox", method="exact").pvalue
        assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15)


def test_exact_p_matches_scipy_exhaustive_permutation_with_ties_and_zeros():
    rng = np.random.default_rng(4)
    checked = 0
    while checked < 15:
        d = rng.integers(-3, 4, int(rng.integers(2, 10))).astype(float)
        if not d.any():
            continue
        theirs = stats.wilcoxon(d, zero_method="wilcox", method=stats.PermutationMethod(n_resamples=np.inf)).pvalue
        assert exact_wilcoxon_p(d) == pytest.approx(theirs, rel=1e-12)
        checked += 1


def test_exact_p_rejects_non_finite_values():
    with pytest.raises(ValueError, match="finite"):
        exact_wilcoxon_p([1.0, math.nan, 2.0])


# --- Holm --------------------------------------------------------------------------------------------

def test_holm_by_hand():
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], rel=1e-15)
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([]) == []


def test_holm_matches_statsmodels():
    rng = np.random.default_rng(5)
    for m in (1, 2, 5, 12):
        p = rng.uniform(0, 0.2, m)
        p[0] = p[-1]  # a tie
        assert holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist(), rel=1e-15)


def test_holm_rejects_invalid_p():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.1, 1.5])


# --- effect sizes ------------------------------------------------------------------------------------

def test_t_interval_by_hand():
    # mean 3, sd sqrt(2.5), se 0.70711, t(0.975, 4) = 2.776445 -> half width 1.963243.
    mean, low, high = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert mean == 3.0
    assert (low, high) == pytest.approx((3 - 1.963243, 3 + 1.963243), abs=1e-6)
    assert t_interval([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    one = t_interval([1.5])
    assert one[0] == 1.5 and math.isnan(one[1]) and math.isnan(one[2])


def test_means_are_order_free():
    # Naive sums differ: 0.1 + 0.2 + 0.3 = 0.6000000000000001, 0.3 + 0.2 + 0.1 = 0.6.
    assert sum([0.1, 0.2, 0.3]) != sum([0.3, 0.2, 0.1])
    assert mean_sd([0.1, 0.2, 0.3]) == mean_sd([0.3, 0.2, 0.1])
    assert t_interval([0.1, 0.2, 0.3]) == t_interval([0.3, 0.1, 0.2])


def test_paired_t_p_matches_scipy():
    d = [0.3, -0.1, 0.8, 0.5, 0.2, 1.1]
    assert paired_t_p(d) == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue, rel=1e-12)
    assert paired_t_p([1.0, 1.0]) is None
    assert paired_t_p([1.0]) is None


def test_bootstrap_interval_needs_ten_pairs_and_is_order_free():
    d = [0.3, -0.1, 0.8, 0.5, 0.2, 1.1, 0.4, 0.0, 0.6, 0.9]
    assert bootstrap_interval(d[:9]) is None
    low, high = bootstrap_interval(d)
    assert low < math.fsum(d) / 10 < high
    assert bootstrap_interval(d) == bootstrap_interval(d[::-1]) == (low, high)
    assert bootstrap_interval([0.5] * 12) == (0.5, 0.5)


# --- verdict rules -----------------------------------------------------------------------------------

SMALL = [-0.1, 0.1, -0.1, 0.1, 0.0, 0.0]  # mean 0, sd 0.0894; 90% t half width 2.015048 * 0.0365148


def test_equivalence_by_hand():
    _, low, high = t_interval(SMALL, level=0.9)
    assert (low, high) == pytest.approx((-0.0735792, 0.0735792), abs=1e-6)
    assert equivalent(SMALL, delta=0.08)
    assert not equivalent(SMALL, delta=0.07)
    assert not equivalent([0.0], delta=1.0)  # no interval from one pair
    with pytest.raises(ValueError, match="delta"):
        equivalent(SMALL, delta=0.0)


def test_equivalent_and_inconclusive_verdicts():
    out = compare_family({"tight": SMALL}, alpha=0.05, delta=0.08)
    assert out[0].verdict == "equivalent"
    # The same data with a narrower margin: n = 6 and m = 1 can reach alpha (0.03125), so not
    # underpowered; no difference shown and none bounded -> inconclusive, with what the design sees.
    c = compare_family({"tight": SMALL}, alpha=0.05, delta=0.05)[0]
    assert c.verdict == "inconclusive"
    assert c.min_attainable_p == 0.03125
    assert c.wilcoxon_p == 1.0 and c.p_adjusted == 1.0
    assert c.mde is not None and c.mde > 0
    assert c.seeds_for_delta is not None and c.seeds_for_delta > 6


def test_underpowered_at_five_seeds_and_ten_comparisons():
    family = {f"m{i}": [1.0 + i, 2.0 + i, 3.0 + i, 4.0 + i, 5.0 + i] for i in range(10)}
    out = compare_family(family, alpha=0.05, delta=1.0)
    assert [c.verdict for c in out] == ["underpowered"] * 10
    assert all(c.min_attainable_p == 0.625 and c.mde is None for c in out)
    assert all(c.wilcoxon_p == 0.0625 and c.p_adjusted == 0.625 for c in out)


def test_better_and_worse_at_nine_seeds_and_ten_comparisons():
    up = [float(k) for k in range(1, 10)]
    family = {"up": up, "down": [-v for v in up]} | {f"noise{i}": [1.0, -2.0, 3.0, -4.0] for i in range(8)}
    out = {c.config: c for c in compare_family(family, alpha=0.05, delta=1.0)}
    # Holm: the two smallest p (2/512 each) are multiplied by 10 and 9; running max keeps 10 * 2/512.
    assert out["up"].p_adjusted == out["down"].p_adjusted == 10 * 2 / 512
    assert (out["up"].verdict, out["down"].verdict) == ("better", "worse")
    assert out["noise0"].verdict == "underpowered"  # 4 pairs: floor 10 * 2/16 >= alpha


def test_equal_values_in_any_order_give_equal_comparisons():
    d = [0.1, 0.2, 0.3, 0.05, -0.02, 0.4, 0.11, 0.3, 0.25, 0.12]
    a, b = compare_family({"a": d, "b": d[::-1]}, alpha=0.05, delta=1.0)
    assert {**a.__dict__, "config": "b"} == b.__dict__
    assert a.verdict in VERDICTS


def test_compare_family_reports_undefined_values_as_none():
    (c,) = compare_family({"one": [0.4]}, alpha=0.05, delta=1.0)
    assert (c.n_pairs, c.mean_diff, c.sd_diff, c.ci_low, c.ttest_p, c.mde, c.verdict) == \
        (1, 0.4, None, None, None, None, "underpowered")
