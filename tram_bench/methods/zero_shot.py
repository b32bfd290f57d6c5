"""``zero-shot``: the pre-trained model, evaluated without any fine-tuning.

The paper reports the un-fine-tuned GPT-2 as its own row (Table 4). Listing ``zero-shot`` in a suite
gives that row for any task: the training loop sees ``trains = False``, runs no step, and evaluates
the model exactly as ``build_model()`` returns it (a new classification head, where the task adds
one, is then untrained: meaningful for language modelling, a chance-level reference elsewhere).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from tram_bench.methods import kinds
from tram_bench.methods.base import Method, StepContext, StepStats


class NoTraining(Method):
    """The recipe of ``zero-shot`` (a row of ``tram_bench.methods.table``): no step at all."""

    kind = kinds.ZERO_SHOT
    trains = False

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        raise TypeError("zero-shot does not train, so it has no optimizer")

    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        raise TypeError("zero-shot does not train; the training loop evaluates it without steps")
