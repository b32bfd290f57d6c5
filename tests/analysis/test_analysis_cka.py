"""Linear CKA with column centring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tram_bench.analysis import linear_cka


def _features(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d))


def test_hand_computed_value_on_one_feature():
    # Centred x = (-1, 0, 1), y = (-1, -2, 3): (y.x)^2 / (|x|^2 |y|^2) = 16 / (2 * 14).
    assert linear_cka([[1.0], [2.0], [3.0]], [[1.0], [0.0], [5.0]]) == pytest.approx(4 / 7, rel=1e-15)


def test_identical_representations_give_one():
    x = _features(50, 6, 0)
    assert linear_cka(x, x) == pytest.approx(1.0, rel=1e-14)
    assert linear_cka(torch.from_numpy(x).float(), torch.from_numpy(x)) == pytest.approx(1.0, rel=1e-6)


def test_invariant_to_orthogonal_transform_scaling_and_offset():
    x, y = _features(40, 5, 1), _features(40, 3, 2)
    y = y + 0.5 * x[:, :3]  # related, so the reference value is not near zero
    q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((5, 5)))
    base = linear_cka(x, y)
    assert 0.1 < base < 0.99
    assert linear_cka(x @ q, y) == pytest.approx(base, rel=1e-12)
    assert linear_cka(7.5 * x, y) == pytest.approx(base, rel=1e-12)
    # Centring: a constant offset of every feature changes nothing.
    assert linear_cka(x + 100.0, y) == pytest.approx(base, rel=1e-9)
    assert linear_cka(x @ q, x) == pytest.approx(1.0, rel=1e-12)


def test_independent_features_are_near_zero():
    assert linear_cka(_features(2000, 8, 4), _features(2000, 8, 5)) < 0.1


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="X has 10 rows but Y has 9"):
        linear_cka(_features(10, 2, 0), _features(9, 2, 1))
    with pytest.raises(ValueError, match="2-D"):
        linear_cka(np.zeros(5), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="constant"):
        linear_cka(np.ones((5, 2)), _features(5, 2, 0))
    with pytest.raises(ValueError, match="NaN"):
        linear_cka(np.full((3, 1), np.nan), _features(3, 1, 0))


def test_two_examples_always_give_one_which_is_why_validate_asks_for_three():
    """Two centred examples span one direction, so linear CKA is 1 for any two representations
    (the budget rule CKA_MIN_EXAMPLES = 3 in tram_bench.suite.train_rules); three examples can tell."""
    from tram_bench.suite.train_rules import CKA_MIN_EXAMPLES

    rng = np.random.default_rng(0)
    for _ in range(5):
        assert linear_cka(rng.normal(size=(2, 7)), rng.normal(size=(2, 4))) == pytest.approx(1.0)
    n = CKA_MIN_EXAMPLES
    assert linear_cka(rng.normal(size=(n, 7)), rng.normal(size=(n, 4))) < 0.999
