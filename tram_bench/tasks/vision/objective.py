"""The forward shared by every vision task, and seeded head initialisation.

Every vision model here is an ``nn.Module`` with ``forward(pixels) -> logits [N, C]`` and
``features(pixels) -> [N, D]`` (the representation the head reads). Batches are
``{"pixels": float [N, C, H, W], "labels": int64 [N]}``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tram_bench.contract import InputNoise, Output
from tram_bench.tasks.base import Task


class PixelClassificationObjective:
    """Cross-entropy on ``model(pixels)``; the input-noise hook is the pixel tensor.

    Pixels are normalised to [-1, 1] on every vision task (see :mod:`tram_bench.tasks.vision`), so ``sigma`` is
    in those units: sigma = 0.1 is 5 % of the pixel range. Noise goes onto a detached copy; the batch is never
    modified in place.
    """

    def __call__(self, model: nn.Module, batch: dict[str, Any], noise: InputNoise | None = None) -> Output:
        x = batch["pixels"]
        if noise is not None:
            x = x.detach() + noise.sample_like(x)
        logits = model(x)
        labels = batch["labels"]
        # Loss in float32 whatever the autocast dtype of the logits.
        loss = F.cross_entropy(logits.float(), labels)
        return Output(logits=logits, loss=loss, count=int(labels.shape[0]))


def init_linear_(layer: nn.Linear, seed: int) -> nn.Linear:
    """Re-draw a linear layer like PyTorch's default init (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and
    bias) from a generator seeded with ``seed``, so every method starts from the same head for a run seed."""
    g = torch.Generator().manual_seed(int(seed))
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        w = torch.empty(layer.weight.shape, dtype=torch.float32).uniform_(-bound, bound, generator=g)
        layer.weight.copy_(w)
        if layer.bias is not None:
            b = torch.empty(layer.bias.shape, dtype=torch.float32).uniform_(-bound, bound, generator=g)
            layer.bias.copy_(b)
    return layer


class PixelTask(Task):
    """What every vision task shares: the pixel objective and the features-before-the-head hook."""

    _objective = PixelClassificationObjective()

    @property
    def objective(self) -> PixelClassificationObjective:
        return self._objective

    def representation(self, model: nn.Module, batch: Any) -> torch.Tensor:
        return model.features(batch["pixels"])
