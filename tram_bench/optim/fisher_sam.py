"""Fisher SAM (Kim, Li, Hu, Hospedales, ICML 2022): SAM in the ellipsoid of a diagonal Fisher.

Not Friendly SAM (Li et al., CVPR 2024), which is also abbreviated "F-SAM".
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from tram_bench.optim.two_pass import Perturbation, TwoPassOptimizer, check_nonnegative, ellipsoid_perturbation


def fisher_precondition(gs: list[Tensor], eta: float, out: list[Tensor]) -> list[Tensor]:
    """``out <- f^-1 g`` (returned) with ``f = 1 + eta * g^2`` (element-wise, per tensor of the lists ``gs`` and
    ``out``): the diagonal empirical Fisher of the batch gradient."""
    for g, buf in zip(gs, out):
        torch.mul(g, g, out=buf)  # one pass, where a copy and an in-place product would take two
    torch._foreach_mul_(out, eta)
    torch._foreach_add_(out, 1.0)
    for g, f in zip(gs, out):
        # g / f, not g * (1 / f): a reciprocal first would round twice.
        torch.div(g, f, out=f)
    return out


class FisherSAM(TwoPassOptimizer):
    """``e = rho * f^-1 g / sqrt(g^T f^-1 g)`` with ``f = 1 + eta * g^2`` (element-wise).

    ``f`` is the diagonal empirical Fisher estimated from the same mini-batch gradient ``g`` that
    the perturbation ascends (Kim et al. 2022), so ``e`` lies on the ellipsoid ``e^T f e = rho^2``.
    ``rho`` is the paper's gamma (default :attr:`RHO`) and ``eta`` the Fisher weight (default
    :attr:`ETA`); both are
    param-group options, the norm is one scalar over all groups. ``eta = 0`` is exactly SAM(rho).
    """

    #: Fisher SAM's gamma and Fisher weight as the paper runs them (appendix B.2); ``FisherSAMHparams``
    #: and TRAM-Fisher's fixed radius default to them.
    RHO = 0.1
    ETA = 0.1

    def __init__(
        self,
        params: Any,
        base_optimizer: type[torch.optim.Optimizer],
        rho: float = RHO,
        eta: float = ETA,
        **base_kwargs: Any,
    ) -> None:
        super().__init__(params, base_optimizer, {"rho": rho, "eta": eta}, **base_kwargs)

    def check_group(self, group: dict[str, Any], index: int) -> None:
        check_nonnegative("FisherSAM", "rho", group["rho"], index)
        check_nonnegative("FisherSAM", "eta", group["eta"], index)

    def perturbation(self, *, fused: bool = False) -> Perturbation:
        return ellipsoid_perturbation(
            self.param_groups,
            "rho",
            lambda ws, gs, group, out: fisher_precondition(gs, float(group["eta"]), out),
            workspace=self._workspace,
            fused=fused,
        )
