"""Cheaper TRAM (``radius_every``, ``radius_batch_fraction``) against float64 hand computations.

The reference below recomputes every step from closed-form formulas (``methods_support``): which
steps measure ``d`` (step t measures when ``t % k == 0``), the reused ``d`` in between, the rows the
measurement sees (the first ``max(1, ceil(f * B))``), TRAM-θ_{t-1}'s copy (taken only on the step
before a measuring step) and TRAM-x's noise (drawn only when measuring, for the measured rows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
import torch
import torch.nn.functional as F
from methods_support import (
    DIM,
    FP32,
    MLP,
    ClassifierObjective,
    TinyLM,
    TokenObjective,
    asam_e,
    assert_close,
    build,
    classifier_batch,
    grad_of,
    kl_rows,
    logits_no_grad,
    plus,
    token_batch,
    token_logits,
    weights,
)
from torch import Tensor

from tram_bench.methods.hparams import TRAMHparams, TRAMXHparams
from tram_bench.suite.fieldtypes import to_jsonable

LR = 0.1
SEED = 11
SIGMA = 0.3
ETA = 0.01


@dataclass
class CheapReference:
    """TRAM with SGD (momentum 0) by hand: weights, target weights, the last d, TRAM-x's noise."""

    mid: str
    every: int
    fraction: float
    target: list[Tensor]
    d: float | None = None
    t: int = 0
    noise: torch.Generator = field(default_factory=lambda: torch.Generator().manual_seed(SEED))
    measured: list[bool] = field(default_factory=list)

    def step(self, model, ws: list[Tensor], logits_fn, loss_fn, rows_of, mask=None) -> list[Tensor]:
        """``logits_fn(m, rows, z)``: logits of the first ``rows`` examples; ``rows_of``: B."""
        t, self.t = self.t, self.t + 1
        measuring = t % self.every == 0
        self.measured.append(measuring)
        if measuring:
            rows = max(1, math.ceil(self.fraction * rows_of))
            if self.mid == "tram-x":
                shape = (rows, DIM) if mask is None else (rows, mask.shape[1], 4)
                z = (torch.randn(shape, generator=self.noise, dtype=torch.float32) * SIGMA).to(torch.float64)
                target = logits_no_grad(model, ws, lambda m: logits_fn(m, rows, z))
            else:
                target = logits_no_grad(model, self.target, lambda m: logits_fn(m, rows, None))
            current = logits_no_grad(model, ws, lambda m: logits_fn(m, rows_of, None))[:rows]
            self.d = float(kl_rows(target, current, None if mask is None else mask[:rows]))
        g = grad_of(model, ws, loss_fn)
        e = asam_e(ws, g, self.d, ETA)
        g2 = grad_of(model, plus(ws, e), loss_fn)
        if self.mid == "tram-prev" and (t + 1) % self.every == 0:
            self.target = ws
        return [w - LR * gi for w, gi in zip(ws, g2)]


def _shift(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.cos(torch.arange(p.numel(), dtype=p.dtype)).reshape(p.shape))


def _cheap(mid: str, model, objective, every: int, fraction: float):
    hp = {"eta": ETA, "radius_every": every, "radius_batch_fraction": fraction}
    if mid == "tram-x":
        hp["sigma"] = SIGMA
    method = build(mid, model, objective, lr=LR, seed=SEED, **hp)
    ref = CheapReference(mid, every, fraction, weights(model))
    _shift(model)
    return method, ref


@pytest.mark.parametrize("mid", ["tram-prev", "tram-init", "tram-x"])
@pytest.mark.parametrize("every,fraction", [(2, 1.0), (3, 1.0), (1, 0.5), (3, 0.5)])
def test_cheaper_tram_equals_hand_computation_classifier(mid, every, fraction):
    model = MLP()
    method, ref = _cheap(mid, model, ClassifierObjective(), every, fraction)
    ws = weights(model)
    for step in range(7):
        x, y = classifier_batch(8, 20 + step)

        def logits_fn(m, rows, z, x=x):
            return m(x[:rows] if z is None else x[:rows] + z)

        stats = method.step([(x, y)], FP32)
        ws = ref.step(model, ws, logits_fn, lambda m, x=x, y=y: F.cross_entropy(m(x), y), 8)
        assert_close(weights(model), ws)
        measured = ref.measured[-1]
        assert stats.extras["divergence"] == pytest.approx(ref.d, rel=1e-12, abs=1e-15)
        assert (stats.forward, stats.backward) == ((3, 2) if measured else (2, 2))
        target_rows = max(1, math.ceil(fraction * 8)) if measured else 0
        assert stats.forward_examples == 2 * 8 + target_rows
    assert ref.measured == [t % every == 0 for t in range(7)]


