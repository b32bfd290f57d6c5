"""Two steps of every optimizer over SGD(momentum) and Adam against a float64 hand computation.

The model is a linear least-squares layer whose gradient is written out analytically, so neither
the perturbation, the gradient at w + e nor the base update depends on the code under test.
"""

from __future__ import annotations

import math

import pytest
import torch

from tram_bench.optim import ASAM, SAM, TRAM, FisherSAM

EPS = 1e-12
LR_SGD, MOMENTUM = 0.1, 0.9
LR_ADAM, BETAS, ADAM_EPS = 0.01, (0.9, 0.99), 1e-8
RADII = (0.3, 0.7)  # TRAM's d at step 1 and step 2


def _data():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    return x, y


def _model():
    gen = torch.Generator().manual_seed(1)
    model = torch.nn.Linear(3, 2, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.randn(2, 3, generator=gen, dtype=torch.float64))
        model.bias.copy_(torch.randn(2, generator=gen, dtype=torch.float64))
    return model


def _analytic_grad(w, b, x, y):
    """Gradient of 0.5 * mean_n ||W x_n + b - y_n||^2."""
    r = x @ w.T + b - y
    n = x.shape[0]
    return [r.T @ x / n, r.sum(0) / n]


def _ellipsoid(gs, inv, radius):
    pg = [i * g for i, g in zip(inv, gs)]
    norm = math.sqrt(sum(float((g * q).sum()) for g, q in zip(gs, pg)))
    return [radius * q / (norm + EPS) for q in pg], norm


def _hand_e(kind, ws, gs, step):
    if kind == "sam":
        return _ellipsoid(gs, [torch.ones_like(g) for g in gs], 0.2)
    if kind == "asam":
        return _ellipsoid(gs, [(w.abs() + 0.05) ** 2 for w in ws], 0.5)
    if kind == "fisher_sam":
        return _ellipsoid(gs, [1 / (1 + 0.5 * g**2) for g in gs], 0.1)
    if kind == "tram":
        return _ellipsoid(gs, [(w.abs() + 0.02) ** 2 for w in ws], RADII[step])
    if kind == "tram_fisher":
        return _ellipsoid(gs, [1 / (1 + 0.3 * g**2) for g in gs], RADII[step])
    raise AssertionError(kind)


def _make(kind, params, base, fused=False):
    cls, kw = (torch.optim.SGD, {"lr": LR_SGD, "momentum": MOMENTUM}) if base == "sgd" else (
        torch.optim.Adam,
        {"lr": LR_ADAM, "betas": BETAS, "eps": ADAM_EPS},
    )
    kw["fused_perturbation"] = fused
    if kind == "sam":
        return SAM(params, cls, rho=0.2, **kw)
    if kind == "asam":
        return ASAM(params, cls, rho=0.5, eta=0.05, **kw)
    if kind == "fisher_sam":
        return FisherSAM(params, cls, rho=0.1, eta=0.5, **kw)
    if kind == "tram":
        return TRAM(params, cls, eta=0.02, **kw)
    return TRAM(params, cls, fisher=True, fisher_eta=0.3, **kw)


class _HandBase:
    def __init__(self, base):
        self.base, self.t, self.m, self.v = base, 0, None, None

    def step(self, ws, gs):
        self.t += 1
        if self.base == "sgd":
            self.m = list(gs) if self.m is None else [MOMENTUM * m + g for m, g in zip(self.m, gs)]
            return [w - LR_SGD * m for w, m in zip(ws, self.m)]
        b1, b2 = BETAS
        zeros = [torch.zeros_like(g) for g in gs]
        self.m = [b1 * m + (1 - b1) * g for m, g in zip(self.m or zeros, gs)]
        self.v = [b2 * v + (1 - b2) * g * g for v, g in zip(self.v or zeros, gs)]
        bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
        return [
            w - (LR_ADAM / bc1) * m / (v.sqrt() / math.sqrt(bc2) + ADAM_EPS)
            for w, m, v in zip(ws, self.m, self.v)
        ]


@pytest.mark.parametrize("fused", [False, True], ids=["default", "fused_perturbation"])
@pytest.mark.parametrize("base", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["sam", "asam", "fisher_sam", "tram", "tram_fisher"])
def test_two_steps_equal_hand_computation(kind, base, fused):
    x, y = _data()
    model = _model()
    opt = _make(kind, model.parameters(), base, fused)
    ws = [model.weight.detach().clone(), model.bias.detach().clone()]
    hand = _HandBase(base)
    for step in range(2):
        gs = _analytic_grad(*ws, x, y)
        e, norm = _hand_e(kind, ws, gs, step)
        g_at_e = _analytic_grad(ws[0] + e[0], ws[1] + e[1], x, y)
        ws = hand.step(ws, g_at_e)

        opt.zero_grad()
        (0.5 * ((model(x) - y) ** 2).sum(1).mean()).backward()
        if kind.startswith("tram"):
            used = opt.first_step(RADII[step], zero_grad=True)
        else:
            used = opt.first_step(zero_grad=True)
        assert used == pytest.approx(norm, rel=1e-13)
        (0.5 * ((model(x) - y) ** 2).sum(1).mean()).backward()
        opt.second_step(zero_grad=True)

    torch.testing.assert_close(model.weight.detach(), ws[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(model.bias.detach(), ws[1], rtol=0, atol=1e-12)
    # The base step must have moved the weights by much more than the tolerance.
    assert float((model.weight.detach() - _model().weight.detach()).abs().max()) > 1e-3
