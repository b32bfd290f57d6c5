"""Run in a fresh interpreter by test_rehearsal_footprint.py: one method's steps on an MLP whose weights dominate
memory, printing JSON with the run's peak RSS growth (tram_bench.train.memory.PeakMemory), its parameter count
and the saved-activation bytes per example. ``python footprint_probe.py METHOD|none``: ``none`` runs forward and
backward only (weights, gradients, activations and the process's own overhead)."""

from __future__ import annotations

import json
import sys

import torch
from torch import nn

from tram_bench.methods.base import Output, StepContext
from tram_bench.methods.registry import METHODS
from tram_bench.train.memory import PeakMemory
from tram_bench.train.rehearsal.activations import SavedBytes

BATCH, STEPS = 64, 3


def objective(model, batch, noise=None):
    x = batch["x"] if noise is None else batch["x"] + noise.sample_like(batch["x"])
    logits = model(x)
    return Output(logits=logits, loss=nn.functional.cross_entropy(logits, batch["y"]), count=len(batch["y"]))


def main(method_id: str) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    batch = {"x": torch.randn(BATCH, 256), "y": torch.randint(0, 100, (BATCH,))}
    memory = PeakMemory(torch.device("cpu"))
    memory.start()
    model = nn.Sequential(nn.Linear(256, 2048), nn.Tanh(), nn.Linear(2048, 2048), nn.Tanh(), nn.Linear(2048, 2048),
                          nn.Tanh(), nn.Linear(2048, 100))
    with SavedBytes() as saved:
        if method_id == "none":
            for _ in range(STEPS):
                objective(model, batch).loss.backward()
        else:
            cls = METHODS.get(method_id)
            hparams = cls.Hparams() if method_id == "sgd" else cls.Hparams(base="adam")
            method = cls(model, objective, hparams, lr=1e-3, generator=torch.Generator().manual_seed(0))
            for _ in range(STEPS):
                method.step([batch], StepContext())
    print(json.dumps({"peak": memory.peak_mb() * 2**20, "parameters": sum(p.numel() for p in model.parameters()),
                      "activations": saved.peak / BATCH, "batch": BATCH}))


if __name__ == "__main__":
    main(sys.argv[1])
