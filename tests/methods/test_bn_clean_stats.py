"""BatchNorm running statistics come from clean inputs, for every method (issue 14, item 11).

On the synthetic task with ``batchnorm: true`` and sigma 0.5, one step of each method leaves the
running mean / variance / counter exactly as one clean train-mode forward would, at the weights of
the method's first clean gradient pass (``w`` for everyone; ``w + e`` for TRAM-Fisher, whose pass 1
sees ``x + z``). Before the fix TRAM-Fisher's statistics were those of its noised pass 1.
"""

from __future__ import annotations

import copy

import pytest
import torch
from methods_support import Recorder

from tram_bench.methods.base import StepContext
from tram_bench.methods.registry import METHODS
from tram_bench.tasks.synthetic import SyntheticParams, SyntheticShiftTask

SIGMA = 0.5
# Every method with a noised forward, and two clean references (SGD, Fisher SAM).
NOISED = ("r3f", "asam+r3f", "tram-x", "tram-fisher")
REFERENCES = ("sgd", "fisher_sam")


def _task() -> SyntheticShiftTask:
    return SyntheticShiftTask(SyntheticParams(batchnorm=True), seed=3)


def _one_step(method_id: str, **hparams):
    """(model before the step, model after it, the batch, the recorded objective calls)."""
    task = _task()
    model = task.build_model()
    model.train()
    before = copy.deepcopy(model)
    batch = next(iter(task.train_batches(32, torch.Generator().manual_seed(0))))
    cls = METHODS.get(method_id)
    if method_id in NOISED:
        hparams.setdefault("sigma", SIGMA)
    rec = Recorder(task.objective)
    method = cls(model, rec, cls.Hparams(**hparams), lr=0.05, generator=torch.Generator().manual_seed(5))
    method.step([batch], StepContext())
    return before, model, batch, rec


def _bn_buffers(model) -> dict[str, torch.Tensor]:
    bn = model.body[1]
    assert isinstance(bn, torch.nn.BatchNorm1d)
    return {f"body.1.{k}": v for k, v in bn.named_buffers()}


def _clean_forward_buffers(before, weights: list[torch.Tensor], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The BN buffers after one clean train-mode forward of ``before`` at ``weights``."""
    twin = copy.deepcopy(before)
    with torch.no_grad():
        for p, w in zip(twin.parameters(), weights):
            p.copy_(w)
        twin.train()
        twin(x)
    return _bn_buffers(twin)


def _first_clean_grad_call(rec: Recorder):
    return next(c for c in rec.grad_calls() if c.noise_state is None)


@pytest.mark.parametrize("method_id", NOISED + REFERENCES)
def test_running_stats_equal_one_clean_forward(method_id):
    before, after, batch, rec = _one_step(method_id)
    clean = _first_clean_grad_call(rec)
    expected = _clean_forward_buffers(before, clean.weights, batch["x"])
    got = _bn_buffers(after)
    counter = "body.1.num_batches_tracked"
    assert int(got[counter]) == int(_bn_buffers(before)[counter]) + 1
    for key, value in expected.items():
        assert torch.equal(got[key], value), key


def test_tram_fisher_stats_are_not_those_of_the_noised_pass():
    before, after, batch, rec = _one_step("tram-fisher")
    first = rec.grad_calls()[0]
    assert first.noise_state is not None  # pass 1 is the noised one
    z = torch.Generator().set_state(first.noise_state)
    x_noised = batch["x"] + SIGMA * torch.randn(batch["x"].shape, generator=z)
    noised = _clean_forward_buffers(before, first.weights, x_noised)
    # Sigma 0.5 moves the running means by ~1e-2: clearly not a rounding difference.
    assert (noised["body.1.running_mean"] - _bn_buffers(after)["body.1.running_mean"]).abs().max() > 1e-3


def test_tram_fisher_with_zero_radius_has_fisher_sams_statistics():
    # rho = 0 puts pass 2 at w itself: the statistics are then Fisher SAM's, bit for bit.
    _, tram_fisher, _, _ = _one_step("tram-fisher", rho=0.0)
    _, fisher_sam, _, _ = _one_step("fisher_sam")
    for key, value in _bn_buffers(fisher_sam).items():
        assert torch.equal(_bn_buffers(tram_fisher)[key], value), key
