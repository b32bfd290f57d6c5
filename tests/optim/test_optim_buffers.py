"""The two-pass optimizers' reusable buffers: saved weights and ``e`` are allocated once and reused,
and the multi-tensor arithmetic equals the per-parameter formulas bit for bit (float32 and float64)."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from tram_bench.optim import ASAM, NORM_EPS, SAM, TRAM, FisherSAM

KINDS = ["sam", "asam", "fisher_sam", "tram", "tram_fisher"]


def _model(dtype, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3)).to(dtype)


def _make(kind, params):
    return {
        "sam": lambda: SAM(params, torch.optim.SGD, rho=0.1, lr=0.1),
        "asam": lambda: ASAM(params, torch.optim.SGD, rho=0.5, eta=0.01, lr=0.1),
        "fisher_sam": lambda: FisherSAM(params, torch.optim.SGD, rho=0.1, eta=0.3, lr=0.1),
        "tram": lambda: TRAM(params, torch.optim.SGD, eta=0.01, lr=0.1),
        "tram_fisher": lambda: TRAM(params, torch.optim.SGD, fisher=True, fisher_eta=0.3, lr=0.1),
    }[kind]()


def _backward(model, dtype, seed=1):
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.randn(9, 5, generator=gen).to(dtype), torch.randn(9, 3, generator=gen).to(dtype)
    ((model(x) - y) ** 2).mean().backward()


def _first_step(opt, radius=0.2):
    return opt.first_step(radius) if isinstance(opt, TRAM) else opt.first_step()


def _per_parameter_e(kind, params, radius=0.2):
    """The formulas one parameter at a time, written as the code before the foreach kernels was."""
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
    return [pg.mul_(r / (norm + NORM_EPS)) for pg in directions]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", KINDS)
def test_perturbed_weights_equal_the_per_parameter_formula_bit_for_bit(kind, dtype):
    model = _model(dtype)
    params = list(model.parameters())
    opt = _make(kind, params)
    _backward(model, dtype)
    w = [p.detach().clone() for p in params]
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
