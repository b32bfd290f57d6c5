"""The contract between a task and a training method, imported by both (neither imports the other).

A *task* supplies an :class:`Objective`: a callable that runs a model on a batch and returns an
:class:`Output` (logits, mean loss, token mask, how many loss units the batch holds). The objective
owns the task's input-embedding hook, so a method can ask for a forward on noised inputs
(:class:`InputNoise`) without knowing whether the inputs are pixels or token embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn


@dataclass(frozen=True)
class InputNoise:
    """Noise added at the task's input-embedding hook (pixels for vision, embeddings for text).

    ``kind="normal"`` draws z ~ N(0, sigma^2); ``kind="uniform"`` draws z ~ U(-sigma, sigma).
    The objective must draw from ``generator`` so that noise is reproducible per run, and must add it
    to a *detached copy* of the inputs (the clean batch is never modified in place).
    """

    sigma: float
    kind: str = "normal"
    generator: torch.Generator | None = None

    def sample_like(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "normal":
            z = torch.randn(x.shape, generator=self.generator, device="cpu", dtype=torch.float32)
            z = z * self.sigma
        elif self.kind == "uniform":
            z = torch.rand(x.shape, generator=self.generator, device="cpu", dtype=torch.float32)
            z = (2.0 * z - 1.0) * self.sigma
        else:  # validated by the suite layer; kept as a guard for direct API use
            raise ValueError(f"unknown noise kind {self.kind!r} (expected 'normal' or 'uniform')")
        # Noise is drawn on the CPU so that the same seed gives the same noise on any device.
        return z.to(device=x.device, dtype=x.dtype)


@dataclass
class Output:
    """What one forward pass of a task objective returns.

    logits: ``[N, C]`` for classification or ``[B, T, V]`` for language modelling (already aligned
        with the targets, i.e. shifted for causal LM).
    loss: the mean loss over the ``count`` loss units (examples or non-padding tokens).
    mask: ``[B, T]`` bool mask of the positions that count (language models), or None.
    count: number of loss units in this batch; gradient accumulation weights micro-batches by it.
    """

    logits: torch.Tensor
    loss: torch.Tensor
    mask: torch.Tensor | None = None
    count: int = 1


class Objective(Protocol):
    """A task's forward: ``objective(model, batch, noise=None) -> Output``.

    The model is an argument (not captured) so that the same objective evaluates frozen copies:
    the previous-step model of TRPO/TRAM-prev, the EMA of MESA, the pre-trained model of TRAM-init.
    """

    def __call__(self, model: nn.Module, batch: Any, noise: InputNoise | None = None) -> Output: ...


__all__ = ["InputNoise", "Objective", "Output"]
