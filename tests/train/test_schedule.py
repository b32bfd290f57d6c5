import math

import pytest

from tram_bench.train.schedule import lr_multiplier


def test_constant_with_warmup():
    assert [lr_multiplier(s, 10, "constant", warmup=4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_linear_and_polynomial_decay_to_zero():
    assert lr_multiplier(0, 10, "linear") == 1.0
    assert lr_multiplier(5, 10, "linear") == pytest.approx(0.5)
    assert lr_multiplier(10, 10, "linear") == 0.0
    assert lr_multiplier(5, 10, "polynomial", power=2.0) == pytest.approx(0.25)
    # polynomial with power 1 is linear
    assert all(lr_multiplier(s, 20, "polynomial", 5, 1.0) == lr_multiplier(s, 20, "linear", 5) for s in range(20))


def test_cosine_after_warmup():
    assert lr_multiplier(2, 12, "cosine", warmup=2) == pytest.approx(1.0)
    assert lr_multiplier(7, 12, "cosine", warmup=2) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_multiplier(12, 12, "cosine", warmup=2) == pytest.approx(0.0)


def test_unknown_schedule_is_rejected():
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        lr_multiplier(0, 10, "step")
