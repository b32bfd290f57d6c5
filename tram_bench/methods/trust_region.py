"""Trust-region baselines (TRPO, R3F, MESA) and their naive ASAM combinations (paper C.3).

The baselines minimise ``L_S + lam * D(target || current)`` where the gradient flows through the
current logits only (the target's logits are computed without gradient):

* TRPO: the target is the model before the previous base step (Eq. 4 as a penalty).
* R3F: the target is the current model on noised inputs ``x + z`` (Eq. 5); noise only in train mode,
  added by the objective to detached inputs; the divergence is computed in float32. Unlike fairseq's
  R3F (symmetric KL, gradient through both sides) this follows the paper's Eq. 5: forward KL by
  default (``divergence: kl_symmetric`` gives R3F's symmetric form), gradient through the clean side.
* MESA: the target is an EMA of the weights (``decay``), started at the initial weights and
  updated after every base step.

Passes (paper Table 1): 2 forward (current + target) / 1 backward.

ASAM+TRPO / ASAM+R3F / ASAM+MESA are ASAM whose loss in *both* passes is that regularised loss.
What they really execute: pass 1 = current forward + target forward + backward; pass 2 (at
``w + e``) = current forward + backward, plus for ASAM+R3F a second target forward, because its
target is the model itself and moves to ``w + e`` (the same ``z`` is replayed). TRPO's and MESA's
targets do not depend on ``w``, so their pass-1 target logits are kept and reused in pass 2.
Hence ASAM+TRPO and ASAM+MESA: 3 forward / 2 backward; ASAM+R3F: 4 forward / 2 backward.

BatchNorm running statistics come from the clean pass-1 forward at ``w``: the target forwards (R3F's
on ``x + z`` included) never change them.

``StepStats.loss`` is the task loss ``L_S`` at ``w`` (without the penalty, so that it compares across
methods); ``extras["divergence"]`` is the pass-1 ``D``.
"""

from __future__ import annotations

from typing import Any, Sequence

from tram_bench.methods import kinds
from tram_bench.methods.base import StepContext, StepStats
from tram_bench.methods.passes import Measure, StepMethod


class PenaltyMethod(StepMethod):
    """Shared by the baselines and the ASAM combinations: the penalty ``lam * D(target || current)``."""

    kind = kinds.TRUST_REGION

    def penalty(self, *, reuse: bool = False) -> Measure:
        assert self.target is not None
        return Measure(self.target, self.hparams.divergence, weight=self.hparams.lam, reuse=reuse)


class TrustRegionMethod(PenaltyMethod):
    """The step recipe of ``trpo``, ``r3f`` and ``mesa``: one penalised gradient pass, then the base step."""

    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        run = self.new_run(micro_batches, ctx)
        first = run.grad_pass(measure=self.penalty())
        stepped = run.descend(target=self.target)
        return run.stats(first.loss, skipped=not stepped, divergence=first.divergence)


class ASAMTrustRegionMethod(PenaltyMethod):
    """The step recipe of ``asam+trpo``, ``asam+r3f`` and ``asam+mesa``: ASAM with the penalised loss in
    both passes (its optimizer, ``sam_family.build_asam``, comes from the table's row)."""

    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        run = self.new_run(micro_batches, ctx)
        assert self.target is not None
        penalty = self.penalty(reuse=self.target.reusable_within_step)
        first = run.grad_pass(measure=penalty)
        stepped, e_norm = run.perturbed_descent(self.two_pass, measure=penalty, target=self.target)
        return run.stats(first.loss, skipped=not stepped, divergence=first.divergence, perturbation_norm=e_norm)

