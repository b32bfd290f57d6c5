"""ASAM (Kwon et al., ICML 2021): SAM in a parameter-scaled (adaptive) neighbourhood."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from tram_bench.optim.two_pass import Perturbation, TwoPassOptimizer, check_nonnegative, ellipsoid_perturbation


def adaptive_precondition(ws: list[Tensor], gs: list[Tensor], eta: float, out: list[Tensor]) -> list[Tensor]:
    """``out <- T^2 g`` (returned) with ``T = |w| + eta`` (element-wise, per tensor of the lists ``ws``, ``gs``,
    ``out``, all of one shape each): ASAM's ball ``||T^-1 e|| <= rho`` has inverse metric ``T^2``."""
    for w, buf in zip(ws, out):
        torch.abs(w, out=buf)  # one pass, where a copy and an in-place abs would take two
    torch._foreach_add_(out, eta)
    torch._foreach_mul_(out, out)  # (T * T) * g, the order the float64 oracles were written in
    torch._foreach_mul_(out, gs)
    return out


class ASAM(TwoPassOptimizer):
    """Adaptive SAM: ``e = rho * T^2 g / ||T g||`` with ``T = |w| + eta`` element-wise (paper Eq. 2).

    ``||T g||`` is one global norm over all groups; ``rho`` (default :attr:`RHO`, the paper's ASAM
    baseline) and ``eta`` (default :attr:`ETA`) are param-group options.

    Which "ASAM" this is (the two popular implementations are not numerically the same method):

    * The official SamsungLabs code uses ``eta = 0.01``, applies ``T`` only to parameters whose name
      contains ``"weight"`` (biases and norm shifts get ``T = 1``), and restores by subtracting ``e``.
    * davda54/sam's ``adaptive=True`` uses ``T = |w|`` (no ``eta``) on every parameter and restores
      by copy.
    * Ours: ``T = |w| + eta`` on **all** parameters, restore by copy, ``eta = 0`` by default as in
      the paper's Eq. 2, so the default equals davda54's adaptive mode. Name-based filtering is
      deliberately absent: an optimizer sees tensors, not module names.

    The official code's choice cannot be reproduced here, not even with one parameter group per
    kind of tensor: its non-weight parameters get ``T = 1`` (their ascent is plain SAM's direction,
    unscaled), whereas every group here uses ``T = |w| + eta``, which equals 1 only where
    ``|w| = 1 - eta``. A per-group ``eta`` changes the offset, never makes ``T`` independent of ``w``.

    With ``eta = 0`` a parameter that is exactly zero has ``T = 0`` and is never perturbed.
    """

    #: The paper's ASAM radius and offset (appendix B.2; Eq. 2 with ``eta = 0``); the methods'
    #: ``Hparams`` default to them.
    RHO = 0.5
    ETA = 0.0

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
        check_nonnegative("ASAM", "rho", group["rho"], index)
        check_nonnegative("ASAM", "eta", group["eta"], index)

    def perturbation(self, *, fused: bool = False) -> Perturbation:
        return ellipsoid_perturbation(
            self.param_groups,
            "rho",
            lambda ws, gs, group, out: adaptive_precondition(ws, gs, float(group["eta"]), out),
            workspace=self._workspace,
            fused=fused,
        )