@pytest.mark.parametrize("mid", ["tram-prev", "tram-x"])
def test_fraction_on_masked_tokens_weights_by_counted_tokens(mid):
    # [B, T, V] logits with padding: the measured rows' d averages over their counted tokens only.
    model = TinyLM()
    method, ref = _cheap(mid, model, TokenObjective(), 2, 0.5)
    ws = weights(model)
    for step in range(4):
        batch = token_batch(5, 4, 30 + step)
        ids, labels, mask = batch["ids"], batch["labels"], batch["mask"]

        def logits_fn(m, rows, z, ids=ids):
            if z is None:
                return token_logits(m, ids[:rows])
            return m.logits_from_embeddings(m.embed(ids[:rows]).detach() + z)

        def loss_fn(m, ids=ids, labels=labels, mask=mask):
            return F.cross_entropy(token_logits(m, ids)[mask], labels[mask])

        method.step([batch], FP32)
        ws = ref.step(model, ws, logits_fn, loss_fn, 5, mask=mask)
        assert_close(weights(model), ws)


def test_fraction_over_micro_batches_is_their_count_weighted_mean():
    # Two micro-batches of 8 and 6 examples, f = 0.5: d = (4 d_1 + 3 d_2) / 7, each d_i on the first rows.
    model = MLP()
    method = build("tram-init", model, ClassifierObjective(), lr=LR, eta=ETA, radius_batch_fraction=0.5)
    initial = weights(model)
    _shift(model)
    ws = weights(model)
    (x1, y1), (x2, y2) = classifier_batch(8, 41), classifier_batch(6, 42)
    d1 = kl_rows(logits_no_grad(model, initial, lambda m: m(x1[:4])), logits_no_grad(model, ws, lambda m: m(x1[:4])))
    d2 = kl_rows(logits_no_grad(model, initial, lambda m: m(x2[:3])), logits_no_grad(model, ws, lambda m: m(x2[:3])))
    stats = method.step([(x1, y1), (x2, y2)], FP32)
    assert stats.extras["divergence"] == pytest.approx(float((4 * d1 + 3 * d2) / 7), rel=1e-12)
    assert stats.forward_examples == 2 * 14 + 7


def test_resumed_schedule_continues_the_uninterrupted_one():
    # steps_taken and the reused d travel in the state dict: 2 steps, save, load into a fresh
    # method, 3 more steps equal 5 uninterrupted steps bit for bit.
    batches = [[classifier_batch(8, 50 + i)] for i in range(5)]
    model = MLP()
    whole = build("tram-prev", model, ClassifierObjective(), lr=LR, radius_every=3)
    for b in batches:
        whole.step(b, FP32)
    resumed_model = MLP()
    first = build("tram-prev", resumed_model, ClassifierObjective(), lr=LR, radius_every=3)
    for b in batches[:2]:
        first.step(b, FP32)
    state = first.state_dict()
    second = build("tram-prev", resumed_model, ClassifierObjective(), lr=LR, radius_every=3)
    second.load_state_dict(state)
    for b in batches[2:]:
        second.step(b, FP32)
    for a, b in zip(weights(model), weights(resumed_model)):
        assert torch.equal(a, b)


def test_defaults_stay_out_of_the_run_id_document():
    assert "radius_every" not in to_jsonable(TRAMHparams())
    assert "radius_batch_fraction" not in to_jsonable(TRAMXHparams())
    doc = to_jsonable(TRAMHparams(radius_every=4, radius_batch_fraction=0.25))
    assert (doc["radius_every"], doc["radius_batch_fraction"]) == (4, 0.25)


@pytest.mark.parametrize(
    "kw,message",
    [
        ({"radius_every": 0}, "TRAMHparams.radius_every must be >= 1, got 0"),
        ({"radius_every": 2.0}, "TRAMHparams.radius_every must be a whole number, got 2.0"),
        ({"radius_batch_fraction": 1.5}, "TRAMHparams.radius_batch_fraction must be in [0, 1], got 1.5"),
        ({"radius_batch_fraction": -0.1}, "TRAMHparams.radius_batch_fraction must be in [0, 1], got -0.1"),
    ],
)
def test_option_limits(kw, message):
    with pytest.raises(ValueError) as err:
        TRAMHparams(**kw)
    assert str(err.value) == message


def test_previous_weights_copied_only_before_a_measuring_step():
    # k = 3: steps 0, 3 measure; the copy of w happens on steps 2 and 5 only (copying on every step
    # would give the same d, at k times the copies): the target holds w_0 until step 2, then w_2.
    model = MLP()
    method = build("tram-prev", model, ClassifierObjective(), lr=LR, radius_every=3)
    history = [weights(model)]
    for step in range(6):
        method.step([classifier_batch(8, 60 + step)], FP32)
        held = list(method.target.module.parameters())
        expected = history[0] if step < 2 else history[2] if step < 5 else history[5]
        for a, b in zip(held, expected):
            assert torch.equal(a, b), step
        history.append(weights(model))
