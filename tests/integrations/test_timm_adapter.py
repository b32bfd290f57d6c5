"""The SAM-family optimizers in timm's registry (tram_bench.integrations.timm)."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
timm_optim = pytest.importorskip("timm.optim")

from adapter_support import Schedule, assert_same_weights, mlp_batches, mlp_objective, reference_run, tiny_mlp  # noqa: E402

from tram_bench.integrations import timm as tb_timm  # noqa: E402
from tram_bench.optim import ASAM, SAM, TRAM, FisherSAM  # noqa: E402

CLASSES = {"sam": SAM, "asam": ASAM, "fishersam": FisherSAM, "tram": TRAM}
# timm name -> tram-bench method id whose step the same optimizer makes
METHOD_IDS = {"sam": "sam", "asam": "asam", "fishersam": "fisher_sam"}


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_create_optimizer_v2_builds_each_name_with_its_base(name):
    model = tiny_mlp()
    sgd = timm_optim.create_optimizer_v2(model, name, lr=0.1, weight_decay=1e-4)
    adamw = timm_optim.create_optimizer_v2(model, f"{name}adamw", lr=0.1, betas=(0.9, 0.95))
    assert type(sgd) is CLASSES[name] and type(adamw) is CLASSES[name]
    assert type(sgd.base_optimizer) is torch.optim.SGD and type(adamw.base_optimizer) is torch.optim.AdamW
    group = sgd.param_groups[0]
    assert group["momentum"] == 0.9 and group["nesterov"] is False  # classical momentum, as tram-bench's base
    assert {g["weight_decay"] for g in sgd.param_groups} == {0.0, 1e-4}  # timm's no-decay group for biases
    assert adamw.param_groups[0]["betas"] == (0.9, 0.95)


def test_radius_options_pass_through_and_defaults_are_the_classes():
    model = tiny_mlp()
    assert timm_optim.create_optimizer_v2(model, "sam", lr=0.1, rho=0.2).param_groups[0]["rho"] == 0.2
    default = timm_optim.create_optimizer_v2(model, "fishersam", lr=0.1).param_groups[0]
    probe = FisherSAM(tiny_mlp().parameters(), torch.optim.SGD, lr=0.1)
    assert (default["rho"], default["eta"]) == (probe.defaults["rho"], probe.defaults["eta"])
    fused = timm_optim.create_optimizer_v2(model, "tramadamw", lr=0.1, fused_perturbation=True)
    assert fused.fused_perturbation is True and "fused_perturbation" not in fused.base_optimizer.defaults


def test_register_is_idempotent_and_fills_another_registry():
    fresh = timm_optim.OptimizerRegistry()
    names = tb_timm.register(fresh)
    assert names == tb_timm.REGISTERED
    assert tb_timm.register(fresh) == names
    assert fresh.list_optimizers() == sorted(names)


def test_timm_loop_step_without_closure_says_how_to_step():
    opt = timm_optim.create_optimizer_v2(tiny_mlp(), "sam", lr=0.1)
    with pytest.raises(RuntimeError, match="first_step"):
        opt.step()


@pytest.mark.parametrize("name", sorted(METHOD_IDS))
def test_caller_two_pass_loop_equals_tram_bench_step(name):
    """20 steps of the README's timm loop give the weights of the method's own step, bit for bit."""
    model, reference = tiny_mlp(), tiny_mlp()
    opt = timm_optim.create_optimizer_v2(model, name, lr=0.1)
    for batch in mlp_batches():
        mlp_objective(model, batch).loss.backward()
        opt.first_step(zero_grad=True)
        mlp_objective(model, batch).loss.backward()
        opt.second_step(zero_grad=True)
    sched = Schedule(weight_decay=0.0, max_grad_norm=None, warmup=0, schedule="constant")
    defaults = {k: opt.param_groups[0][k] for k in ("rho", "eta") if k in opt.param_groups[0]}
    reference_run(reference, mlp_objective, METHOD_IDS[name], defaults, mlp_batches(), 1, sched)
    assert_same_weights(model, reference)
