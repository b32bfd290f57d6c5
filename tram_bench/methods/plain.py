"""The base optimizers alone: one forward and one backward per step (paper Table 1)."""

from __future__ import annotations

from typing import Any, Sequence

from tram_bench.methods import kinds
from tram_bench.methods.base import StepContext, StepStats
from tram_bench.methods.hparams import AdamHparams, SGDHparams
from tram_bench.methods.passes import StepMethod


class PlainMethod(StepMethod):
    passes = (1, 1)
    kind = kinds.PLAIN

    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        run = self.new_run(micro_batches, ctx)
        first = run.grad_pass()
        stepped = run.descend()
        return run.stats(first.loss, skipped=not stepped)


class SGDMethod(PlainMethod):
    """SGD (momentum 0.9 by default; the paper's vision baseline)."""

    id = "sgd"
    Hparams = SGDHparams


class AdamMethod(PlainMethod):
    """Adam with betas (0.9, 0.99): the paper's language baseline (``base: adamw`` for AdamW)."""

    id = "adam"
    Hparams = AdamHparams
