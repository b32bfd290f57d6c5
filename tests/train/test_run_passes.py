"""A run's record counts what its steps ran: passes and examples through a forward (cheaper TRAM)."""

from __future__ import annotations

import dataclasses

import pytest

from tram_bench.suite.spec import CellDoc, typed
from tram_bench.tasks.base import TrainDefaults
from tram_bench.train.loop import run_cell


@pytest.mark.slow  # a whole run (task build, training, evaluation, record): 163 s at load 14 on 2 cores
def test_record_counts_passes_and_forward_examples_of_cheaper_tram(tmp_path):
    # 5 steps of batch 32, d measured on steps 0 and 2 and 4 (radius_every 2) on 8 rows (fraction 0.25):
    # 2 passes over 32 examples every step, plus the target forward on 8 rows on 3 steps.
    train = dataclasses.asdict(TrainDefaults(steps=5, batch_size=32, lr=0.05, eval_every=5))
    spec = typed(CellDoc(suite="passes", task="synthetic", task_version="1",
                         task_params={"dim": 8, "hidden": 16, "shifts": [0.5], "train_size": 64,
                                      "eval_size": 64, "pretrain_steps": 2}, train=train, method="tram-prev",
                         method_version="1", hparams={"radius_every": 2, "radius_batch_fraction": 0.25}, seed=0))
    cost = run_cell(spec, tmp_path).result.cost
    assert (cost.forward, cost.backward) == (5 * 2 + 3, 5 * 2)
    assert cost.forward_examples == 5 * 2 * 32 + 3 * 8
