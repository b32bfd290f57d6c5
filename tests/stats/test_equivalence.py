"""TOST with Holm over a family, against statsmodels (a dev dependency) and hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_paired

from tram_bench.stats.equivalence import equivalence_family, tost_p


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tost_p_is_statsmodels_paired_tost(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(70.0, 2.0, 10)
    b = a + rng.normal(0.2, 0.5, 10)
    expected = ttost_paired(b, a, -1.0, 1.0)[0]
    assert tost_p(b - a, 1.0) == pytest.approx(expected, rel=1e-12)


def test_family_is_holm_adjusted_and_decides_at_alpha():
    rng = np.random.default_rng(3)
    diffs = {
        ("looksam", "sam"): list(rng.normal(0.0, 0.3, 10)),  # tightly inside +-1: equivalent
        ("msam", "sam"): list(rng.normal(2.0, 0.3, 10)),  # outside: equivalence not shown
        ("looksam", "tram-prev"): list(rng.normal(0.5, 2.0, 10)),  # too noisy
    }
    out = equivalence_family(diffs, delta=1.0, alpha=0.05)
    raw = [tost_p(v, 1.0) for v in diffs.values()]
    assert [r.p_tost for r in out] == raw
    assert [r.p_adjusted for r in out] == pytest.approx(list(multipletests(raw, method="holm")[1]), rel=1e-12)
    assert [r.verdict for r in out] == ["equivalent", "equivalence not shown", "equivalence not shown"]
    assert [(r.variant, r.reference, r.n_pairs) for r in out] == [(k[0], k[1], 10) for k in diffs]


def test_edge_cases_are_decided_without_a_t_statistic():
    assert tost_p([0.5], 1.0) == 1.0  # one pair: no test
    assert tost_p([0.5, 0.5, 0.5], 1.0) == 0.0  # no spread, inside the margin
    assert tost_p([1.0, 1.0], 1.0) == 1.0  # no spread, on the margin: not inside
    with pytest.raises(ValueError, match="delta must be > 0"):
        tost_p([0.1, 0.2], 0.0)
    with pytest.raises(ValueError, match="alpha must lie in"):
        equivalence_family({("a", "b"): [0.1, 0.2]}, delta=1.0, alpha=1.0)
