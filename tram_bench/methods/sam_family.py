"""SAM, ASAM and Fisher SAM: ascend to ``w + e`` from the pass-1 gradient, descend with the
gradient at ``w + e``. Two forwards and two backwards per step (paper Table 1).

The perturbation formulas are the optimizers' (``tram_bench.optim``): SAM ``e = rho g / ||g||``;
ASAM ``e = rho T^2 g / ||T g||`` with ``T = |w| + eta`` on every parameter; Fisher SAM
``e = rho f^-1 g / sqrt(g^T f^-1 g)`` with ``f = 1 + eta g^2``. ``StepStats.extras`` holds
``perturbation_norm`` = ``||e||_2``.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from tram_bench.methods import kinds
from tram_bench.methods.base import StepContext, StepStats
from tram_bench.methods.hparams import AdaptiveHparams, ASAMHparams, FisherSAMHparams, SAMHparams
from tram_bench.methods.passes import StepMethod
from tram_bench.optim.asam import ASAM
from tram_bench.optim.fisher_sam import FisherSAM
from tram_bench.optim.sam import SAM


def build_asam(hp: AdaptiveHparams, params: list[nn.Parameter], base_cls: type, base_kwargs: dict) -> ASAM:
    return ASAM(params, base_cls, rho=hp.rho, eta=hp.eta, **base_kwargs)


class SharpnessMethod(StepMethod):
    passes = (2, 2)
    kind = kinds.SAM_FAMILY

    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        run = self.new_run(micro_batches, ctx)
        first = run.grad_pass()
        stepped, e_norm = run.perturbed_descent(self.two_pass)
        return run.stats(first.loss, skipped=not stepped, perturbation_norm=e_norm)


class SAMMethod(SharpnessMethod):
    """SAM (Foret et al. 2021)."""

    id = "sam"
    Hparams = SAMHparams

    def build_optimizer(self, params: list[nn.Parameter], base_cls: type, base_kwargs: dict) -> torch.optim.Optimizer:
        return SAM(params, base_cls, rho=self.hparams.rho, **base_kwargs)


class ASAMMethod(SharpnessMethod):
    """ASAM (Kwon et al. 2021) in the paper's Eq. 2 form."""

    id = "asam"
    Hparams = ASAMHparams

    def build_optimizer(self, params: list[nn.Parameter], base_cls: type, base_kwargs: dict) -> torch.optim.Optimizer:
        return build_asam(self.hparams, params, base_cls, base_kwargs)


class FisherSAMMethod(SharpnessMethod):
    """Fisher SAM (Kim et al. 2022; not Friendly SAM); the paper's gamma is ``rho``."""

    id = "fisher_sam"
    Hparams = FisherSAMHparams

    def build_optimizer(self, params: list[nn.Parameter], base_cls: type, base_kwargs: dict) -> torch.optim.Optimizer:
        return FisherSAM(params, base_cls, rho=self.hparams.rho, eta=self.hparams.eta, **base_kwargs)
