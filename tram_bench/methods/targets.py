"""Trust-region targets: the distribution the current model is compared with, ``D(target || current)``.

* :class:`PreviousWeights` - the weights before the last base step (TRPO, TRAM-θ_{t-1}); at the first
  step, the initial weights.
* :class:`InitialWeights` - a frozen copy of the weights at construction (TRAM-θ_0).
* :class:`AveragedWeights` - an exponential moving average of the weights, started at the initial
  weights and updated after every base step (MESA).
* :class:`NoisedInputs` - the current model itself on noised inputs ``x + z`` (R3F, TRAM-x).

Weight targets are private frozen copies of the model (``requires_grad=False``); their forward runs
in the model's train/eval modes with pass 1's dropout masks and never changes their normalisation
statistics (see ``passes.StepRun.target_forward``). A copy at identical weights therefore gives
exactly the logits of pass 1 and ``d == 0``. Their state (weights and buffers) is part of
``Method.state_dict()`` so a resumed run continues with the same target.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from tram_bench.methods.passes import StepRun


class Target(ABC):
    reusable_within_step: bool = True
    """True if the logits do not depend on the current weights, so a later pass of the same step
    (at ``w + e``) may reuse them instead of running the target again."""

    @abstractmethod
    def logits(self, run: StepRun, index: int, batch: Any) -> Tensor:
        """Target logits on micro-batch ``index`` (no gradient)."""

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


class _WeightCopy(Target):
    """A frozen copy of the model, evaluated on the clean micro-batch."""

    def __init__(self, model: nn.Module) -> None:
        self.module = frozen_copy(model)

    def logits(self, run: StepRun, index: int, batch: Any) -> Tensor:
        return run.target_forward(self.module, index, batch)

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["weights"])


class PreviousWeights(_WeightCopy):
    def before_step(self, model: nn.Module) -> None:
        # This step's w becomes the next step's θ_{t-1}; it is read before the base step moves it.
        copy_weights_(self.module, model)


class InitialWeights(_WeightCopy):
    pass


class AveragedWeights(_WeightCopy):
    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__(model)
        self.decay = decay

    @torch.no_grad()
    def after_step(self, model: nn.Module) -> None:
        for avg, p in zip(self.module.parameters(), model.parameters()):
            avg.mul_(self.decay).add_(p.detach(), alpha=1.0 - self.decay)
        # Buffers (BN running statistics, counters) are not averaged; they follow the model.
        for d, s in zip(self.module.buffers(), model.buffers()):
            d.copy_(s)


class NoisedInputs(Target):
    reusable_within_step = False  # it is the current model: at w + e its logits change

    def logits(self, run: StepRun, index: int, batch: Any) -> Tensor:
        return run.target_forward(run.model, index, batch, run.input_noise(index))
