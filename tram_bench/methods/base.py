"""What a training method is.

A task's side of the contract (:class:`Objective`, :class:`Output`, :class:`InputNoise`) lives in
:mod:`tram_bench.contract`, which tasks and methods both import; it is re-exported here.

A *method* owns one training step (one or more forward/backward passes, the ascent, the base
optimizer step) and reports what it cost in a :class:`StepStats`. The training loop owns everything
around the step: data order, LR schedule (on ``method.optimizer``), evaluation, checkpoint choice.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import torch
from torch import nn

from tram_bench.contract import InputNoise, Objective, Output
from tram_bench.methods import kinds


@dataclass
class StepContext:
    """Per-run settings that every method honours the same way.

    autocast_dtype: None (full precision) or torch.bfloat16 / torch.float16 for autocast.
    scaler: a ``torch.amp.GradScaler`` (float16 only) or None. With a scaler, an inf/NaN gradient in
        *any* backward pass of the step skips the whole step: weights and optimizer state untouched.
    max_grad_norm: clip the *descent* gradient (after the last backward, before the base step).
    device_type: "cpu" or "cuda", for ``torch.autocast``.
    total_steps: the run's number of steps (the training loop sets it; None when unknown). Only
        schedules over the run read it (``late-sam``).
    """

    autocast_dtype: torch.dtype | None = None
    scaler: Any = None
    max_grad_norm: float | None = None
    device_type: str = "cpu"
    total_steps: int | None = None

    def autocast(self):
        if self.autocast_dtype is None:
            return torch.autocast(self.device_type, enabled=False)
        return torch.autocast(self.device_type, dtype=self.autocast_dtype)


@dataclass
class StepStats:
    """What one step did. ``loss`` is the pass-1 loss at w (never the loss at w + e).

    ``forward``/``backward``: passes over the whole batch; ``forward_examples``: examples that went
    through a forward, summed over the step's forwards (target forwards on part of a batch count
    their rows only); 0 when the method does not count them."""

    loss: float
    forward: int
    backward: int
    skipped: bool = False
    extras: dict[str, float] = field(default_factory=dict)
    forward_examples: int = 0


@dataclass
class BaseHparams:
    """Hyperparameters of the base (inner) optimizer, shared by every method.

    base: "sgd", "adam" or "adamw". The paper uses SGD for vision and Adam(0.9, 0.99) for language.
    """

    base: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.99)
    eps: float = 1e-8


class Method(ABC):
    """One training step for a model and a batch.

    Subclasses declare ``id`` (the suite's method id), ``version`` (bump when numerics change: it is
    part of every run id), ``passes`` (forward, backward) per step as in the paper's Table 1, and
    ``Hparams`` (a dataclass deriving from :class:`BaseHparams`; its defaults are the paper's, and it
    is the one place those defaults live). ``kind`` (one of :data:`tram_bench.methods.kinds.KINDS`)
    travels in every run record (``CellDoc.method_kind``); the step recipes below set it, so a
    plugin that subclasses one of them is classified as what it is; it is not part of any run id.
    """

    id: ClassVar[str]
    version: ClassVar[str] = "1"
    kind: ClassVar[str] = kinds.OTHER
    passes: ClassVar[tuple[int, int]]
    Hparams: ClassVar[type[BaseHparams]] = BaseHparams

    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        hparams: BaseHparams,
        *,
        lr: float,
        weight_decay: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        self.model = model
        self.objective = objective
        self.hparams = hparams
        self.lr = lr
        self.weight_decay = weight_decay
        self.generator = generator

    @property
    @abstractmethod
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimizer whose ``param_groups`` an LR scheduler should drive."""

    @abstractmethod
    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        """One optimizer step on the union of ``micro_batches`` (usually a list of one).

        Gradient accumulation has one meaning everywhere: the micro-batch gradients are accumulated,
        weighted by ``Output.count``, into the gradient of the mean loss over the whole batch, and the
        method then acts as if it had seen that batch at once ("accumulate, then perturb").
        """

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])

    @classmethod
    def hparam_fields(cls) -> dict[str, dataclasses.Field]:
        return {f.name: f for f in dataclasses.fields(cls.Hparams)}

__all__ = ["BaseHparams", "InputNoise", "Method", "Objective", "Output", "StepContext", "StepStats"]
