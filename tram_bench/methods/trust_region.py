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

import torch
from torch import nn

from tram_bench.methods import kinds
from tram_bench.methods.base import StepContext, StepStats
from tram_bench.methods.hparams import (
    ASAMMESAHparams,
    ASAMR3FHparams,
    ASAMTRPOHparams,
    MESAHparams,
    R3FHparams,
    TRPOHparams,
)
from tram_bench.methods.passes import Measure, StepMethod
from tram_bench.methods.sam_family import build_asam
from tram_bench.methods.targets import AveragedWeights, NoisedInputs, PreviousWeights, Target


class PenaltyMethod(StepMethod):
    """Shared by the baselines and the ASAM combinations: the penalty ``lam * D(target || current)``."""

    kind = kinds.TRUST_REGION

    def penalty(self, *, reuse: bool = False) -> Measure:
        assert self.target is not None
        return Measure(self.target, self.hparams.divergence, weight=self.hparams.lam, reuse=reuse)


class TrustRegionMethod(PenaltyMethod):
    passes = (2, 1)

    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        run = self.new_run(micro_batches, ctx)
        first = run.grad_pass(measure=self.penalty())
        stepped = run.descend(target=self.target)
        return run.stats(first.loss, skipped=not stepped, divergence=first.divergence)


class ASAMTrustRegionMethod(PenaltyMethod):
    passes = (3, 2)

    def build_optimizer(self, params: list[nn.Parameter], base_cls: type, base_kwargs: dict) -> torch.optim.Optimizer:
        return build_asam(self.hparams, params, base_cls, base_kwargs)

    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        run = self.new_run(micro_batches, ctx)
        assert self.target is not None
        penalty = self.penalty(reuse=self.target.reusable_within_step)
        first = run.grad_pass(measure=penalty)
        stepped, e_norm = run.perturbed_descent(self.two_pass, measure=penalty, target=self.target)
        return run.stats(first.loss, skipped=not stepped, divergence=first.divergence, perturbation_norm=e_norm)


def _previous(method: StepMethod) -> Target:
    return PreviousWeights(method.model)


def _noised(method: StepMethod) -> Target:
    return NoisedInputs()


def _averaged(method: StepMethod) -> Target:
    return AveragedWeights(method.model, method.hparams.decay)


class TRPOMethod(TrustRegionMethod):
    """TRPO-style KL penalty to the previous step's model."""

    id = "trpo"
    Hparams = TRPOHparams
    build_target = _previous


class R3FMethod(TrustRegionMethod):
    """R3F (Aghajanyan et al. 2021) as the paper's Eq. 5 penalty."""

    id = "r3f"
    Hparams = R3FHparams
    build_target = _noised


class MESAMethod(TrustRegionMethod):
    """MESA (Du et al. 2022): KL penalty to an EMA of the weights."""

    id = "mesa"
    Hparams = MESAHparams
    build_target = _averaged


class ASAMTRPOMethod(ASAMTrustRegionMethod):
    id = "asam+trpo"
    Hparams = ASAMTRPOHparams
    build_target = _previous


class ASAMR3FMethod(ASAMTrustRegionMethod):
    id = "asam+r3f"
    passes = (4, 2)
    Hparams = ASAMR3FHparams
    build_target = _noised


class ASAMMESAMethod(ASAMTrustRegionMethod):
    id = "asam+mesa"
    Hparams = ASAMMESAHparams
    build_target = _averaged
