"""One test per correctness pitfall of anchors.md section (b), items 1-20 (test ids name the item).

Items 10 and 11 (DDP) do not apply and are skipped with the reason; every other item is checked
numerically on tiny float64 models.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from methods_support import (
    CLASSES,
    DIM,
    FP32,
    MLP,
    ClassifierObjective,
    DropoutMasks,
    InfInjector,
    Recorder,
    TinyLM,
    TokenObjective,
    asam_e,
    assert_close,
    assert_same,
    build,
    buffers,
    classifier_batch,
    classifier_logits,
    global_norm,
    grad_of,
    kl_rows,
    logits_no_grad,
    token_batch,
    weights,
)
from torch import nn

from tram_bench.methods.base import Output, StepContext
from tram_bench.methods.registry import BUILTIN_METHOD_IDS
from tram_bench.methods.targets import InitialWeights, NoisedInputs, PreviousWeights

ALL = BUILTIN_METHOD_IDS
TWO_PASS = ("sam", "asam", "fisher_sam", "asam+trpo", "asam+r3f", "asam+mesa",
            "tram-prev", "tram-init", "tram-x", "tram-fisher")
NOISY = ("r3f", "asam+r3f", "tram-x", "tram-fisher")
DDP_REASON = "single-process benchmark runner; DDP is not a supported execution mode (each run is one process)"


def _method_kwargs(mid: str) -> dict[str, Any]:
    return {"base": "adam"} if mid == "adam" else {}


def _perturbation(rec: Recorder) -> list[torch.Tensor]:
    """e = (weights at the pass-2 forward) - (weights at the pass-1 forward), from a Recorder."""
    first, second = rec.grad_calls()[:2]
    return [b - a for a, b in zip(first.weights, second.weights)]


# --- 1. two-pass semantics ------------------------------------------------------------------------


def _analytic_grad(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
    """Closed-form gradient of mean cross-entropy of a linear softmax classifier."""
    dlogits = (torch.softmax(x @ w.T + b, -1) - F.one_hot(y, CLASSES).to(x.dtype)) / x.shape[0]
    return dlogits.T @ x, dlogits.sum(0)


def test_item01_two_pass_semantics():
    torch.manual_seed(0)
    model = nn.Linear(DIM, CLASSES).double()
    x, y = classifier_batch(8, 1)
    w, b = model.weight.detach().clone(), model.bias.detach().clone()
    method = build("sam", model, rho=0.05, lr=0.1)
    method.step([(x, y)], FP32)
    gw, gb = _analytic_grad(w, b, x, y)
    n = torch.sqrt((gw * gw).sum() + (gb * gb).sum())
    gw2, gb2 = _analytic_grad(w + 0.05 * gw / n, b + 0.05 * gb / n, x, y)
    assert_close(weights(model), [w - 0.1 * gw2, b - 0.1 * gb2], rtol=1e-11, atol=1e-13)

    # rho = 0 is the base optimizer bit for bit (momentum, BN and dropout included).
    a, c = MLP(bn=True, dropout=0.3), MLP(bn=True, dropout=0.3)
    sam, sgd = build("sam", a, rho=0.0, momentum=0.9), build("sgd", c, momentum=0.9)
    for seed in (1, 2, 3):
        batch = classifier_batch(8, seed)
        torch.manual_seed(seed)
        sam.step([batch], FP32)
        torch.manual_seed(seed)
        sgd.step([batch], FP32)
    assert_same(weights(a), weights(c))
    assert_same(buffers(a), buffers(c))


# --- 2. exact restoration -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("mid", ALL)
def test_item02_exact_restoration_lr0_leaves_weights_bitwise(mid, dtype):
    model = MLP(bn=True, dropout=0.2, dtype=dtype)
    method = build(mid, model, lr=0.0, momentum=0.9, **_method_kwargs(mid))
    before = weights(model)
    for seed in (1, 2):
        method.step([classifier_batch(8, seed, dtype=dtype)], FP32)
    assert_same(weights(model), before)


# --- 3. perturbation norm and zero gradients ------------------------------------------------------


def test_item03_perturbation_norm_is_rho_and_zero_gradient_is_safe():
    rec = Recorder(ClassifierObjective())
    model = MLP()
    stats = build("sam", model, rec, rho=0.05).step([classifier_batch(8, 1)], FP32)
    e = _perturbation(rec)
    assert float(global_norm(e)) == pytest.approx(0.05, rel=1e-10)
    assert stats.extras["perturbation_norm"] == pytest.approx(0.05, rel=1e-10)

    def zero_loss(model, batch, noise=None):
        logits = model(batch[0])
        return Output(logits=logits, loss=(logits * 0.0).sum(), count=batch[0].shape[0])

    for mid in ("sam", "asam", "fisher_sam", "tram-fisher"):
        model = MLP()
        before = weights(model)
        stats = build(mid, model, zero_loss).step([classifier_batch(8, 1)], FP32)
        assert stats.extras["perturbation_norm"] == 0.0
        assert_same(weights(model), before)


# --- 4. frozen parameters and parameters used in one pass only --------------------------------------


class _Branchy(MLP):
    def __init__(self) -> None:
        super().__init__()
        self.branch = nn.Linear(DIM, CLASSES).double()
        self.lin1.requires_grad_(False)


@pytest.mark.parametrize("mid", ["sam", "asam", "fisher_sam", "tram-prev", "asam+trpo"])
def test_item04_frozen_and_one_pass_parameters(mid):
    model = _Branchy()
    grad_calls = []

    def branch_in_pass1_only(model, batch, noise=None):
        x, y = batch
        logits = model(x)
        if torch.is_grad_enabled():
            grad_calls.append(1)
            if len(grad_calls) % 2 == 1:
                logits = logits + model.branch(x)
        return Output(logits=logits, loss=F.cross_entropy(logits, y), count=x.shape[0])

    frozen, branch, head = (weights(m) for m in (model.lin1, model.branch, model.lin2))
    build(mid, model, branch_in_pass1_only).step([classifier_batch(8, 1)], FP32)
    assert all(p.grad is None for p in model.lin1.parameters())
    assert_same(weights(model.lin1), frozen)
    # Perturbed in pass 1, restored, and without a descent gradient: not moved by the base step.
    assert_same(weights(model.branch), branch)
    assert not torch.equal(model.lin2.weight, head[0])


# --- 5. BatchNorm running statistics -------------------------------------------------------------


@pytest.mark.parametrize("bn_momentum", [0.1, None], ids=["ema", "cumulative"])
@pytest.mark.parametrize("mid", ALL)
def test_item05_bn_statistics_equal_one_plain_forward(mid, bn_momentum):
    model = MLP(bn=True, dropout=0.2)
    model.bn.momentum = bn_momentum
    plain = copy.deepcopy(model)
    x, y = classifier_batch(8, 1)
    # tram-fisher takes its statistics from its clean pass 2 at w + e; rho = 0 puts that pass at w.
    # (tests/methods/test_bn_clean_stats.py checks the default rho.)
    extra = {"rho": 0.0} if mid == "tram-fisher" else {}
    method = build(mid, model, sigma=0.3, **extra, **_method_kwargs(mid)) if mid in NOISY else build(
        mid, model, **_method_kwargs(mid))
    method.step([(x, y)], FP32)
    # Every method's statistics are those of one forward on the clean batch.
    with torch.no_grad():
        classifier_logits(plain, x)
    assert int(model.bn.num_batches_tracked) == 1
    assert_same(buffers(model), buffers(plain))


# --- 6. same batch, same dropout masks ------------------------------------------------------------


@pytest.mark.parametrize("mid", ALL)
def test_item06_same_batch_and_dropout_masks_in_every_forward(mid):
    model = MLP(dropout=0.5)
    masks = DropoutMasks(model)
    rec = Recorder(ClassifierObjective())
    batch = classifier_batch(16, 1)
    method = build(mid, model, rec, **_method_kwargs(mid))
    stats = method.step([batch], FP32)
    assert len(rec.calls) == stats.forward  # one micro-batch: one call per forward pass
    assert all(c.batch is batch for c in rec.calls)
    assert all(c.training for c in rec.calls)  # targets run in the model's (train) mode
    assert len(masks.masks) == len(rec.calls)
    assert all(torch.equal(m, masks.masks[0]) for m in masks.masks)
    assert 0 < int(masks.masks[0].sum()) < masks.masks[0].numel()
    noisy_states = [c.noise_state for c in rec.calls if c.noise_state is not None]
    # asam+r3f's pass-2 target sees the same z as pass 1 (replayed, not redrawn).
    assert all(torch.equal(s, noisy_states[0]) for s in noisy_states)
    assert len(noisy_states) == {"r3f": 1, "asam+r3f": 2, "tram-x": 1, "tram-fisher": 1}.get(mid, 0)


# --- 7. clipping placement ------------------------------------------------------------------------


@pytest.mark.parametrize("mid", ["sam", "tram-prev", "asam+mesa", "trpo"])
def test_item07_clipping_changes_update_not_perturbation(mid):
    runs = {}
    for clip in (None, 1e-3):
        model = MLP()
        with torch.no_grad():  # a non-zero TRAM radius at step 1
            model.lin2.weight.mul_(1.5)
        rec = Recorder(ClassifierObjective())
        method = build(mid, model, rec)
        if mid in ("tram-prev", "asam+mesa", "trpo"):
            with torch.no_grad():
                model.lin1.weight.add_(0.3)
        w = weights(model)
        method.step([classifier_batch(8, 1)], StepContext(max_grad_norm=clip))
        runs[clip] = (w, weights(model), rec, [p.grad.clone() for p in model.parameters()])
    (w, plain, rec0, _), (_, clipped, rec1, g_clipped) = runs[None], runs[1e-3]
    if mid in TWO_PASS:
        assert_same(_perturbation(rec0), _perturbation(rec1))
    assert not torch.equal(plain[0], clipped[0])
    assert float(global_norm(g_clipped)) == pytest.approx(1e-3, rel=1e-5)  # torch adds 1e-6 to the norm
    assert_close(clipped, [wi - 0.1 * gi for wi, gi in zip(w, g_clipped)])


# --- 8. AMP / GradScaler ---------------------------------------------------------------------------


@pytest.mark.parametrize("mid", ALL)
def test_item08_bf16_autocast_and_scaler_without_overflow(mid):
    ctx_bf16 = StepContext(autocast_dtype=torch.bfloat16)
    model = MLP(bn=True, dtype=torch.float32)
    before = weights(model)
    stats = build(mid, model, **_method_kwargs(mid)).step([classifier_batch(8, 1, torch.float32)], ctx_bf16)
    assert (stats.forward, stats.backward) == type(build(mid, MLP())).passes
    assert not stats.skipped and all(torch.isfinite(p).all() for p in model.parameters())
    assert not torch.equal(weights(model)[-1], before[-1])

    # Scaling by a power of two is exact: with a scaler and no overflow the step is bitwise the same.
    a, b = MLP(), MLP()
    ma, mb = build(mid, a, **_method_kwargs(mid)), build(mid, b, **_method_kwargs(mid))
    for seed in (1, 2):
        ma.step([classifier_batch(8, seed)], StepContext(scaler=torch.amp.GradScaler("cpu")))
        mb.step([classifier_batch(8, seed)], FP32)
    assert_same(weights(a), weights(b))


def _overflow_case(mid: str, at: int):
    model = MLP()
    objective = InfInjector(ClassifierObjective(), at=10**9)
    # Optimizer state to protect: SGD's momentum buffers for sgd, Adam's moments and step otherwise.
    method = build(mid, model, objective, momentum=0.9) if mid == "sgd" else build(mid, model, objective, base="adam")
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    ctx = StepContext(scaler=scaler)
    assert not method.step([classifier_batch(8, 1)], ctx).skipped  # creates Adam state
    state = copy.deepcopy(method.optimizer.state_dict())
    target = copy.deepcopy(method.target.state_dict()) if method.target is not None else None
    w, scale = weights(model), scaler.get_scale()
    objective.seen, objective.at = 0, at
    stats = method.step([classifier_batch(8, 2)], ctx)
    assert stats.skipped
    assert_same(weights(model), w)
    assert scaler.get_scale() == scale * scaler.get_backoff_factor()
    after = method.optimizer.state_dict()["state"]
    assert sorted(after) == sorted(state["state"]) and len(after) > 0
    for k, v in state["state"].items():
        assert sorted(after[k]) == sorted(v)
        assert_same([after[k][n] for n in sorted(v)], [v[n] for n in sorted(v)])
    if target is not None and "weights" in target:
        assert_same(list(method.target.state_dict()["weights"].values()), list(target["weights"].values()))
    assert all(p.grad is None for p in model.parameters())
    # The next step is normal again.
    assert not method.step([classifier_batch(8, 3)], ctx).skipped


@pytest.mark.parametrize("mid", ALL)
def test_item08_overflow_in_pass1_skips_step(mid):
    _overflow_case(mid, at=1)


@pytest.mark.parametrize("mid", TWO_PASS)
def test_item08_overflow_in_pass2_skips_step(mid):
    _overflow_case(mid, at=2)


# --- 9. gradient accumulation --------------------------------------------------------------------


def _halves(batch):
    if isinstance(batch, dict):
        return [{k: v[:1] for k, v in batch.items()}, {k: v[1:] for k, v in batch.items()}]
    return [tuple(t[:4] for t in batch), tuple(t[4:] for t in batch)]


@pytest.mark.parametrize("mid", [m for m in ALL if m not in NOISY])
def test_item09_accumulate_then_perturb(mid):
    results = []
    for split in (False, True):
        model = MLP(bn=False)
        method = build(mid, model, **_method_kwargs(mid))
        with torch.no_grad():
            model.lin1.weight.add_(0.3)  # non-zero divergence to weight targets at step 1
        stats = []
        for seed in (1, 2):
            batch = classifier_batch(8, seed)
            stats.append(method.step(_halves(batch) if split else [batch], FP32))
        results.append((weights(model), stats))
    (w_full, s_full), (w_acc, s_acc) = results
    assert_close(w_acc, w_full, rtol=0, atol=1e-12)
    for a, b in zip(s_acc, s_full):
        assert (a.forward, a.backward) == (b.forward, b.backward)
        assert a.loss == pytest.approx(b.loss, rel=1e-12)
        for key in b.extras:
            assert a.extras[key] == pytest.approx(b.extras[key], rel=1e-9, abs=1e-14)


@pytest.mark.parametrize("mid", ["sam", "tram-prev"])
def test_item09_accumulation_weights_micro_batches_by_token_count(mid):
    batch = token_batch(3, 5, 1)  # rows hold 2, 3 and 4 counted tokens: halves of 2 and 7 tokens
    results = []
    for micro in ([batch], _halves(batch)):
        model = TinyLM()
        method = build(mid, model, TokenObjective())
        with torch.no_grad():
            model.head.weight.add_(0.3)
        method.step(micro, FP32)
        results.append(weights(model))
    assert_close(results[1], results[0], rtol=0, atol=1e-12)


# --- 10, 11. DDP ---------------------------------------------------------------------------------


@pytest.mark.skip(reason=DDP_REASON)
def test_item10_ddp_m_sharpness():
    """Per-worker perturbation under DDP does not arise: every run is a single process."""


@pytest.mark.skip(reason=DDP_REASON)
def test_item11_ddp_two_forwards_through_batchnorm():
    """DDP buffer sync across two forwards does not arise: every run is a single process."""


# --- 12. LR schedulers and shared param groups -----------------------------------------------------


@pytest.mark.parametrize("mid", ["sam", "tram-prev", "trpo"])
def test_item12_lr_scheduler_drives_the_base_step(mid):
    factors = [1.0, 0.0, 0.5]
    trajectories = {}
    for m in (mid, "sgd"):
        model = MLP()
        method = build(m, model)
        sched = torch.optim.lr_scheduler.LambdaLR(method.optimizer, lambda s: factors[min(s, 2)])
        lrs, moved = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. "lr_scheduler.step() before optimizer.step()"
            for seed in (1, 2, 3):
                before = weights(model)
                lrs.append(method.optimizer.param_groups[0]["lr"])
                method.step([classifier_batch(8, seed)], FP32)
                moved.append(not torch.equal(before[0], model.lin1.weight))
                sched.step()
        trajectories[m] = (lrs, moved)
    assert trajectories[mid] == trajectories["sgd"] == ([0.1, 0.0, 0.05], [True, False, True])


# --- 13. checkpoint / resume ------------------------------------------------------------------------


@pytest.mark.parametrize("mid", ALL)
def test_item13_resume_is_exact(mid):
    kw = dict(momentum=0.9, **_method_kwargs(mid))
    batches = [classifier_batch(8, s) for s in (1, 2, 3, 4)]
    straight = MLP()
    m = build(mid, straight, **kw)
    for b in batches:
        m.step([b], FP32)

    first = MLP()
    m1 = build(mid, first, **kw)
    for b in batches[:2]:
        m1.step([b], FP32)
    model_state, method_state = copy.deepcopy(first.state_dict()), copy.deepcopy(m1.state_dict())
    resumed = MLP(seed=5)
    resumed.load_state_dict(model_state)
    # Built on the resumed weights, so a target made at construction (TRAM-θ_0's θ_0) would be
    # wrong unless it comes back from the checkpoint.
    m2 = build(mid, resumed, seed=99, **kw)
    m2.load_state_dict(method_state)
    for b in batches[2:]:
        m2.step([b], FP32)
    assert_same(weights(resumed), weights(straight))


# --- 14. weight decay ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mid", ["sam", "tram-prev"])
def test_item14_weight_decay_is_in_the_base_step_not_the_ascent(mid):
    runs = {}
    for wd in (0.0, 0.1):
        model = MLP()
        rec = Recorder(ClassifierObjective())
        method = build(mid, model, rec, weight_decay=wd)
        with torch.no_grad():
            model.lin1.weight.add_(0.3)
        w = weights(model)
        method.step([classifier_batch(8, 1)], FP32)
        runs[wd] = (w, weights(model), _perturbation(rec))
    (w, plain, e0), (_, decayed, e1) = runs[0.0], runs[0.1]
    assert_same(e0, e1)
    # SGD's L2 decay adds wd * w to the descent gradient: the updates differ by lr * wd * w.
    assert_close(decayed, [p - 0.1 * 0.1 * wi for p, wi in zip(plain, w)])


# --- 15. ASAM definition -----------------------------------------------------------------------------


@pytest.mark.parametrize("eta", [0.0, 0.01])
def test_item15_asam_closed_form_on_all_parameters(eta):
    model = MLP()
    rec = Recorder(ClassifierObjective())
    x, y = classifier_batch(8, 1)
    w = weights(model)
    build("asam", model, rec, rho=0.5, eta=eta).step([(x, y)], FP32)
    g = grad_of(model, w, lambda m: F.cross_entropy(m(x), y))
    e = _perturbation(rec)
    assert_close(e, asam_e(w, g, 0.5, eta))
    assert float(global_norm([ei / (wi.abs() + eta) for ei, wi in zip(e, w)])) == pytest.approx(0.5, rel=1e-9)
    assert all(float(ei.abs().sum()) > 0 for ei in e)  # biases are perturbed too (no name filter)


# --- 16. Fisher SAM ----------------------------------------------------------------------------------


def test_item16_fisher_sam_formula():
    a, b = MLP(), MLP()
    fsam, sam = build("fisher_sam", a, rho=0.1, eta=0.0), build("sam", b, rho=0.1)
    for seed in (1, 2):
        fsam.step([classifier_batch(8, seed)], FP32)
        sam.step([classifier_batch(8, seed)], FP32)
    assert_same(weights(a), weights(b))

    model = MLP()
    rec = Recorder(ClassifierObjective())
    x, y = classifier_batch(8, 1)
    w = weights(model)
    build("fisher_sam", model, rec, rho=0.1, eta=40.0).step([(x, y)], FP32)
    g = grad_of(model, w, lambda m: F.cross_entropy(m(x), y))
    e = _perturbation(rec)
    # e lies on the Fisher ellipsoid e^T f e = gamma^2, f = 1 + eta g^2.
    quad = sum(float((ei * (1 + 40.0 * gi * gi) * ei).sum()) for ei, gi in zip(e, g))
    assert quad == pytest.approx(0.1**2, rel=1e-9)


# --- 17. R3F ------------------------------------------------------------------------------------------


def test_item17_r3f_noise_rules():
    a, b = MLP(), MLP()
    r3f, sgd = build("r3f", a, sigma=0.0, lam=1.0), build("sgd", b)
    sa = r3f.step([classifier_batch(8, 1)], FP32)
    sb = sgd.step([classifier_batch(8, 1)], FP32)
    assert sa.extras["divergence"] == 0.0 and sa.loss == sb.loss
    assert_close(weights(a), weights(b), rtol=0, atol=1e-15)

    model = MLP(dropout=0.3)
    model.eval()
    rec = Recorder(ClassifierObjective())
    stats = build("r3f", model, rec, sigma=0.5, lam=1.0).step([classifier_batch(8, 1)], FP32)
    assert [c.noise_state for c in rec.calls] == [None, None]
    assert stats.extras["divergence"] == 0.0

    model = MLP()
    build("r3f", model, sigma=0.5, lam=1.0).step([classifier_batch(8, 1)], FP32)
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.lin2.parameters())


# --- 18. TRAM ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mid", ["tram-prev", "tram-init", "tram-x"])
def test_item18_identical_target_gives_d0_and_the_plain_step(mid):
    a, b = MLP(bn=True, dropout=0.3), MLP(bn=True, dropout=0.3)
    rec = Recorder(ClassifierObjective())
    tram = build(mid, a, rec, momentum=0.9, sigma=0.0) if mid == "tram-x" else build(mid, a, rec, momentum=0.9)
    sgd = build("sgd", b, momentum=0.9)
    batch = classifier_batch(8, 1)
    torch.manual_seed(3)
    stats = tram.step([batch], FP32)
    torch.manual_seed(3)
    sgd.step([batch], FP32)
    assert stats.extras["divergence"] == 0.0 and stats.extras["perturbation_norm"] == 0.0
    assert_same(rec.grad_calls()[1].weights, rec.grad_calls()[0].weights)
    assert_same(weights(a), weights(b))
    assert_same(buffers(a), buffers(b))


def test_item18_perturbation_is_d_times_T2g_over_norm():
    model = MLP()
    rec = Recorder(ClassifierObjective())
    method = build("tram-init", model, rec)
    w0 = weights(model)
    with torch.no_grad():
        model.lin2.weight.mul_(1.5)
    w = weights(model)
    x, y = classifier_batch(8, 1)
    stats = method.step([(x, y)], FP32)
    d = float(kl_rows(logits_no_grad(model, w0, lambda m: m(x)), logits_no_grad(model, w, lambda m: m(x))))
    assert stats.extras["divergence"] == pytest.approx(d, rel=1e-12) and d > 0
    g = grad_of(model, w, lambda m: F.cross_entropy(m(x), y))
    e = _perturbation(rec)
    t2g = torch.cat([(wi.abs() ** 2 * gi).flatten() for wi, gi in zip(w, g)])
    flat = torch.cat([ei.flatten() for ei in e])
    cosine = float(flat @ t2g / (flat.norm() * t2g.norm()))
    assert cosine == pytest.approx(1.0, abs=1e-12)
    assert float(global_norm([ei / wi.abs() for ei, wi in zip(e, w)])) == pytest.approx(d, rel=1e-9)


def test_item18_variants_and_previous_step_target():
    targets = {"tram-prev": PreviousWeights, "tram-init": InitialWeights, "tram-x": NoisedInputs}
    for mid, cls in targets.items():
        assert type(build(mid, MLP()).target) is cls

    model = MLP()
    method = build("tram-prev", model)
    w0 = weights(model)
    method.step([classifier_batch(8, 1)], FP32)
    assert_same(weights(method.target.module), w0)  # after step 1: the weights before step 1
    w1 = weights(model)
    method.step([classifier_batch(8, 2)], FP32)
    assert_same(weights(method.target.module), w1)  # after step 2: the weights before step 2
    assert not torch.equal(w1[0], weights(model)[0])


# --- 19. one base step per training step ----------------------------------------------------------------


@pytest.mark.parametrize("mid", ALL)
def test_item19_base_optimizer_steps_once_per_step(mid):
    model = MLP()
    method = build(mid, model, **_method_kwargs(mid))
    calls = []
    original = method.optimizer.step
    method.optimizer.step = lambda *a, **k: (calls.append(1), original(*a, **k))[1]
    for seed in (1, 2):
        method.step([classifier_batch(8, seed)], StepContext(scaler=torch.amp.GradScaler("cpu")))
    assert len(calls) == 2


# --- 20. closure hygiene --------------------------------------------------------------------------------


@pytest.mark.parametrize("mid", ["sam", "asam", "fisher_sam", "tram-init", "tram-x", "tram-fisher"])
def test_item20_descent_gradient_is_a_fresh_gradient_at_w_plus_e(mid):
    model = MLP()
    rec = Recorder(ClassifierObjective())
    method = build(mid, model, rec, **({"sigma": 0.3} if mid in NOISY else {}))
    with torch.no_grad():
        model.lin2.weight.mul_(1.5)
    x, y = classifier_batch(8, 1)
    method.step([(x, y)], FP32)
    at_w_plus_e = rec.grad_calls()[1].weights
    fresh = grad_of(model, at_w_plus_e, lambda m: F.cross_entropy(m(x), y))
    assert_close([p.grad for p in model.parameters()], fresh)
