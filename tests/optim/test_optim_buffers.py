"""The two-pass optimizers' reusable buffers: saved weights and ``e`` are allocated once and reused,
and the multi-tensor arithmetic equals the per-parameter formulas bit for bit (float32 and float64)."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from tram_bench.optim import ASAM, NORM_EPS, SAM, TRAM, FisherSAM, MomentumSAM

KINDS = ["sam", "asam", "fisher_sam", "tram", "tram_fisher"]


def _model(dtype, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3)).to(dtype)


def _make(kind, params, **options):
    return {
        "sam": lambda: SAM(params, torch.optim.SGD, rho=0.1, lr=0.1, **options),
        "asam": lambda: ASAM(params, torch.optim.SGD, rho=0.5, eta=0.01, lr=0.1, **options),
        "fisher_sam": lambda: FisherSAM(params, torch.optim.SGD, rho=0.1, eta=0.3, lr=0.1, **options),
        "tram": lambda: TRAM(params, torch.optim.SGD, eta=0.01, lr=0.1, **options),
        "tram_fisher": lambda: TRAM(params, torch.optim.SGD, fisher=True, fisher_eta=0.3, lr=0.1, **options),
    }[kind]()


def _backward(model, dtype, seed=1):
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.randn(9, 5, generator=gen).to(dtype), torch.randn(9, 3, generator=gen).to(dtype)
    ((model(x) - y) ** 2).mean().backward()


def _first_step(opt, radius=0.2):
    return opt.first_step(radius) if isinstance(opt, TRAM) else opt.first_step()


def _per_parameter_e(kind, params, radius=0.2, fused=False):
    """The formulas one parameter at a time, written as the code before the foreach kernels was.
    ``fused``: (the unscaled directions ``P g``, the scale) instead of ``e``."""
    directions = []
    for p in params:
        w, g = p.detach(), p.grad.detach()
        if kind == "sam":
            pg = g.clone()
        elif kind in ("asam", "tram"):
            t = w.abs().add_(0.01)
            pg = t.mul_(t).mul_(g)
        else:
            f = (g * g).mul_(0.3).add_(1.0)
            pg = torch.div(g, f, out=f)
        directions.append(pg)
    squares = [torch.dot(p.grad.reshape(-1), pg.reshape(-1)) for p, pg in zip(params, directions)]
    norm = torch.sqrt(torch.stack(squares).sum())
    r = {"sam": 0.1, "asam": 0.5, "fisher_sam": 0.1}.get(kind, radius)
    if fused:
        return directions, float(r / (norm + NORM_EPS))
    return [pg.mul_(r / (norm + NORM_EPS)) for pg in directions]


@pytest.mark.parametrize("fused", [False, True], ids=["default", "fused_perturbation"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", KINDS)
def test_perturbed_weights_equal_the_per_parameter_formula_bit_for_bit(kind, dtype, fused):
    # The default: w + e with e formed first. fused_perturbation: one add with alpha of the unscaled
    # direction P g (what the fused update computes, rounding w + s * P g once).
    model = _model(dtype)
    params = list(model.parameters())
    opt = _make(kind, params, fused_perturbation=fused)
    _backward(model, dtype)
    w = [p.detach().clone() for p in params]
    if fused:
        directions, scale = _per_parameter_e(kind, params, fused=True)
        expected = [torch.add(wi, v, alpha=scale) for wi, v in zip(w, directions)]
    else:
        expected = [wi + ei for wi, ei in zip(w, _per_parameter_e(kind, params))]
    _first_step(opt)
    assert all(torch.equal(p.detach(), x) for p, x in zip(params, expected))
    moved = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(p.detach() - wi).double() for p, wi in zip(params, w)])
    )
    assert opt.applied_perturbation_norm() == float(moved)
    opt.restore()
    assert all(torch.equal(p.detach(), wi) for p, wi in zip(params, w))


@pytest.mark.parametrize("kind", KINDS)
def test_saved_weights_and_e_live_in_buffers_allocated_once(kind):
    model = _model(torch.float32)
    opt = _make(kind, list(model.parameters()))
    pointers = []
    for step in range(3):
        opt.zero_grad()
        _backward(model, torch.float32, seed=step)
        _first_step(opt)
        opt.applied_perturbation_norm()
        pointers.append(
            sorted(t.data_ptr() for t in list(opt._saved.values()) + list(opt._workspace.values()))
        )
        opt.second_step(zero_grad=True)
    assert len(pointers[0]) == 2 * len(list(model.parameters()))
    assert pointers[0] == pointers[1] == pointers[2]


def test_a_parameter_that_gets_its_first_gradient_later_gets_its_buffers_then():
    model = _model(torch.float64)
    first, second = model[0], model[2]
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    second.weight.requires_grad_(False)
    _backward(model, torch.float64)
    opt.first_step(zero_grad=True)
    assert second.weight not in opt._saved and first.weight in opt._saved
    opt.restore()
    second.weight.requires_grad_(True)
    w = second.weight.detach().clone()
    _backward(model, torch.float64)
    opt.first_step()
    assert second.weight in opt._saved and not torch.equal(second.weight.detach(), w)
    opt.restore()
    assert torch.equal(second.weight.detach(), w)


def test_a_parameter_converted_after_construction_gets_new_buffers():
    model = _model(torch.float32)
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    _backward(model, torch.float32)
    opt.first_step(zero_grad=True)
    opt.restore()
    model.double()  # same Parameter objects, new float64 data
    w = [p.detach().clone() for p in model.parameters()]
    _backward(model, torch.float64)
    opt.first_step()
    assert all(buf.dtype == torch.float64 for buf in opt._saved.values())
    opt.restore()
    assert all(torch.equal(p.detach(), wi) for p, wi in zip(model.parameters(), w))


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda o: pickle.loads(pickle.dumps(o))])
def test_copies_of_an_optimizer_carry_no_buffers(clone):
    model = _model(torch.float32)
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)
    _backward(model, torch.float32)
    opt.first_step()
    opt.restore()
    copied = clone(opt)
    assert copied._saved == {} and copied._workspace == {} and copied._perturbed == []


@pytest.mark.parametrize("kind", KINDS)
def test_first_step_writes_w_plus_e_into_a_spare_buffer_and_restore_copies_nothing(kind):
    # w's own storage is kept aside unwritten while the parameter holds w + e in a spare buffer
    # (the same spare every step), and restore hands the storage back: no copy of w either way.
    model = _model(torch.float32)
    params = list(model.parameters())
    opt = _make(kind, params)
    homes = [p.data_ptr() for p in params]
    spares = None
    for step in range(3):
        opt.zero_grad()
        _backward(model, torch.float32, seed=step)
        w = [p.detach().clone() for p in params]
        kept = [p.data for p in params]
        _first_step(opt)
        now = [p.data_ptr() for p in params]
        assert all(a != b for a, b in zip(now, homes))
        assert all(torch.equal(k, wi) for k, wi in zip(kept, w))
        spares = spares or now
        assert now == spares
        opt.second_step(zero_grad=True)
        assert [p.data_ptr() for p in params] == homes


# --- fused_perturbation: w + s * v in one kernel -------------------------------------------------


def _spacing(t):
    """The float32 distance from ``|t|`` to the next representable number up (one unit in the last place)."""
    t = t.abs().float()
    return (torch.nextafter(t, torch.tensor(float("inf"))) - t).double()


@pytest.mark.parametrize("kind", KINDS)
def test_fused_and_default_perturbations_differ_at_most_by_the_rounding_of_e(kind):
    # The default rounds e, then w + e; the fused kernel rounds w + s * v once. So the two differ
    # by at most half a unit in e's last place (e's own rounding) plus one in the sum's: many units
    # of the sum where w and e nearly cancel. A wide layer, so that they part somewhere.
    torch.manual_seed(0)
    models = [torch.nn.Linear(256, 256) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    w = models[0].weight.detach().clone()
    x = torch.randn(32, 256)
    perturbed = []
    for model, fused in zip(models, (False, True)):
        opt = _make(kind, list(model.parameters()), fused_perturbation=fused)
        model(x).square().mean().backward()
        _first_step(opt)
        perturbed.append(model.weight.detach().double())
    exact, fused = perturbed
    e = exact - w.double()  # exact in float64: the difference of two float32 numbers
    bound = _spacing(e) / 2 + _spacing(torch.maximum(exact.abs(), fused.abs()))
    assert bool(((fused - exact).abs() <= bound).all())


@pytest.mark.parametrize("kind", KINDS)
def test_only_the_fused_update_leaves_e_unformed(kind):
    # perturbation() is e whatever the option; first_step asks for the unformed form only with it.
    for fused in (False, True):
        model = _model(torch.float32)
        opt = _make(kind, list(model.parameters()), fused_perturbation=fused)
        _backward(model, torch.float32)
        args = (0.2,) if kind.startswith("tram") else ()
        assert opt.perturbation(*args).scales == {}
        assert set(opt.perturbation(*args, fused=True).scales) == set(model.parameters())
        asked = []
        original = opt.perturbation
        opt.perturbation = lambda *a, **kw: asked.append(kw.get("fused", False)) or original(*a, **kw)
        _first_step(opt)
        assert asked == [fused]


def test_a_subclass_without_the_fused_form_refuses_the_option_instead_of_ignoring_it():
    class Own(SAM):
        def perturbation(self):  # written before fused_perturbation existed
            return super().perturbation()

    model = _model(torch.float32)
    plain = Own(model.parameters(), torch.optim.SGD, lr=0.1)
    _backward(model, torch.float32)
    plain.first_step()
    plain.restore()
    with pytest.raises(ValueError, match="Own: fused_perturbation=True needs perturbation\\(\\) to accept fused"):
        Own(model.parameters(), torch.optim.SGD, lr=0.1, fused_perturbation=True)


def _momentum_sam_after_one_base_step(dtype, fused):
    model = _model(dtype)
    opt = MomentumSAM(model.parameters(), torch.optim.SGD, rho=0.3, lr=0.1, momentum=0.9, fused_perturbation=fused)
    _backward(model, dtype)
    opt.base_optimizer.step()  # one base step, so that there is momentum to follow
    return model, opt


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("kind", KINDS + ["msam"])
def test_fused_perturbation_changes_nothing_in_half_precision(kind, dtype):
    # torch.add would round the scale itself to half precision there: the default arithmetic runs.
    results = []
    for fused in (False, True):
        if kind == "msam":
            model, opt = _momentum_sam_after_one_base_step(dtype, fused)
        else:
            model = _model(dtype)
            opt = _make(kind, list(model.parameters()), fused_perturbation=fused)
            _backward(model, dtype)
        args = (0.2,) if kind.startswith("tram") else ()
        assert opt.perturbation(*args, fused=True).scales == {}
        _first_step(opt)
        results.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*results))


def test_fused_momentum_sam_adds_the_scaled_momentum_in_one_kernel():
    model, opt = _momentum_sam_after_one_base_step(torch.float64, True)
    params = list(model.parameters())
    momentum = [opt.state[p]["momentum_buffer"] for p in params]
    norm = float(torch.sqrt(torch.stack([torch.dot(v.reshape(-1), v.reshape(-1)) for v in momentum]).sum()))
    w = [p.detach().clone() for p in params]
    opt.first_step()
    assert all(torch.equal(p.detach(), torch.add(wi, v, alpha=-0.3 / norm)) for p, wi, v in zip(params, w, momentum))
    opt.restore()
    assert all(torch.equal(p.detach(), wi) for p, wi in zip(params, w))


def test_momentum_sam_takes_the_norm_of_a_half_precision_momentum_in_float32():
    # Its own float16 dot product underflows to 0 (no perturbation at all) for a small momentum.
    model = torch.nn.Linear(10, 10, bias=False).half()
    opt = MomentumSAM(model.parameters(), torch.optim.SGD, rho=0.3, lr=0.1, momentum=0.9)
    opt.state[model.weight]["momentum_buffer"] = torch.full((10, 10), 1e-5, dtype=torch.float16)
    v = opt.state[model.weight]["momentum_buffer"]
    assert float(torch.dot(v.reshape(-1), v.reshape(-1))) == 0.0
    e = opt.perturbation()
    assert e.norm == pytest.approx(10 * float(v[0, 0]), rel=1e-6)
    assert float(e[model.weight].float().abs().max()) == pytest.approx(0.03, rel=1e-2)


def test_fused_perturbation_must_be_a_bool_and_survives_a_pickle():
    model = _model(torch.float32)
    with pytest.raises(ValueError, match="SAM: fused_perturbation must be True or False, got 'yes'"):
        SAM(model.parameters(), torch.optim.SGD, lr=0.1, fused_perturbation="yes")
    opt = ASAM(model.parameters(), torch.optim.SGD, lr=0.1, fused_perturbation=True)
    assert pickle.loads(pickle.dumps(opt)).fused_perturbation is True
    # Construction choices outside the param groups travel too (TRAM's fisher was once lost).
    tram = TRAM(model.parameters(), torch.optim.SGD, eta=0.0, fisher=True, lr=0.1, fused_perturbation=True)
    copied = pickle.loads(pickle.dumps(tram))
    assert copied.fisher is True and copied.fused_perturbation is True

    class Scaled(SAM):  # a subclass's own attributes travel as well
        def __init__(self, params, base, factor=2.0, **kwargs):
            super().__init__(params, base, **kwargs)
            self.factor = factor

    assert copy.deepcopy(Scaled(model.parameters(), torch.optim.SGD, factor=3.0, lr=0.1)).factor == 3.0
    # Not a base-optimizer option: SGD never sees it.
    assert "fused_perturbation" not in opt.base_optimizer.defaults


def test_an_optimizer_with_a_scheduler_attached_pickles_and_its_copy_trains_its_own_model():
    # The scheduler sets a `step` wrapper bound to the optimizer on the instance; it must not travel.
    model = _model(torch.float32)
    opt = SAM(model.parameters(), torch.optim.SGD, lr=0.1)
    torch.optim.lr_scheduler.StepLR(opt, 1)
    pickle.dumps(opt)
    model_copy, opt_copy = copy.deepcopy((model, opt))
    x = torch.randn(8, 5)

    def closure():
        opt_copy.zero_grad()
        loss = model_copy(x).square().mean()
        loss.backward()
        return loss

    before, original = model_copy[0].weight.detach().clone(), model[0].weight.detach().clone()
    opt_copy.step(closure)
    assert not torch.equal(model_copy[0].weight.detach(), before)
    assert torch.equal(model[0].weight.detach(), original)


def test_an_optimizer_between_first_step_and_restore_cannot_be_copied():
    # The copy would hold w + e and have no saved w to go back to (state_dict() refuses likewise).
    model = _model(torch.float32)
    opt = SAM(model.parameters(), torch.optim.SGD, lr=0.1)
    _backward(model, torch.float32)
    opt.first_step()
    with pytest.raises(RuntimeError, match="between first_step and second_step"):
        pickle.dumps(opt)
    with pytest.raises(RuntimeError, match="between first_step and second_step"):
        copy.deepcopy(opt)
    opt.restore()
    pickle.dumps(opt)
