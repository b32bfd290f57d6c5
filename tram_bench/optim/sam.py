"""SAM (Foret et al., ICLR 2021): ascend to the worst point of a Euclidean ball, descend from there."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from tram_bench.optim.two_pass import Perturbation, TwoPassOptimizer, check_nonnegative, ellipsoid_perturbation


def identity_precondition(ws: list[Tensor], gs: list[Tensor], group: dict[str, Any], out: list[Tensor]) -> list[Tensor]:
    """``P g = g`` (``gs`` itself, ``out`` untouched): SAM's Euclidean ball has the identity as its
    (inverse) metric."""
    return gs


class SAM(TwoPassOptimizer):
    """Sharpness-Aware Minimization: ``e = rho * g / ||g||`` with the global L2 norm over all groups.

    ``rho`` (default :attr:`RHO`, the paper's SAM baseline) is a param-group option, so groups may
    use different radii; the norm stays one scalar over every parameter with a gradient. ``rho = 0``
    gives exactly the base optimizer's trajectory (two gradient evaluations per step).
    """

    #: The paper's radius for its SAM baseline (appendix B.2); ``SAMHparams.rho`` defaults to it.
    RHO = 0.05

    def __init__(
        self,
        params: Any,
        base_optimizer: type[torch.optim.Optimizer],
        rho: float = RHO,
        **base_kwargs: Any,
    ) -> None:
        super().__init__(params, base_optimizer, {"rho": rho}, **base_kwargs)

    def check_group(self, group: dict[str, Any], index: int) -> None:
        check_nonnegative("SAM", "rho", group["rho"], index)

    def perturbation(self, *, fused: bool = False) -> Perturbation:
        return ellipsoid_perturbation(self.param_groups, "rho", identity_precondition, workspace=self._workspace, fused=fused)
