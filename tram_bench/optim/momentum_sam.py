"""Momentum-SAM (Becker, Altrock, Risse 2024, arXiv 2401.12033): perturb against the momentum.

MSAM (the paper's Algorithm 1, "SGD with Momentum-SAM") takes the one gradient of a step at
``w~ = w - rho v / ||v||``, where ``v`` is the base optimizer's accumulated momentum, and descends
from ``w`` with it: one forward and one backward per step, like the base optimizer, because the
direction needs no extra gradient.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from tram_bench.optim.two_pass import Perturbation, TwoPassOptimizer, check_nonnegative, compute_dtype, reusable_buffer

# Which entry of the base optimizer's per-parameter state is "the momentum" (see MomentumSAM).
MOMENTUM_STATE_KEYS = ("momentum_buffer", "exp_avg")


def momentum_of(state: dict[str, Any]) -> Tensor | None:
    """The momentum tensor in one parameter's base-optimizer state: SGD's ``momentum_buffer`` or
    Adam's/AdamW's first moment ``exp_avg``; None before the first base step (or without one)."""
    for key in MOMENTUM_STATE_KEYS:
        value = state.get(key)
        if isinstance(value, Tensor):
            return value
    return None


class MomentumSAM(TwoPassOptimizer):
    """``e = -rho * v / ||v||`` with ``v`` the base optimizer's momentum (paper Alg. 1).

    What "momentum" is, per base optimizer:

    * SGD with momentum ``mu`` (and no dampening): ``momentum_buffer``, ``v <- mu v + g`` (Alg. 1's
      ``v``); SGD without momentum keeps no buffer and is refused (nothing to perturb along).
    * Adam / AdamW: the first moment ``exp_avg``, ``m <- beta1 m + (1 - beta1) g``: the running mean
      of the gradients, the one quantity of Adam that accumulates gradient directions like ``v``.
      Its bias correction is a positive scalar and cancels in ``m / ||m||``. It is not Adam's update
      direction ``m^ / (sqrt(v^) + eps)``: the paper perturbs along accumulated gradients.

    Before the first base step there is no momentum and ``e = 0`` (the paper's ``v_0 = 0``).
    ``rho`` is a param-group option; the norm is one scalar over every parameter with momentum.
    Usage per step: ``first_step()`` (moves to ``w + e``; no gradient is needed), one forward and
    backward there, ``second_step()`` (restores ``w``, base step with that gradient).
    """

    #: Our default radius (the paper tunes it per model; see ``tram_bench.methods.efficient``).
    RHO = 0.3

    def __init__(
        self,
        params: Any,
        base_optimizer: type[torch.optim.Optimizer],
        rho: float = RHO,
        **base_kwargs: Any,
    ) -> None:
        if issubclass(base_optimizer, torch.optim.SGD) and not base_kwargs.get("momentum"):
            raise ValueError(
                "MomentumSAM: an SGD base needs momentum > 0 (the perturbation follows its momentum "
                f"buffer), got momentum={base_kwargs.get('momentum', 0)!r}"
            )
        super().__init__(params, base_optimizer, {"rho": rho}, **base_kwargs)

    def check_group(self, group: dict[str, Any], index: int) -> None:
        check_nonnegative("MomentumSAM", "rho", group["rho"], index)

    def perturbation(self, *, fused: bool = False) -> Perturbation:
        groups = []
        for group in self.param_groups:
            pairs = [(p, v) for p in group["params"] if (v := momentum_of(self.state.get(p, {}))) is not None]
            if pairs:
                groups.append((group, pairs))
        if not groups:
            return Perturbation(norm=0.0)
        vs = [v for _, pairs in groups for _, v in pairs]
        dtype = compute_dtype(vs)
        device = vs[0].device
        # In the compute dtype, as ellipsoid_perturbation takes gradients: a half-precision dot
        # product under- or overflows.
        wide = [v if v.dtype == dtype else v.to(dtype) for v in vs]
        norm = torch.sqrt(torch.stack([torch.dot(v.reshape(-1), v.reshape(-1)).to(device) for v in wide]).sum())
        result = Perturbation(norm=float(norm))
        if result.norm == 0:  # momentum all zero: no direction, no perturbation (the paper's v_0 = 0)
            return Perturbation(norm=0.0)
        for group, pairs in groups:
            scale = -float(group["rho"]) / result.norm
            for p, v in pairs:
                result.put(p, v, scale, reusable_buffer(self._workspace, p, v.dtype), fused=fused)
        return result
