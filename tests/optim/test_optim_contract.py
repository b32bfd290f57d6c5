"""The TwoPassOptimizer contract: identities, exact restore, parameter bookkeeping, checkpoints,
LR schedulers, the closure API and input validation."""

from __future__ import annotations

import copy
import math
import warnings

import pytest
import torch

from tram_bench.optim import ASAM, NORM_EPS, SAM, TRAM, FisherSAM, kl

KINDS = ["sam", "asam", "fisher_sam", "tram", "tram_fisher"]


def _mlp(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).to(dtype)


def _batch(dtype=torch.float64):
    gen = torch.Generator().manual_seed(5)
    return torch.randn(8, 3, generator=gen).to(dtype), torch.randn(8, 2, generator=gen).to(dtype)


def _loss(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def _make(kind, params, base=torch.optim.SGD, **kw):
    kw = {"lr": 0.1, "momentum": 0.9, **kw} if base is torch.optim.SGD else {"lr": 0.01, **kw}
    return {
        "sam": lambda: SAM(params, base, rho=0.1, **kw),
        "asam": lambda: ASAM(params, base, rho=0.5, eta=0.01, **kw),
        "fisher_sam": lambda: FisherSAM(params, base, rho=0.1, eta=0.1, **kw),
        "tram": lambda: TRAM(params, base, eta=0.01, **kw),
        "tram_fisher": lambda: TRAM(params, base, fisher=True, **kw),
    }[kind]()


def _two_pass_step(opt, model, batch, radius=0.25):
    opt.zero_grad()
    _loss(model, batch).backward()
    norm = opt.first_step(radius, zero_grad=True) if isinstance(opt, TRAM) else opt.first_step(zero_grad=True)
    _loss(model, batch).backward()
    opt.second_step(zero_grad=True)
    return norm


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


def _assert_equal(a, b):
    assert all(torch.equal(x, y) for x, y in zip(a, b))


# --- identities -------------------------------------------------------------------------------


@pytest.mark.parametrize("base", [torch.optim.SGD, torch.optim.Adam])
def test_sam_rho_zero_is_the_base_optimizer_bit_for_bit(base):
    batch = _batch()
    model_a, model_b = _mlp(), _mlp()
    kw = {"lr": 0.1, "momentum": 0.9} if base is torch.optim.SGD else {"lr": 0.01}
    sam = SAM(model_a.parameters(), base, rho=0.0, **kw)
    plain = base(model_b.parameters(), **kw)
    for _ in range(3):
        _two_pass_step(sam, model_a, batch)
        plain.zero_grad()
        _loss(model_b, batch).backward()
        plain.step()
    _assert_equal(_params(model_a), _params(model_b))
    assert not torch.equal(_params(model_a)[0], _params(_mlp())[0])


def test_fisher_sam_eta_zero_is_sam_bit_for_bit():
    batch = _batch()
    model_a, model_b = _mlp(), _mlp()
    fisher = FisherSAM(model_a.parameters(), torch.optim.SGD, rho=0.3, eta=0.0, lr=0.1, momentum=0.9)
    sam = SAM(model_b.parameters(), torch.optim.SGD, rho=0.3, lr=0.1, momentum=0.9)
    for _ in range(3):
        assert _two_pass_step(fisher, model_a, batch) == _two_pass_step(sam, model_b, batch)
    _assert_equal(_params(model_a), _params(model_b))


@pytest.mark.parametrize("radius", [0.0, -1e-9])
@pytest.mark.parametrize("fisher", [False, True])
def test_tram_non_positive_radius_is_the_base_step(radius, fisher):
    batch = _batch()
    model_a, model_b = _mlp(), _mlp()
    tram = TRAM(model_a.parameters(), torch.optim.Adam, fisher=fisher, lr=0.01)
    plain = torch.optim.Adam(model_b.parameters(), lr=0.01)
    for _ in range(3):
        _two_pass_step(tram, model_a, batch, radius=radius)
        plain.zero_grad()
        _loss(model_b, batch).backward()
        plain.step()
    _assert_equal(_params(model_a), _params(model_b))


def test_tram_perturbation_is_parallel_to_t_squared_g_with_scaled_norm_d():
    batch = _batch()
    model = _mlp()
    eta, d = 0.01, 0.37
    tram = TRAM(model.parameters(), torch.optim.SGD, eta=eta, lr=0.1)
    _loss(model, batch).backward()
    tram.first_step(d)
    tram.restore()  # weights and grads are back at w
    e = tram.perturbation(d)
    params = list(model.parameters())
    t = [p.detach().abs() + eta for p in params]
    t2g = [ti * ti * p.grad for ti, p in zip(t, params)]
    norm_tg = math.sqrt(sum(float(((ti * p.grad) ** 2).sum()) for ti, p in zip(t, params)))
    for p, v in zip(params, t2g):
        torch.testing.assert_close(e[p], v * (d / (norm_tg + NORM_EPS)), rtol=1e-13, atol=0)
    scaled = math.sqrt(sum(float(((e[p] / ti) ** 2).sum()) for p, ti in zip(params, t)))
    # ||e / T|| = d up to the epsilon in the denominator (n / (n + 1e-12) differs from 1 at 1e-11 here).
    assert scaled == pytest.approx(d * norm_tg / (norm_tg + NORM_EPS), rel=1e-13)
    assert scaled == pytest.approx(d, rel=1e-9)


def test_tram_radius_none_uses_per_group_radii_with_one_global_norm():
    model = torch.nn.Linear(3, 2, dtype=torch.float64)
    tram = TRAM(
        [{"params": [model.weight], "radius": 0.2}, {"params": [model.bias], "radius": 0.6}],
        torch.optim.SGD,
        eta=0.1,
        lr=0.1,
    )
    _loss(model, _batch()).backward()
    w, b = model.weight.detach(), model.bias.detach()
    tw, tb = w.abs() + 0.1, b.abs() + 0.1
    n = math.sqrt(float(((tw * model.weight.grad) ** 2).sum() + ((tb * model.bias.grad) ** 2).sum()))
    e = tram.perturbation()
    torch.testing.assert_close(e[model.weight], 0.2 * tw**2 * model.weight.grad / (n + NORM_EPS), rtol=1e-14, atol=0)
    torch.testing.assert_close(e[model.bias], 0.6 * tb**2 * model.bias.grad / (n + NORM_EPS), rtol=1e-14, atol=0)
    assert tram.first_step(None) == pytest.approx(n, rel=1e-14)
    tram.restore()
    w0, b0 = model.weight.detach().clone(), model.bias.detach().clone()
    tram.first_step(0.3)  # a number is the radius of every group; the stored options stay
    assert [g["radius"] for g in tram.param_groups] == [0.2, 0.6]
    torch.testing.assert_close(model.weight.detach() - w0, 0.3 * tw**2 * model.weight.grad / (n + NORM_EPS),
                               rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(model.bias.detach() - b0, 0.3 * tb**2 * model.bias.grad / (n + NORM_EPS),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", ["fisher_sam", "tram_fisher"])
def test_fisher_metric_norm_of_e_is_the_radius(kind):
    batch = _batch()
    model = _mlp()
    opt = FisherSAM(model.parameters(), torch.optim.SGD, rho=0.2, eta=0.7, lr=0.1) if kind == "fisher_sam" else (
        TRAM(model.parameters(), torch.optim.SGD, fisher=True, fisher_eta=0.7, lr=0.1)
    )
    _loss(model, batch).backward()
    e = opt.perturbation() if kind == "fisher_sam" else opt.perturbation(0.2)
    params = list(model.parameters())
    fisher_norm = math.sqrt(sum(float((e[p] ** 2 * (1 + 0.7 * p.grad**2)).sum()) for p in params))
    n = math.sqrt(sum(float((p.grad**2 / (1 + 0.7 * p.grad**2)).sum()) for p in params))
    assert fisher_norm == pytest.approx(0.2 * n / (n + NORM_EPS), rel=1e-13)
    assert fisher_norm == pytest.approx(0.2, rel=1e-9)
    euclid = math.sqrt(sum(float((e[p] ** 2).sum()) for p in params))
    assert euclid < 0.2 * (1 - 1e-6)  # f > 1 where g != 0: the ellipsoid lies inside the rho-ball


# --- exact restore -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("base", [torch.optim.SGD, torch.optim.Adam])
@pytest.mark.parametrize("kind", KINDS)
def test_lr_zero_leaves_weights_bitwise_unchanged(kind, base, dtype):
    model = _mlp(dtype)
    batch = _batch(dtype)
    before = _params(model)
    opt = _make(kind, model.parameters(), base, lr=0.0)
    for _ in range(2):
        norm = _two_pass_step(opt, model, batch, radius=0.5)
        assert norm > 0
    _assert_equal(_params(model), before)


def test_first_step_moves_and_restore_copies_back():
    model = _mlp()
    before = _params(model)
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.5, lr=0.1)
    _loss(model, _batch()).backward()
    assert opt.applied_perturbation_norm() == 0.0
    norm = opt.first_step()
    assert not torch.equal(_params(model)[0], before[0])
    # ||e|| = rho * n / (n + eps) for SAM, read back from the moved weights
    assert opt.applied_perturbation_norm() == pytest.approx(0.5 * norm / (norm + NORM_EPS), rel=1e-12)
    with pytest.raises(RuntimeError, match="first_step called twice"):
        opt.first_step()
    with pytest.raises(RuntimeError, match="between first_step and second_step"):
        opt.state_dict()
    opt.restore()
    _assert_equal(_params(model), before)
    assert opt.applied_perturbation_norm() == 0.0
    assert opt.first_step() > 0  # usable again after restore


# --- norms, zero gradients, missing gradients ---------------------------------------------------


def test_global_norm_spans_param_groups_with_their_own_lr_and_rho():
    x, y = _batch()
    model = torch.nn.Linear(3, 2, dtype=torch.float64)
    w0, b0 = model.weight.detach().clone(), model.bias.detach().clone()
    groups = [{"params": [model.weight], "lr": 0.1}, {"params": [model.bias], "lr": 0.01, "rho": 0.4}]
    opt = SAM(groups, torch.optim.SGD, rho=0.2)

    def grads(w, b):
        w = w.clone().requires_grad_(True)
        b = b.clone().requires_grad_(True)
        ((x @ w.T + b - y) ** 2).mean().backward()
        return w.grad, b.grad

    gw, gb = grads(w0, b0)
    norm = math.sqrt(float((gw**2).sum() + (gb**2).sum()))  # one norm over both groups
    gw2, gb2 = grads(w0 + 0.2 * gw / (norm + NORM_EPS), b0 + 0.4 * gb / (norm + NORM_EPS))

    _loss(model, (x, y)).backward()
    assert opt.first_step(zero_grad=True) == pytest.approx(norm, rel=1e-13)
    _loss(model, (x, y)).backward()
    opt.second_step()
    torch.testing.assert_close(model.weight.detach(), w0 - 0.1 * gw2, rtol=0, atol=1e-14)
    torch.testing.assert_close(model.bias.detach(), b0 - 0.01 * gb2, rtol=0, atol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_all_zero_gradients_give_no_nan_and_no_move(kind):
    model = _mlp()
    with torch.no_grad():
        model[0].bias.zero_()  # ASAM with eta = 0 would also see T = 0 here
    before = _params(model)
    opt = _make(kind, model.parameters(), lr=0.1)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    e = opt.perturbation()
    assert all(torch.equal(v, torch.zeros_like(v)) for v in e.values()) and len(e) == 4
    assert opt.first_step(0.5) == 0.0 if kind.startswith("tram") else opt.first_step() == 0.0
    _assert_equal(_params(model), before)


def test_frozen_param_and_params_with_grad_in_only_one_pass():
    torch.manual_seed(3)
    trunk, head_a, head_b = (torch.nn.Linear(2, 2, dtype=torch.float64) for _ in range(3))
    trunk.requires_grad_(False)
    params = [*trunk.parameters(), *head_a.parameters(), *head_b.parameters()]
    trunk0, a0, b0 = (_params(m) for m in (trunk, head_a, head_b))
    x = torch.randn(5, 2, dtype=torch.float64)
    opt = SAM(params, torch.optim.SGD, rho=0.3, lr=0.1)
    calls = []

    def closure():  # pass 1 uses head_a only, pass 2 head_b only
        opt.zero_grad()
        head = head_a if not calls else head_b
        calls.append(head)
        loss = head(trunk(x)).pow(2).mean()
        loss.backward()
        return loss

    first = closure()
    e = opt.perturbation()
    assert set(map(id, e)) == set(map(id, head_a.parameters()))
    calls.clear()
    assert opt.step(closure) == first  # the first loss comes back
    _assert_equal(_params(trunk), trunk0)
    _assert_equal(_params(head_a), a0)  # perturbed, restored, no gradient in pass 2: not stepped
    fresh = copy.deepcopy(head_b)
    for p, p0 in zip(fresh.parameters(), b0):
        p.data.copy_(p0)
    fresh(trunk(x)).pow(2).mean().backward()
    for p, q, p0 in zip(head_b.parameters(), fresh.parameters(), b0):
        torch.testing.assert_close(p.detach(), p0 - 0.1 * q.grad, rtol=0, atol=1e-15)


# --- API misuse and validation -------------------------------------------------------------------


def test_optimizer_instance_as_base_is_a_type_error():
    model = _mlp()
    expected = "base_optimizer must be an optimizer class such as torch.optim.SGD, not an instance"
    with pytest.raises(TypeError, match=expected):
        SAM(model.parameters(), torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(TypeError, match="optimizer class"):
        SAM(model.parameters(), "sgd")


@pytest.mark.parametrize(
    "build,needle",
    [
        (lambda ps: SAM(ps, torch.optim.SGD, rho=-0.1), "rho .*-0.1"),
        (lambda ps: SAM(ps, torch.optim.SGD, rho=float("nan")), "rho .*nan"),
        (lambda ps: ASAM(ps, torch.optim.SGD, eta=-1.0), "eta .*-1.0"),
        (lambda ps: FisherSAM(ps, torch.optim.SGD, eta=-2.0), "eta .*-2.0"),
        (lambda ps: TRAM(ps, torch.optim.SGD, eta=-0.5), "eta .*-0.5"),
        (lambda ps: TRAM(ps, torch.optim.SGD, fisher_eta=-3.0), "fisher_eta .*-3.0"),
        (lambda ps: TRAM(ps, torch.optim.SGD, fisher=True, eta=0.1), "eta=0.1"),
        (lambda ps: SAM([{"params": ps, "rho": -2.0}], torch.optim.SGD), r"rho .*-2.0 \(param group 0\)"),
        (lambda ps: SAM(ps, torch.optim.Adadelta), "Adadelta.*rho"),
    ],
)
def test_bad_options_raise_value_error_naming_them(build, needle):
    with pytest.raises(ValueError, match=needle):
        build(list(_mlp().parameters()))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_tram_non_finite_radius_raises_and_leaves_weights_alone(bad):
    model = _mlp()
    before = _params(model)
    tram = TRAM(model.parameters(), torch.optim.SGD, lr=0.1)
    _loss(model, _batch()).backward()
    with pytest.raises(ValueError, match="radius must be finite"):
        tram.first_step(torch.tensor(bad))
    _assert_equal(_params(model), before)
    assert tram.first_step(0.1) > 0  # nothing half-done: a valid first_step still works


def test_sparse_gradients_are_refused_before_any_weight_moves():
    emb = torch.nn.Embedding(5, 2, sparse=True)
    before = emb.weight.detach().clone()
    opt = SAM(emb.parameters(), torch.optim.SGD, lr=0.1)
    emb(torch.tensor([1, 3])).sum().backward()
    with pytest.raises(TypeError, match="sparse gradients"):
        opt.first_step()
    assert torch.equal(emb.weight.detach(), before)


def test_step_without_closure_explains_the_two_step_api():
    model = _mlp()
    for opt in (SAM(model.parameters(), torch.optim.SGD, lr=0.1), TRAM(model.parameters(), torch.optim.SGD, lr=0.1)):
        with pytest.raises(RuntimeError, match="first_step"):
            opt.step()


# --- closure API --------------------------------------------------------------------------------


def test_closure_step_leaves_the_fresh_gradient_at_w_plus_e_and_returns_the_first_loss():
    batch = _batch()
    model = _mlp()
    reference = copy.deepcopy(model)
    w0 = _params(model)
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.3, lr=0.1)

    def closure():
        opt.zero_grad()
        loss = _loss(model, batch)
        loss.backward()
        return loss

    with torch.no_grad():
        loss_w = _loss(reference, batch)
    g = torch.autograd.grad(_loss(reference, batch), list(reference.parameters()))
    norm = math.sqrt(sum(float((gi**2).sum()) for gi in g))
    with torch.no_grad():
        for p, gi in zip(reference.parameters(), g):
            p.add_(0.3 * gi / (norm + NORM_EPS))
    g_at_e = torch.autograd.grad(_loss(reference, batch), list(reference.parameters()))

    first = opt.step(closure)
    assert torch.equal(first.detach(), loss_w)
    for p, ge, p0 in zip(model.parameters(), g_at_e, w0):
        torch.testing.assert_close(p.grad, ge, rtol=0, atol=1e-14)
        torch.testing.assert_close(p.detach(), p0 - 0.1 * ge, rtol=0, atol=1e-14)


def test_tram_closure_step_with_a_radius_callable_matches_the_manual_steps():
    batch = _batch()
    target = _mlp(seed=7)
    model_a, model_b = _mlp(), _mlp()
    tram_a = TRAM(model_a.parameters(), torch.optim.Adam, eta=0.01, lr=0.01)
    tram_b = TRAM(model_b.parameters(), torch.optim.Adam, eta=0.01, lr=0.01)
    seen = {}

    def closure():
        tram_a.zero_grad()
        out = model_a(batch[0])
        seen.setdefault("logits", out.detach())
        loss = ((out - batch[1]) ** 2).mean()
        loss.backward()
        return loss

    def radius():
        with torch.no_grad():
            return kl(target(batch[0]), seen["logits"])

    tram_a.step(closure, radius)
    d = kl(target(batch[0]), model_b(batch[0])).detach()
    assert float(d) > 0
    _two_pass_step(tram_b, model_b, batch, radius=d)
    _assert_equal(_params(model_a), _params(model_b))


# --- checkpoints ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_round_trip_resumes_the_same_trajectory(kind):
    batch = _batch()
    radii = [0.2, 0.5, 0.1, 0.3]
    straight = _mlp()
    opt = _make(kind, straight.parameters(), torch.optim.Adam)
    for r in radii:
        _two_pass_step(opt, straight, batch, radius=r)

    first = _mlp()
    opt1 = _make(kind, first.parameters(), torch.optim.Adam)
    for r in radii[:2]:
        _two_pass_step(opt1, first, batch, radius=r)
    saved_opt = copy.deepcopy(opt1.state_dict())
    saved_model = copy.deepcopy(first.state_dict())
    assert set(saved_opt["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}  # no transient copies

    resumed = _mlp(seed=99)
    resumed.load_state_dict(saved_model)
    opt2 = _make(kind, resumed.parameters(), torch.optim.Adam, lr=0.5)  # lr comes from the checkpoint
    opt2.load_state_dict(saved_opt)
    assert opt2.param_groups is opt2.base_optimizer.param_groups
    assert opt2.state is opt2.base_optimizer.state
    assert opt2.param_groups[0]["lr"] == 0.01
    for r in radii[2:]:
        _two_pass_step(opt2, resumed, batch, radius=r)
    _assert_equal(_params(resumed), _params(straight))


def test_group_options_travel_in_the_state_dict():
    model = _mlp()
    opt = ASAM(model.parameters(), torch.optim.SGD, rho=0.7, eta=0.02, lr=0.1)
    other = ASAM(_mlp().parameters(), torch.optim.SGD, lr=0.1)
    other.load_state_dict(opt.state_dict())
    assert other.param_groups[0]["rho"] == 0.7 and other.param_groups[0]["eta"] == 0.02
    bad = opt.state_dict()
    bad["param_groups"][0]["rho"] = -1.0
    with pytest.raises(ValueError, match="rho"):
        other.load_state_dict(bad)


def test_deepcopy_keeps_the_groups_shared():
    model = _mlp()
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1, momentum=0.9)
    _two_pass_step(opt, model, _batch())
    clone = copy.deepcopy(opt)
    assert clone.param_groups is clone.base_optimizer.param_groups
    clone.param_groups[0]["lr"] = 0.5
    assert clone.base_optimizer.param_groups[0]["lr"] == 0.5 and opt.param_groups[0]["lr"] == 0.1


# --- LR schedulers -------------------------------------------------------------------------------


@pytest.mark.parametrize("manual", [False, True])
def test_scheduler_on_the_wrapper_drives_the_base_without_warnings(manual):
    batch = _batch()
    model_a, model_b = _mlp(), _mlp()
    sam = SAM(model_a.parameters(), torch.optim.SGD, rho=0.0, lr=0.1, momentum=0.9)
    plain = torch.optim.SGD(model_b.parameters(), lr=0.1, momentum=0.9)
    decay = lambda step: 1.0 / (1 + step)  # noqa: E731
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sched_a = torch.optim.lr_scheduler.LambdaLR(sam, decay)
        sched_b = torch.optim.lr_scheduler.LambdaLR(plain, decay)
        for step in range(4):
            if manual:
                _two_pass_step(sam, model_a, batch)
            else:

                def closure():
                    sam.zero_grad()
                    loss = _loss(model_a, batch)
                    loss.backward()
                    return loss

                sam.step(closure)
            plain.zero_grad()
            _loss(model_b, batch).backward()
            plain.step()
            sched_a.step()
            sched_b.step()
            assert sam.base_optimizer.param_groups[0]["lr"] == plain.param_groups[0]["lr"]
            assert plain.param_groups[0]["lr"] == pytest.approx(0.1 / (step + 2), rel=1e-15)
    assert not [w for w in caught if "optimizer.step()" in str(w.message)], [str(w.message) for w in caught]
    _assert_equal(_params(model_a), _params(model_b))
