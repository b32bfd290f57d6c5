"""The LM objective under the real methods: noise hook (R3F, TRAM-x), per-token KL targets (TRAM-prev)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tram_bench.methods.base import StepContext
from tram_bench.methods.registry import METHODS
from tram_bench.tasks.lm.bbc import BBCTinyGPT2Task, BBCTinyParams

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "lm" / "bbc"


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("TRAM_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    params = BBCTinyParams(
        corpus_dir=str(FIXTURE), vocab_size=300, n_embd=16, n_layer=1, n_head=2, block_size=32,
        pretrain_steps=4, pretrain_batch_size=4, pretrain_warmup_steps=1,
    )
    yield BBCTinyGPT2Task(params, seed=0)
    mp.undo()


@pytest.mark.parametrize("method_id", ["adam", "r3f", "tram-x", "tram-prev", "tram-fisher"])
def test_methods_step_on_lm_batches_without_touching_them(task, method_id):
    cls = METHODS.get(method_id)
    model = task.build_model()
    model.train()
    method = cls(model, task.objective, cls.Hparams(base="adam", betas=(0.9, 0.99)), lr=1e-2,
                 generator=torch.Generator().manual_seed(1))
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    batches = task.train_batches(4, torch.Generator().manual_seed(0))
    for _ in range(2):
        batch = next(batches)
        clean = {k: v.clone() for k, v in batch.items()}
        stats = method.step([batch], StepContext())
        assert all(torch.equal(batch[k], clean[k]) for k in batch)
        assert torch.isfinite(torch.tensor(stats.loss))
    moved = any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert moved
    val = task.eval_sets()[0]
    assert torch.isfinite(torch.tensor(task.evaluate(model, val)["loss"]))
