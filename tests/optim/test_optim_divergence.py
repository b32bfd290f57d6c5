"""KL, MMD and L2 between predictive distributions, against float64 hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from tram_bench.optim import DIVERGENCES, divergence_by_name, kl, l2, mmd

TARGET = [[1.0, 0.5, -0.3, 2.0], [0.0, 0.0, 0.0, 0.0], [-1.0, 3.0, 0.2, 0.1]]
CURRENT = [[0.2, 0.1, 0.4, 1.0], [1.5, -0.5, 0.0, 0.3], [-0.5, 2.0, 1.0, 0.0]]


def _softmax(row):
    z = sum(math.exp(v) for v in row)
    return [math.exp(v) / z for v in row]


def _hand_kl(p_rows, q_rows):
    """Mean over rows of sum_c p log(p / q), written out in Python floats."""
    total = 0.0
    for p_logits, q_logits in zip(p_rows, q_rows):
        p, q = _softmax(p_logits), _softmax(q_logits)
        total += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    return total / len(p_rows)


def _t(rows, **kw):
    return torch.tensor(rows, dtype=torch.float64, **kw)


def test_kl_forward_equals_hand_computation_on_three_examples():
    value = kl(_t(TARGET), _t(CURRENT))
    assert float(value) == pytest.approx(_hand_kl(TARGET, CURRENT), rel=1e-14)


def test_kl_directions_and_symmetric_sum():
    forward = kl(_t(TARGET), _t(CURRENT), direction="forward")
    reverse = kl(_t(TARGET), _t(CURRENT), direction="reverse")
    symmetric = kl(_t(TARGET), _t(CURRENT), direction="symmetric")
    assert float(reverse) == pytest.approx(_hand_kl(CURRENT, TARGET), rel=1e-14)
    assert abs(float(forward) - float(reverse)) > 1e-3  # the directions really differ here
    assert float(symmetric) == pytest.approx(float(forward) + float(reverse), rel=1e-15)
    assert float(divergence_by_name("kl_reverse", _t(TARGET), _t(CURRENT))) == float(reverse)
    assert float(divergence_by_name("kl_symmetric", _t(TARGET), _t(CURRENT))) == float(symmetric)
    with pytest.raises(ValueError, match="forward, reverse, symmetric"):
        kl(_t(TARGET), _t(CURRENT), direction="backward")


@pytest.mark.parametrize("name", DIVERGENCES)
def test_identical_distributions_are_at_distance_zero(name):
    logits = _t(TARGET)
    assert float(divergence_by_name(name, logits, logits.clone())) == 0.0
    # Logits that differ by a per-row constant are the same distribution.
    shifted = logits + _t([[3.0], [-2.0], [0.5]])
    assert abs(float(divergence_by_name(name, logits, shifted))) < 1e-14


@pytest.mark.parametrize("name", DIVERGENCES)
def test_padding_positions_never_count(name):
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(2, 3, 5, generator=gen, dtype=torch.float64)
    current = torch.randn(2, 3, 5, generator=gen, dtype=torch.float64)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    target[~mask] = float("nan")  # padding garbage must not leak into value or gradient
    current[~mask] = float("inf")
    current.requires_grad_(True)
    value = divergence_by_name(name, target, current, mask)
    expected = divergence_by_name(name, target[mask], current.detach()[mask])
    assert float(value.detach()) == pytest.approx(float(expected), rel=1e-14) and float(expected) > 0
    value.backward()
    assert torch.isfinite(current.grad).all()
    assert torch.equal(current.grad[~mask], torch.zeros_like(current.grad[~mask]))
    assert current.grad[mask].abs().sum() > 0


def test_unmasked_sequence_logits_average_over_every_token():
    gen = torch.Generator().manual_seed(1)
    target = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64)
    current = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64)
    flat = _hand_kl(target.reshape(6, 4).tolist(), current.reshape(6, 4).tolist())
    assert float(kl(target, current)) == pytest.approx(flat, rel=1e-14)


def test_gradient_flows_through_current_logits_only():
    target = _t(TARGET, requires_grad=True)
    current = _t(CURRENT, requires_grad=True)
    kl(target.detach(), current).backward()
    assert target.grad is None and current.grad.abs().sum() > 0
    # d KL(p || softmax(c)) / d c = (softmax(c) - p) / N
    p = torch.softmax(target.detach(), -1)
    torch.testing.assert_close(current.grad, (torch.softmax(current.detach(), -1) - p) / 3, rtol=0, atol=1e-15)


def _imq(a, b, scales):
    sq = sum((x - y) ** 2 for x, y in zip(a, b))
    return sum(c / (c + sq) for c in scales)


def test_mmd_equals_hand_biased_estimate_on_probabilities():
    scales = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
    pt = [_softmax(r) for r in TARGET]
    pc = [_softmax(r) for r in CURRENT]
    n = len(pt)
    mean = lambda xs, ys: sum(_imq(a, b, scales) for a in xs for b in ys) / n**2  # noqa: E731
    expected = mean(pt, pt) + mean(pc, pc) - 2 * mean(pt, pc)
    value = mmd(_t(TARGET), _t(CURRENT))
    assert float(value) == pytest.approx(expected, rel=1e-12) and expected > 0
    assert float(divergence_by_name("mmd", _t(TARGET), _t(CURRENT))) == float(value)
    # The scales argument is honoured: one scale gives its own hand value.
    single = mmd(_t(TARGET), _t(CURRENT), scales=(1.0,))
    one = sum(_imq(a, b, (1.0,)) for a in pt for b in pt) / 9 + sum(
        _imq(a, b, (1.0,)) for a in pc for b in pc
    ) / 9 - 2 * sum(_imq(a, b, (1.0,)) for a in pt for b in pc) / 9
    assert float(single) == pytest.approx(one, rel=1e-12)
    with pytest.raises(ValueError, match="positive"):
        mmd(_t(TARGET), _t(CURRENT), scales=(1.0, 0.0))


def test_l2_equals_hand_mean_euclidean_distance_of_probabilities():
    expected = sum(
        math.sqrt(sum((a - b) ** 2 for a, b in zip(_softmax(t), _softmax(c)))) for t, c in zip(TARGET, CURRENT)
    ) / 3
    assert float(l2(_t(TARGET), _t(CURRENT))) == pytest.approx(expected, rel=1e-14)
    current = _t(TARGET, requires_grad=True)
    l2(_t(TARGET), current).backward()  # zero distance: the gradient is finite (0), not NaN
    assert torch.isfinite(current.grad).all()


def test_low_precision_inputs_are_computed_in_float32():
    t, c = _t(TARGET).bfloat16(), _t(CURRENT).bfloat16()
    for name in DIVERGENCES:
        value = divergence_by_name(name, t, c)
        assert value.dtype == torch.float32
        ref = divergence_by_name(name, t.double(), c.double())
        assert float(value) == pytest.approx(float(ref), rel=1e-5)


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="kl, kl_reverse, kl_symmetric, mmd, l2"):
        divergence_by_name("js", _t(TARGET), _t(CURRENT))
    with pytest.raises(ValueError, match="shape"):
        kl(_t(TARGET), _t(CURRENT)[:2])
    with pytest.raises(ValueError, match="mask shape"):
        kl(_t(TARGET), _t(CURRENT), mask=torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool"):
        kl(_t(TARGET), _t(CURRENT), mask=torch.ones(3))
    with pytest.raises(ValueError, match="mask selects nothing"):
        kl(_t(TARGET), _t(CURRENT), mask=torch.zeros(3, dtype=torch.bool))


def test_package_exposes_the_divergence_module_not_a_function_of_that_name():
    """``from tram_bench.optim import divergence`` then ``divergence.kl(...)`` (the README's use) must work:
    a re-exported dispatcher named like the module used to shadow it (AttributeError)."""
    import types

    from tram_bench.optim import divergence

    assert isinstance(divergence, types.ModuleType)
    assert float(divergence.kl(_t(TARGET), _t(CURRENT))) == float(kl(_t(TARGET), _t(CURRENT)))
    assert divergence.divergence_by_name is divergence_by_name


# --- blocks of rows (module docstring, "Memory") -------------------------------------------------


def _sequence_case(seed: int, masked: bool):
    gen = torch.Generator().manual_seed(seed)
    target = torch.randn(3, 7, 11, generator=gen, dtype=torch.float64)
    current = torch.randn(3, 7, 11, generator=gen, dtype=torch.float64, requires_grad=True)
    mask = (torch.rand(3, 7, generator=gen) < 0.7) if masked else None
    return target, current, mask


@pytest.mark.parametrize("masked", [False, True], ids=["all-tokens", "masked"])
@pytest.mark.parametrize("name,fn", [
    ("kl", lambda t, c, m, k: kl(t, c, m, chunk_elements=k)),
    ("kl_reverse", lambda t, c, m, k: kl(t, c, m, "reverse", chunk_elements=k)),
    ("kl_symmetric", lambda t, c, m, k: kl(t, c, m, "symmetric", chunk_elements=k)),
    ("l2", lambda t, c, m, k: l2(t, c, m, chunk_elements=k)),
])
def test_blocked_divergence_equals_one_block_in_value_and_gradient(name, fn, masked):
    """Blocks of 1-4 positions of one sequence, or of 1-2 whole sequences (11 classes), give the float64 value
    and gradient of a single block."""
    target, current, mask = _sequence_case(3, masked)
    whole = fn(target, current, mask, 10**9)
    (grad_whole,) = torch.autograd.grad(whole, current)
    assert float(divergence_by_name(name, target, current, mask).detach()) == pytest.approx(float(whole.detach()), rel=1e-15)
    for k in (11, 22, 33, 50, 77, 154):
        value = fn(target, current, mask, k)
        (grad,) = torch.autograd.grad(value, current)
        torch.testing.assert_close(value, whole, rtol=1e-14, atol=0)
        torch.testing.assert_close(grad, grad_whole, rtol=1e-13, atol=1e-17)


def _saved_bytes(fn) -> int:
    """Bytes autograd keeps for the backward of ``fn()`` (distinct storages, counted once)."""
    seen: dict[int, int] = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


@pytest.mark.parametrize("name", ["kl", "l2"])
def test_blocked_divergence_keeps_only_its_inputs_for_backward(name):
    """With a gradient, the blocks are recomputed in backward: autograd keeps the (bf16) logits themselves,
    not the full-size float32 softmaxes of one whole-batch computation (at GPT-2 size, GBs each)."""
    gen = torch.Generator().manual_seed(4)
    # A causal LM's shifted logits: a non-contiguous view, which flattening would copy.
    target = torch.randn(4, 17, 500, generator=gen).bfloat16()[:, :-1]
    full = torch.randn(4, 17, 500, generator=gen).bfloat16().requires_grad_(True)
    current = full[:, :-1]
    logits_bytes = full.numel() * full.element_size()
    fn = kl if name == "kl" else l2
    blocked = _saved_bytes(lambda: fn(target, current, chunk_elements=2_000))
    whole = _saved_bytes(lambda: fn(target, current, chunk_elements=10**9))
    assert blocked <= 2 * logits_bytes + 64 * 8 * 16, (blocked, logits_bytes)
    assert whole >= 3 * logits_bytes, (whole, logits_bytes)
