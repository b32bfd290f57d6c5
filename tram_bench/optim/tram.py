"""TRAM (Sherborne et al., ICLR 2024): an ASAM step whose radius is a trust-region divergence."""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from tram_bench.optim.asam import ASAM, adaptive_precondition
from tram_bench.optim.fisher_sam import FisherSAM, fisher_precondition
from tram_bench.optim.two_pass import Perturbation, TwoPassOptimizer, check_nonnegative, ellipsoid_perturbation

Radius = float | torch.Tensor


def _radius_value(radius: Radius) -> float:
    """``radius`` as a float; NaN or infinite is a ValueError (a broken divergence, not a radius)."""
    if isinstance(radius, torch.Tensor):
        radius = radius.detach()  # d is a constant radius, never differentiated
    try:
        value = float(radius)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"TRAM: radius must be a real number (the divergence d), got {radius!r}") from None
    if not math.isfinite(value):
        raise ValueError(
            f"TRAM: radius must be finite, got {value!r}; a non-finite divergence d means the "
            "logits overflowed or hold NaN (skip the step instead of perturbing)"
        )
    return value


class TRAM(TwoPassOptimizer):
    """Trust Region Aware Minimization.

    ``first_step(radius)`` perturbs by ``e = d * T^2 g / ||T g||`` with ``T = |w| + eta``: the paper's
    Eq. 7, i.e. ASAM (Eq. 2) with ``rho := d``, where ``d`` is the trust-region divergence the
    caller measured on this batch (KL between target and current predictive distributions,
    computed without gradient). ``d`` only sets the size of the neighbourhood: it is not a loss
    term. The direction always contains the gradient ``g`` (the released reference code drops ``g``
    from ``e``; the paper's Algorithm 1 does not, and neither do we). With ``divergence.kl``, ``d``
    is the mean per-example (per-token) KL in nats, the paper's E_x[KL]; the released code's ``d``
    is that divided by the number of classes times the batch size, so radii are not comparable.

    ``fisher=True`` is TRAM-Fisher: ``e = d * f^-1 g / sqrt(g^T f^-1 g)`` with
    ``f = 1 + fisher_eta * g^2``, where ``g`` is whatever gradient the caller produced in pass 1
    (the methods layer runs pass 1 on noised inputs, so ``f`` is the Fisher at ``x + z``, Eq. 9).
    Reading of Eq. 8: the rendered equation shows no radius, and Fisher SAM's is a fixed gamma.
    This optimizer takes the radius from the caller, so both readings are available: pass the
    divergence ``d`` (the ``rho := d`` substitution of Eq. 7) or a fixed gamma. The ``tram-fisher``
    method of :mod:`tram_bench.methods.tram` passes a fixed gamma, because measuring ``d`` needs a
    third (clean) forward pass, contradicting the paper's stated cost of 2 forward / 2 backward
    passes ("matches FSAM in runtime efficiency"); there the trust region is the Fisher ellipse
    itself (the diagonal Fisher at ``x + z`` is the local metric of the KL).
    ``eta`` (the ASAM offset) must stay 0 with ``fisher=True``, where the metric is ``f``, not ``T``;
    ``fisher_eta`` is unused without it.

    Radius rules: ``d <= 0`` gives ``e = 0`` (a divergence is >= 0; a tiny negative value is
    rounding of a KL between nearly equal distributions, and ``d = 0`` means the target equals the
    current model, so there is no neighbourhood). A NaN or infinite ``d`` raises ValueError: it is
    the caller's bug (overflowed logits), and perturbing by it would silently destroy the weights.
    No upper clipping of ``d`` is applied, as in the paper.

    ``first_step(d)`` computes ``e`` from its argument, one scalar per batch for every group (the
    groups' stored options are not touched); ``first_step(None)`` uses each group's param-group
    option ``radius`` (default 0), so standalone users may give groups different radii by hand.
    ``eta`` and ``fisher_eta`` are group options; the norm is one scalar over all groups.
    """

    def __init__(
        self,
        params: Any,
        base_optimizer: type[torch.optim.Optimizer],
        eta: float = ASAM.ETA,
        fisher: bool = False,
        fisher_eta: float = FisherSAM.ETA,
        **base_kwargs: Any,
    ) -> None:
        if not isinstance(fisher, bool):
            raise ValueError(f"TRAM: fisher must be True or False, got {fisher!r}")
        if fisher and eta != 0:
            raise ValueError(
                f"TRAM: eta={eta!r} is the ASAM offset and has no effect with fisher=True "
                "(TRAM-Fisher's metric is f = 1 + fisher_eta * g^2); leave eta at 0"
            )
        self.fisher = fisher
        defaults = {"radius": 0.0, "eta": eta, "fisher_eta": fisher_eta}
        super().__init__(params, base_optimizer, defaults, **base_kwargs)

    def check_group(self, group: dict[str, Any], index: int) -> None:
        _radius_value(group["radius"])
        check_nonnegative("TRAM", "eta", group["eta"], index)
        check_nonnegative("TRAM", "fisher_eta", group["fisher_eta"], index)
        if self.fisher and float(group["eta"]) != 0:
            raise ValueError(f"TRAM: eta must be 0 with fisher=True, got {group['eta']!r} (param group {index})")

    def perturbation(self, radius: float | None = None, *, fused: bool = False) -> Perturbation:
        """``e`` for ``radius`` on every group, or (None) for the radii stored in the param groups
        (``fused``: see :meth:`TwoPassOptimizer.perturbation`)."""
        if self.fisher:
            precondition = lambda ws, gs, group, out: fisher_precondition(gs, float(group["fisher_eta"]), out)  # noqa: E731
        else:
            precondition = lambda ws, gs, group, out: adaptive_precondition(ws, gs, float(group["eta"]), out)  # noqa: E731
        return ellipsoid_perturbation(
            self.param_groups, "radius", precondition, radius=radius, workspace=self._workspace,
            fused=fused,
        )

    @torch.no_grad()
    def first_step(self, radius: Radius | None, zero_grad: bool = False) -> float:  # type: ignore[override]
        """Perturb with radius ``d`` (None: the groups' stored radii; see the class docstring); return
        the global norm used. Raises ValueError for a non-finite radius, before any weight moves."""
        value = None if radius is None else _radius_value(radius)
        if value is None:
            for index, group in enumerate(self.param_groups):
                self.check_group(group, index)
        return self._apply(self._perturbation_for_update(value), zero_grad)

    def step(  # type: ignore[override]
        self,
        closure: Callable[[], Any] | None = None,
        radius: Radius | Callable[[], Radius] | None = None,
    ) -> Any:
        """Closure step: closure, ``first_step(radius)``, closure, ``second_step``; returns the first loss.

        ``radius`` may be a number, None (the groups' stored radii) or a zero-argument callable
        evaluated after the first closure, so it can compute ``d`` from the logits that pass made.
        """
        if closure is None:
            raise RuntimeError(
                "TRAM.step() needs a closure that zeroes the grads, runs the forward and backward pass "
                "and returns the loss; without one, call first_step(d) after the first backward and "
                "second_step() after the second"
            )
        closure = torch.enable_grad()(closure)
        loss = closure()
        d = radius() if callable(radius) else radius
        self.first_step(d, zero_grad=True)
        closure()
        self.second_step()
        return loss
