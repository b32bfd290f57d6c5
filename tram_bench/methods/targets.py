"""Trust-region targets: the distribution the current model is compared with, ``D(target || current)``.

A target is data that the step engine (``passes.StepRun``) reads to run the target forward itself:
which module (a frozen copy, or the current model), whether its inputs are noised, whether its logits
may be reused by a later pass of the same step, and what happens to it around the base step.

* :class:`PreviousWeights` - the weights before the last base step (TRPO, TRAM-θ_{t-1}); at the first
  step, the initial weights.
* :class:`InitialWeights` - a frozen copy of the weights at construction (TRAM-θ_0).
* :class:`AveragedWeights` - an exponential moving average of the weights, started at the initial
  weights and updated after every base step (MESA).
* :class:`NoisedInputs` - the current model itself on noised inputs ``x + z`` (R3F, TRAM-x).

Weight targets are private frozen copies of the model (``requires_grad=False``); their forward runs
in the model's train/eval modes with pass 1's dropout masks and never changes their normalisation
statistics. A copy at identical weights therefore gives exactly the logits of pass 1 and ``d == 0``.
Their state (weights and buffers) is part of ``Method.state_dict()`` so a resumed run continues with
the same target.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class Target:
    """What a trust region compares with (the base class is the current model on clean inputs).

    module: the frozen module whose logits are the target, or None for the current model.
    noised: the target forward feeds ``x + z`` (the step's input noise, replayed within a step).
    reusable_within_step: the logits do not depend on the current weights, so a later pass of the
        same step (at ``w + e``) may reuse them instead of running the target again.
    """

    module: nn.Module | None = None
    noised: bool = False
    reusable_within_step: bool = True

    @classmethod
    def for_method(cls, model: nn.Module, hparams: Any) -> "Target":
        """The target of a method on ``model`` with ``hparams`` (how ``tram_bench.methods.table``
        builds the target a row names)."""
        return cls()

    def before_step(self, model: nn.Module) -> None:
        """Called with the weights ``w`` restored, just before the base step."""

    def after_step(self, model: nn.Module) -> None:
        """Called after a base step that was not skipped."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def frozen_copy(model: nn.Module) -> nn.Module:
    twin = copy.deepcopy(model)
    for p in twin.parameters():
        p.requires_grad_(False)
        p.grad = None
    return twin


@torch.no_grad()
def copy_weights_(dst: nn.Module, src: nn.Module) -> None:
    """Parameters and buffers of ``src`` into the matching tensors of ``dst`` (same architecture)."""
    for d, s in zip(dst.parameters(), src.parameters()):
        d.copy_(s)
    for d, s in zip(dst.buffers(), src.buffers()):
        d.copy_(s)


class WeightCopy(Target):
    """A frozen copy of the model, evaluated on the clean micro-batch."""

    def __init__(self, model: nn.Module) -> None:
        self.module = frozen_copy(model)

    @classmethod
    def for_method(cls, model: nn.Module, hparams: Any) -> "WeightCopy":
        return cls(model)

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["weights"])


class PreviousWeights(WeightCopy):
    def before_step(self, model: nn.Module) -> None:
        # This step's w becomes the next step's θ_{t-1}; it is read before the base step moves it.
        copy_weights_(self.module, model)


class InitialWeights(WeightCopy):
    pass


class AveragedWeights(WeightCopy):
    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__(model)
        self.decay = decay

    @classmethod
    def for_method(cls, model: nn.Module, hparams: Any) -> "AveragedWeights":
        return cls(model, hparams.decay)

    @torch.no_grad()
    def after_step(self, model: nn.Module) -> None:
        for avg, p in zip(self.module.parameters(), model.parameters()):
            avg.mul_(self.decay).add_(p.detach(), alpha=1.0 - self.decay)
        # Buffers (BN running statistics, counters) are not averaged; they follow the model.
        for d, s in zip(self.module.buffers(), model.buffers()):
            d.copy_(s)


class NoisedInputs(Target):
    noised = True
    reusable_within_step = False  # it is the current model: at w + e its logits change
