"""SAM-family optimizers (usable in any PyTorch loop) and distances between predictive distributions."""

from __future__ import annotations

# The module, not a function of that name: `divergence.kl(...)` must work (the dispatcher is divergence_by_name).
from tram_bench.optim import divergence
from tram_bench.optim.asam import ASAM
from tram_bench.optim.divergence import DIVERGENCES, KL_DIRECTIONS, divergence_by_name, kl, l2, mmd
from tram_bench.optim.fisher_sam import FisherSAM
from tram_bench.optim.momentum_sam import MomentumSAM
from tram_bench.optim.sam import SAM
from tram_bench.optim.tram import TRAM
from tram_bench.optim.two_pass import NORM_EPS, Perturbation, TwoPassOptimizer

__all__ = [
    "ASAM",
    "DIVERGENCES",
    "KL_DIRECTIONS",
    "NORM_EPS",
    "SAM",
    "TRAM",
    "FisherSAM",
    "MomentumSAM",
    "Perturbation",
    "TwoPassOptimizer",
    "divergence",
    "divergence_by_name",
    "kl",
    "l2",
    "mmd",
]
