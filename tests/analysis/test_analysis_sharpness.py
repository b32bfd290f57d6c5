"""Epsilon-sharpness: hand-computed projected ascent on quadratics, restore, eval mode."""

from __future__ import annotations

import pytest
import torch

from tram_bench.analysis import SharpnessResult, epsilon_sharpness

W0 = [0.5, -1.0, 2.0, 0.0]
CENTRE = [0.3, -1.2, 1.0, 0.0]


class Quadratic(torch.nn.Module):
    def __init__(self, w=W0):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w, dtype=torch.float64))


def quadratic_loss(curvature):
    centre = torch.tensor(CENTRE, dtype=torch.float64)

    def loss_fn(model, offset):  # the batch is a constant added to the loss
        return 0.5 * curvature * ((model.w - centre) ** 2).sum() + offset

    return loss_fn


def _hand(curvature, offsets, epsilon, lr, steps, accumulation):
    w = list(W0)
    bound = [epsilon * (abs(v) + 1) for v in w]
    z = [0.0] * len(w)

    def loss(point):
        quad = 0.5 * curvature * sum((p - c) ** 2 for p, c in zip(point, CENTRE))
        return sum(quad + o for o in offsets) / len(offsets)

    for _ in range(steps):  # the gradient does not depend on the batch, so accumulation averages copies
        grad = [curvature * (wi + zi - ci) for wi, zi, ci in zip(w, z, CENTRE)]
        z = [min(max(zi + lr * gi, -b), b) for zi, gi, b in zip(z, grad, bound)]
    base = loss(w)
    top = max(base, loss([wi + zi for wi, zi in zip(w, z)]))
    ratio = max(abs(zi) / b for zi, b in zip(z, bound))
    return 100 * (top - base) / (1 + base), base, top, ratio


def test_projected_ascent_equals_hand_computation():
    offsets = [0.1, 0.4, 0.2]
    kw = dict(epsilon=1e-2, lr=2e-3, steps=7, accumulation=2)
    result = epsilon_sharpness(Quadratic(), quadratic_loss(3.0), offsets, **kw)
    value, base, top, ratio = _hand(3.0, offsets, **kw)
    assert isinstance(result, SharpnessResult) and result.steps == 7
    assert result.loss == pytest.approx(base, rel=1e-14)
    assert result.max_loss == pytest.approx(top, rel=1e-14)
    assert result.value == pytest.approx(value, rel=1e-10) and result.value > 0
    assert result.box_ratio == pytest.approx(ratio, rel=1e-12)
    # The box binds for some coordinates (ratio 1) and the last coordinate never moves (w = centre).
    assert result.box_ratio == pytest.approx(1.0, rel=1e-12)


def test_unconstrained_iterates_stay_inside_the_box():
    result = epsilon_sharpness(Quadratic(), quadratic_loss(1.0), [0.0], epsilon=1.0, lr=1e-3, steps=3)
    _, _, _, ratio = _hand(1.0, [0.0], 1.0, 1e-3, 3, 4)
    assert result.box_ratio == pytest.approx(ratio, rel=1e-12)
    assert 0 < result.box_ratio < 1


def test_sharper_quadratic_is_sharper():
    flat = epsilon_sharpness(Quadratic(), quadratic_loss(1.0), [0.0, 0.0])
    sharp = epsilon_sharpness(Quadratic(), quadratic_loss(10.0), [0.0, 0.0])
    assert sharp.value > flat.value > 0
    assert sharp.box_ratio <= 1.0 and flat.box_ratio <= 1.0


def test_constant_loss_has_zero_sharpness():
    def constant(model, batch):
        return (model.w * 0.0).sum() + 2.0

    def detached(model, batch):
        return torch.tensor(2.0, dtype=torch.float64)

    for loss_fn in (constant, detached):
        result = epsilon_sharpness(Quadratic(), loss_fn, [None, None])
        assert result.value == 0.0 and result.max_loss == result.loss == 2.0 and result.box_ratio == 0.0


def test_weights_mode_flags_and_grads_are_restored_and_eval_mode_is_used():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 1)
    ).double()
    model[0].weight.requires_grad_(False)
    model.train()
    x = torch.randn(8, 3, dtype=torch.float64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = []

    def loss_fn(m, batch):
        modes.append(m.training)
        return (m(batch) ** 2).mean()

    result = epsilon_sharpness(model, loss_fn, [x, x[:4]], epsilon=1e-3, lr=1.0, steps=2, accumulation=1)
    assert result.value > 0
    assert set(modes) == {False}  # eval mode: dropout off, BatchNorm running stats untouched
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and buffers, bit for bit
    assert model.training and not model[0].weight.requires_grad and model[3].weight.requires_grad
    assert all(p.grad is None for p in model.parameters())
    # Eval mode makes the measurement deterministic despite dropout.
    again = epsilon_sharpness(model, loss_fn, [x, x[:4]], epsilon=1e-3, lr=1.0, steps=2, accumulation=1)
    assert again == result


def test_zero_steps_and_zero_epsilon_measure_nothing():
    assert epsilon_sharpness(Quadratic(), quadratic_loss(5.0), [0.0], steps=0).value == 0.0
    result = epsilon_sharpness(Quadratic(), quadratic_loss(5.0), [0.0], epsilon=0.0)
    assert result.value == 0.0 and result.box_ratio == 0.0


def test_bad_arguments_raise():
    model = Quadratic()
    with pytest.raises(ValueError, match="batches is empty"):
        epsilon_sharpness(model, quadratic_loss(1.0), [])
    with pytest.raises(ValueError, match="steps must be an integer >= 0, got -1"):
        epsilon_sharpness(model, quadratic_loss(1.0), [0.0], steps=-1)
    with pytest.raises(ValueError, match="accumulation must be an integer >= 1, got 0"):
        epsilon_sharpness(model, quadratic_loss(1.0), [0.0], accumulation=0)
    with pytest.raises(ValueError, match="epsilon must be"):
        epsilon_sharpness(model, quadratic_loss(1.0), [0.0], epsilon=float("nan"))
    with pytest.raises(ValueError, match="scalar tensor"):
        epsilon_sharpness(model, lambda m, b: m.w * 2, [0.0])
    with pytest.raises(ValueError, match="resolution of torch.bfloat16"):
        epsilon_sharpness(Quadratic().bfloat16(), quadratic_loss(1.0), [0.0])
    assert torch.equal(model.w.detach(), torch.tensor(W0, dtype=torch.float64))
