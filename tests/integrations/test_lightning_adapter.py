"""MethodModule (tram_bench.integrations.lightning) gives the weights of tram-bench's own step, bit for bit."""

from __future__ import annotations

import logging

import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning")

from adapter_support import (  # noqa: E402
    ACCUMULATION, BATCH, METHOD_CASES, STEPS, Schedule, assert_same_weights, mlp_batches, mlp_objective, reference_run,
    tiny_mlp,
)

from tram_bench.integrations.lightning import MethodModule  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet():
    loggers = [logging.getLogger(name) for name in ("lightning", "lightning.pytorch", "lightning.fabric")]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    yield
    for logger, level in zip(loggers, before):
        logger.setLevel(level)


def _trainer(tmp_path, **extra):
    options = dict(accelerator="cpu", devices=1, max_steps=STEPS, logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False, precision="64-true",
                   default_root_dir=str(tmp_path))
    return L.Trainer(**{**options, **extra})


def _loader(accumulation: int):
    """The reference's batches, cut into micro-batches in order (what ``split_batch`` makes of each)."""
    micro = [(x[i:i + BATCH // accumulation], y[i:i + BATCH // accumulation])
             for x, y in mlp_batches() for i in range(0, BATCH, BATCH // accumulation)]
    return torch.utils.data.DataLoader(micro, batch_size=None, shuffle=False)


def _module(method, values, accumulation, sched: Schedule, **extra):
    return MethodModule(tiny_mlp(), method, values, objective=mlp_objective, lr=sched.lr,
                        weight_decay=sched.weight_decay, accumulation=accumulation, max_grad_norm=sched.max_grad_norm,
                        schedule=sched.schedule, warmup_steps=sched.warmup, method_seed=sched.seed, **extra)


@pytest.mark.parametrize("accumulation", ACCUMULATION)
@pytest.mark.parametrize("method,values", METHOD_CASES, ids=[m for m, _ in METHOD_CASES])
def test_lightning_weights_equal_tram_bench_step(tmp_path, method, values, accumulation):
    sched = Schedule()
    module = _module(method, values, accumulation, sched)
    trainer = _trainer(tmp_path)
    trainer.fit(module, _loader(accumulation))
    assert trainer.global_step == STEPS  # one global step per optimizer step, not per micro-batch
    reference = tiny_mlp()
    reference_run(reference, mlp_objective, method, values, mlp_batches(), accumulation, sched)
    assert_same_weights(module.model, reference)


def test_lightning_logs_d_and_e_norm(tmp_path):
    module = _module("tram-prev", {}, 1, Schedule())
    trainer = _trainer(tmp_path, max_steps=3)
    trainer.fit(module, _loader(1))
    logged = trainer.logged_metrics
    assert float(logged["divergence"]) >= 0 and float(logged["perturbation_norm"]) > 0
    assert {"loss", "lr"} <= set(logged)


def test_lightning_mixed_precision_is_refused(tmp_path):
    module = _module("sam", {}, 1, Schedule())
    trainer = _trainer(tmp_path, precision="bf16-mixed")
    with pytest.raises(ValueError, match="precision='32-true' and MethodModule\\(bf16=True\\)"):
        trainer.fit(module, _loader(1))


def test_bad_arguments_and_methods_are_refused_at_construction():
    with pytest.raises(ValueError, match="accumulation must be an integer >= 1, got 0"):
        _module("sgd", {}, 0, Schedule())
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        _module("sgd", {}, 1, Schedule(schedule="step"))
    with pytest.raises(ValueError, match="method 'sam': unknown hyperparameter\\(s\\) lam"):
        _module("sam", {"lam": 0.1}, 1, Schedule())
    with pytest.raises(ValueError, match="trains nothing"):
        _module("zero-shot", {}, 1, Schedule())


def test_bf16_is_the_steps_autocast(tmp_path):
    """MethodModule(bf16=True) under a 32-bit Trainer gives the weights of tram-bench's bf16 step."""
    sched = Schedule()
    module = _module("tram-prev", {}, 2, sched, bf16=True)
    module.model.float()
    batches = [(x.float(), y) for x, y in mlp_batches()]
    micro = [(x[i:i + BATCH // 2], y[i:i + BATCH // 2]) for x, y in batches for i in (0, BATCH // 2)]
    trainer = _trainer(tmp_path, precision="32-true")
    trainer.fit(module, torch.utils.data.DataLoader(micro, batch_size=None, shuffle=False))
    reference = tiny_mlp().float()
    reference_run(reference, mlp_objective, "tram-prev", {}, batches, 2, sched, autocast_dtype=torch.bfloat16)
    assert_same_weights(module.model, reference)
