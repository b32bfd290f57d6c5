"""LookSAM, randomized SAM, late-phase SAM and Momentum-SAM against hand computations in float64
(their papers' update rules written out with plain autograd), the passes each step records, their
hyperparameter checks and exact resumption."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from methods_support import (
    MLP,
    ClassifierObjective,
    assert_close,
    assert_same,
    classifier_batch,
    classifier_logits,
    global_norm,
    grad_of,
    plus,
    sam_e,
    sgd,
    weights,
)

from tram_bench.methods.base import StepContext
from tram_bench.methods.table import (
    LateSAMMethod,
    LookSAMMethod,
    MomentumSAMMethod,
    RandomSAMMethod,
)

LR, RHO = 0.1, 0.05
CLASSES = {"looksam": LookSAMMethod, "random-sam": RandomSAMMethod, "late-sam": LateSAMMethod, "msam": MomentumSAMMethod}


def _build(mid, model, seed=11, **hparams):
    cls = CLASSES[mid]
    hparams.setdefault("momentum", 0.0 if mid != "msam" else 0.9)
    return cls(model, ClassifierObjective(), cls.Hparams(**hparams), lr=LR,
               generator=torch.Generator().manual_seed(seed))


def _loss(batch):
    x, y = batch
    return lambda m: F.cross_entropy(classifier_logits(m, x), y)


def _batches(n):
    return [classifier_batch(8, seed=100 + i) for i in range(n)]


def _dot(a, b):
    return sum((x * y).sum() for x, y in zip(a, b))


def _sam_descent(model, w, batch, rho=RHO):
    g = grad_of(model, w, _loss(batch))
    return g, grad_of(model, plus(w, sam_e(g, rho)), _loss(batch))


def _run(method, batches, ctx=StepContext()):
    return [method.step([b], ctx) for b in batches]


def test_looksam_equals_its_papers_update_and_records_its_passes():
    model = MLP(seed=0)
    w = weights(model)
    method = _build("looksam", model, k=2, alpha=0.7)
    batches = _batches(4)
    stats = _run(method, batches)
    for t, batch in enumerate(batches):
        if t % 2 == 0:  # Eq. 5: SAM step, store the component of g_s orthogonal to g
            g, gs = _sam_descent(model, w, batch)
            c = _dot(g, gs) / _dot(g, g)
            gv = [b - c * a for a, b in zip(g, gs)]
            w = sgd(w, gs, LR)
        else:  # Eq. 6: reuse it
            g = grad_of(model, w, _loss(batch))
            scale = 0.7 * global_norm(g) / global_norm(gv)
            w = sgd(w, [a + scale * v for a, v in zip(g, gv)], LR)
    assert_close(weights(model), w, rtol=1e-12, atol=1e-14)
    assert [(s.forward, s.backward) for s in stats] == [(2, 2), (1, 1), (2, 2), (1, 1)]


def test_random_sam_takes_a_sam_step_when_its_coin_says_so():
    model = MLP(seed=0)
    w = weights(model)
    method = _build("random-sam", model, seed=5, p=0.5)
    batches = _batches(6)
    stats = _run(method, batches)
    coin = torch.Generator().manual_seed(5)
    sharp = [float(torch.rand((), generator=coin)) < 0.5 for _ in batches]
    assert 0 < sum(sharp) < len(sharp), "the seed should give both kinds of step"
    for is_sam, batch in zip(sharp, batches):
        w = sgd(w, _sam_descent(model, w, batch)[1] if is_sam else grad_of(model, w, _loss(batch)), LR)
    assert_close(weights(model), w, rtol=1e-12, atol=1e-14)
    assert [(s.forward, s.backward) for s in stats] == [(2, 2) if s else (1, 1) for s in sharp]


@pytest.mark.parametrize("p, kind", [(1.0, "sam"), (0.0, "base")])
def test_random_sam_at_p_one_is_sam_and_at_zero_the_base_optimizer(p, kind):
    model = MLP(seed=0)
    w = weights(model)
    _run(_build("random-sam", model, p=p), _batches(2))
    for batch in _batches(2):
        w = sgd(w, _sam_descent(model, w, batch)[1] if kind == "sam" else grad_of(model, w, _loss(batch)), LR)
    assert_close(weights(model), w, rtol=1e-12, atol=1e-14)


def test_late_sam_switches_to_sam_for_the_last_fraction_of_the_run():
    model = MLP(seed=0)
    w = weights(model)
    batches = _batches(5)
    stats = _run(_build("late-sam", model, fraction=0.3), batches, StepContext(total_steps=5))
    # ceil(0.3 * 5) = 2 SAM steps at the end.
    for t, batch in enumerate(batches):
        w = sgd(w, _sam_descent(model, w, batch)[1] if t >= 3 else grad_of(model, w, _loss(batch)), LR)
    assert_close(weights(model), w, rtol=1e-12, atol=1e-14)
    assert [(s.forward, s.backward) for s in stats] == [(1, 1)] * 3 + [(2, 2)] * 2


def test_late_sam_without_the_runs_length_is_one_clear_error():
    method = _build("late-sam", MLP(seed=0))
    with pytest.raises(ValueError, match="late-sam needs the run's number of steps"):
        method.step(_batches(1), StepContext())


def test_momentum_sam_with_sgd_perturbs_against_the_momentum_buffer():
    model = MLP(seed=0)
    w = weights(model)
    method = _build("msam", model, rho=0.3, momentum=0.9)
    batches = _batches(4)
    stats = _run(method, batches)
    v = None
    for batch in batches:  # Algorithm 1: gradient at w - rho v/||v||, v <- mu v + g, w <- w - lr v
        at = w if v is None else [wi - 0.3 * vi / global_norm(v) for wi, vi in zip(w, v)]
        g = grad_of(model, at, _loss(batch))
        v = g if v is None else [0.9 * vi + gi for vi, gi in zip(v, g)]
        w = sgd(w, v, LR)
    assert_close(weights(model), w, rtol=1e-12, atol=1e-14)
    assert [(s.forward, s.backward) for s in stats] == [(1, 1)] * 4
    assert stats[0].extras["perturbation_norm"] == 0.0
    assert stats[1].extras["perturbation_norm"] == pytest.approx(0.3, rel=1e-12)


def test_momentum_sam_with_adam_perturbs_against_the_first_moment():
    model = MLP(seed=0)
    w = weights(model)
    b1, b2, eps = 0.9, 0.99, 1e-8
    method = _build("msam", model, base="adam", rho=0.3)
    batches = _batches(3)
    _run(method, batches)
    m = s = None
    for t, batch in enumerate(batches, start=1):
        at = w if m is None else [wi - 0.3 * mi / global_norm(m) for wi, mi in zip(w, m)]
        g = grad_of(model, at, _loss(batch))
        m = [(1 - b1) * gi for gi in g] if m is None else [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
        s = [(1 - b2) * gi * gi for gi in g] if s is None else [b2 * si + (1 - b2) * gi * gi for si, gi in zip(s, g)]
        w = [wi - LR * (mi / (1 - b1**t)) / ((si / (1 - b2**t)).sqrt() + eps) for wi, mi, si in zip(w, m, s)]
    assert_close(weights(model), w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "mid, field, value, message",
    [
        ("looksam", "k", 0, "LookSAMHparams.k must be an integer >= 1, got 0"),
        ("looksam", "k", 2.5, "LookSAMHparams.k must be an integer >= 1, got 2.5"),
        ("looksam", "alpha", -1.0, "LookSAMHparams.alpha must be >= 0, got -1.0"),
        ("random-sam", "p", 1.5, r"RandomSAMHparams.p must be in \[0, 1\], got 1.5"),
        ("late-sam", "fraction", -0.1, r"LateSAMHparams.fraction must be in \[0, 1\], got -0.1"),
        ("msam", "momentum", 0.0, "MomentumSAMHparams.momentum must be > 0 with base sgd"),
    ],
)
def test_bad_hyperparameters_name_the_field_and_value(mid, field, value, message):
    with pytest.raises(ValueError, match=message):
        CLASSES[mid].Hparams(**{field: value})


def test_defaults_are_the_papers():
    assert (LookSAMMethod.Hparams().k, LookSAMMethod.Hparams().alpha, LookSAMMethod.Hparams().rho) == (5, 0.7, 0.05)
    assert RandomSAMMethod.Hparams().p == 0.5
    assert LateSAMMethod.Hparams().fraction == 0.125
    assert LookSAMMethod.mean_passes(LookSAMMethod.Hparams()) == (1.2, 1.2)
    assert LateSAMMethod.mean_passes(LateSAMMethod.Hparams(), total_steps=10) == (1.2, 1.2)


@pytest.mark.parametrize("mid", sorted(CLASSES))
def test_resuming_from_a_state_dict_continues_exactly(mid):
    batches = _batches(6)
    ctx = StepContext(total_steps=6)
    kwargs = {"looksam": {"k": 3}, "random-sam": {}, "late-sam": {"fraction": 0.5}, "msam": {}}[mid]
    straight = _build(mid, MLP(seed=0), **kwargs)
    _run(straight, batches, ctx)

    first = _build(mid, MLP(seed=0), **kwargs)
    _run(first, batches[:4], ctx)
    state = copy.deepcopy(first.state_dict())
    resumed = _build(mid, copy.deepcopy(first.model), seed=99, **kwargs)
    resumed.load_state_dict(state)
    _run(resumed, batches[4:], ctx)
    assert_same(weights(resumed.model), weights(straight.model))


def test_the_registry_names_each_method_apart_from_the_papers():
    from tram_bench.methods.registry import BUILTIN_METHOD_IDS, EFFICIENT_METHOD_IDS, METHODS

    assert {mid: METHODS.get(mid) for mid in EFFICIENT_METHOD_IDS} == CLASSES
    assert all(METHODS.get(mid).id == mid for mid in EFFICIENT_METHOD_IDS)
    assert not set(EFFICIENT_METHOD_IDS) & set(BUILTIN_METHOD_IDS)
