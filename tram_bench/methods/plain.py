"""The base optimizers alone (``sgd``, ``adam``; rows of ``tram_bench.methods.table``): one forward
and one backward per step (paper Table 1)."""

from __future__ import annotations

from typing import Any, Sequence

from tram_bench.methods import kinds
from tram_bench.methods.base import StepContext, StepStats
from tram_bench.methods.passes import StepMethod


class PlainMethod(StepMethod):
    """The step recipe of ``sgd`` and ``adam``: one gradient pass, then the base step."""

    kind = kinds.PLAIN

    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        run = self.new_run(micro_batches, ctx)
        first = run.grad_pass()
        stepped = run.descend()
        return run.stats(first.loss, skipped=not stepped)

