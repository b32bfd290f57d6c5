"""SAM (Foret et al. 2021), ASAM (Kwon et al. 2021, the paper's Eq. 2 form) and Fisher SAM (Kim et al.
2022; not Friendly SAM): ascend to ``w + e`` from the pass-1 gradient, descend with the
gradient at ``w + e``. Two forwards and two backwards per step (paper Table 1).

The perturbation formulas are the optimizers' (``tram_bench.optim``): SAM ``e = rho g / ||g||``;
ASAM ``e = rho T^2 g / ||T g||`` with ``T = |w| + eta`` on every parameter; Fisher SAM
``e = rho f^-1 g / sqrt(g^T f^-1 g)`` with ``f = 1 + eta g^2``. ``StepStats.extras`` holds
``perturbation_norm`` = ``||e||_2``.
"""

from __future__ import annotations

from typing import Any, Sequence

from torch import nn

from tram_bench.methods import kinds
from tram_bench.methods.base import StepContext, StepStats
from tram_bench.methods.hparams import AdaptiveHparams, FisherSAMHparams, SAMHparams
from tram_bench.methods.passes import StepMethod
from tram_bench.optim.asam import ASAM
from tram_bench.optim.fisher_sam import FisherSAM
from tram_bench.optim.sam import SAM


def build_sam(hp: SAMHparams, params: list[nn.Parameter], base_cls: type, base_kwargs: dict) -> SAM:
    """``sam`` and the cheaper methods that take SAM's steps."""
    return SAM.prechecked(params, base_cls, rho=hp.rho, **base_kwargs)


def build_asam(hp: AdaptiveHparams, params: list[nn.Parameter], base_cls: type, base_kwargs: dict) -> ASAM:
    """``asam`` and the ASAM + trust-region combinations."""
    return ASAM.prechecked(params, base_cls, rho=hp.rho, eta=hp.eta, **base_kwargs)


def build_fisher_sam(hp: FisherSAMHparams, params: list[nn.Parameter], base_cls: type, base_kwargs: dict) -> FisherSAM:
    """``fisher_sam``: the paper's gamma is ``rho``."""
    return FisherSAM.prechecked(params, base_cls, rho=hp.rho, eta=hp.eta, **base_kwargs)


class SharpnessMethod(StepMethod):
    """The step recipe of ``sam``, ``asam`` and ``fisher_sam`` (rows of ``tram_bench.methods.table``):
    pass 1 at ``w``, ascent to ``w + e``, pass 2 there, restore, base step."""

    kind = kinds.SAM_FAMILY

    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        run = self.new_run(micro_batches, ctx)
        first = run.grad_pass()
        stepped, e_norm = run.perturbed_descent(self.two_pass)
        return run.stats(first.loss, skipped=not stepped, perturbation_norm=e_norm)
