"""The shared machinery of every SAM-family optimizer: perturb, re-evaluate, restore, descend.

A two-pass step is ``w <- base_step(w, grad L(w + e))`` where ``e`` is computed at ``w`` from the
gradient of the first pass. :class:`TwoPassOptimizer` owns everything that does not depend on how
``e`` is chosen: saving and restoring the weights, driving the base optimizer, sharing its
``param_groups`` (so an LR scheduler attached to either object drives both) and checkpointing.

All four perturbations in this package (SAM, ASAM, Fisher SAM, TRAM) are one formula with a
different diagonal metric: ``e = r * P g / sqrt(g^T P g)`` where ``P`` is the *inverse* metric
(identity for SAM, ``T^2`` for ASAM, ``f^-1`` for Fisher SAM) and ``r`` the radius: the
maximiser of ``g^T e`` over the ellipsoid ``e^T P^-1 e <= r^2``. The norm in the denominator is
global: one scalar over all parameter groups. :func:`ellipsoid_perturbation` computes it once for
all of them; each optimizer only supplies ``P g``.
"""

from __future__ import annotations

import inspect
import math
from abc import abstractmethod
from typing import Any, Callable, Iterable

import torch
from torch import Tensor

# Added to every norm that divides: an all-zero gradient then gives e = 0 instead of 0/0.
NORM_EPS = 1e-12
# Parameter dtypes the fused update applies to: torch.add rounds its alpha to the tensor's dtype, which
# in half precision would scale all of e by a rounded factor (errors of ~0.1-0.4%).
FUSED_DTYPES = (torch.float32, torch.float64)

# (ws, gs, group, out) -> P g of one param group's parameters: either ``out`` (buffers in the
# compute dtype) filled with it, or tensors the caller only reads (SAM returns ``gs`` itself, which
# saves a copy); the caller writes e = scale * P g into ``out``. Lists, so that one multi-tensor
# (foreach) kernel covers a whole group.
Preconditioner = Callable[[list[Tensor], list[Tensor], dict[str, Any], list[Tensor]], list[Tensor]]


class Perturbation(dict):
    """``e`` for every parameter that had a gradient (a ``dict[Parameter, Tensor]``), plus ``norm``:
    the global norm ``sqrt(g^T P g)`` that scaled it (before the epsilon was added).

    ``scales`` is empty except in a perturbation built for the fused update
    (``perturbation(fused=True)``, see :class:`TwoPassOptimizer`): there it maps the parameters
    whose entry is not ``e`` but a direction ``v`` with ``e = scales[p] * v``, left unformed so that
    the update forms ``w + scales[p] * v`` in one kernel; see :meth:`put`."""

    def __init__(self, entries: Iterable[tuple[Tensor, Tensor]] = (), *, norm: float = 0.0) -> None:
        super().__init__(entries)
        self.norm = norm
        self.scales: dict[Tensor, float] = {}

    def put(self, p: Tensor, direction: Tensor, scale: float, buffer: Tensor, *, fused: bool) -> None:
        """``e = scale * direction`` for ``p``: formed in ``buffer`` (``direction``'s shape and dtype,
        may be ``direction`` itself) and cast to ``p``'s dtype, or, when ``fused`` and ``direction``
        and ``p`` are both float32 or both float64, left as ``direction`` with ``scales[p] = scale``
        (a half-precision add would round ``scale`` itself to half precision). ``direction`` must
        stay unchanged until the weights are perturbed."""
        if fused and direction.dtype == p.dtype and p.dtype in FUSED_DTYPES:
            self[p] = direction
            self.scales[p] = scale
        else:
            self[p] = torch.mul(direction, scale, out=buffer).to(p.dtype)


def compute_dtype(tensors: list[Tensor]) -> torch.dtype:
    """float64 if any of ``tensors`` is float64, else float32: the dtype norms and scales are taken in."""
    # Norms of half-precision gradients overflow/underflow easily; float32 is the floor, and a
    # float64 model keeps float64 so that exact tests stay exact.
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def reusable_buffer(cache: dict[Tensor, Tensor] | None, p: Tensor, dtype: torch.dtype) -> Tensor:
    """A tensor shaped like ``p`` in ``dtype``, from ``cache`` (allocated there on first use and
    replaced when ``p`` changed shape, dtype or device) or fresh when ``cache`` is None."""
    buf = None if cache is None else cache.get(p)
    if buf is None or buf.shape != p.shape or buf.dtype != dtype or buf.device != p.device:
        # Allocated once and reused: a fresh CPU allocation of a large tensor faults its pages in
        # on every step, which cost more than the arithmetic on a small model.
        buf = torch.empty_like(p, dtype=dtype, memory_format=torch.preserve_format)
        if cache is not None:
            cache[p] = buf
    return buf


def ellipsoid_perturbation(
    param_groups: list[dict[str, Any]],
    radius_key: str,
    precondition: Preconditioner,
    radius: float | None = None,
    workspace: dict[Tensor, Tensor] | None = None,
    fused: bool = False,
) -> Perturbation:
    """``e = r_group * P g / (sqrt(sum over all params of g P g) + NORM_EPS)``.

    ``precondition(ws, gs, group, out)`` returns ``P g`` of one group's parameters: ``out`` filled
    with it, or tensors that are only read (``ws`` and ``gs`` are that group's weights and gradients
    in the compute dtype and must not be modified; ``out`` are buffers of their shapes). ``r_group = max(radius, 0)`` for every group when ``radius`` is given, else
    ``max(group[radius_key], 0)``.
    Parameters whose ``.grad`` is None are skipped; a sparse gradient is a TypeError. The squared
    norm is accumulated in float32 (or float64 if any gradient is float64) on the device of the
    first parameter with a gradient; each ``e`` is returned in its parameter's dtype and device.
    ``workspace`` (param -> buffer) holds the ``P g`` buffers between calls: with it, every ``e``
    whose parameter is in the compute dtype *is* that buffer, overwritten by the next call; without
    it, the buffers are fresh. ``fused``: leave ``e = scale * P g`` unformed where ``P g`` and its
    parameter are both float32 or both float64 (:meth:`Perturbation.put`), for the fused update.
    """
    groups: list[tuple[dict[str, Any], list[Tensor]]] = []
    for group in param_groups:
        with_grad = [p for p in group["params"] if p.grad is not None]
        for p in with_grad:
            if p.grad.is_sparse:
                raise TypeError(
                    f"sparse gradients are not supported by SAM-family perturbations "
                    f"(parameter of shape {tuple(p.shape)})"
                )
        if with_grad:
            groups.append((group, with_grad))
    if not groups:
        return Perturbation(norm=0.0)

    dtype = compute_dtype([p.grad for _, params in groups for p in params])
    device = groups[0][1][0].device
    directions: list[tuple[list[Tensor], list[Tensor]]] = []  # (P g, buffers for e) per group
    squares: list[Tensor] = []
    for group, params in groups:
        gs = [p.grad.detach().to(dtype) for p in params]
        out = [reusable_buffer(workspace, p, dtype) for p in params]
        pgs = precondition([p.detach().to(dtype) for p in params], gs, group, out)
        directions.append((pgs, out))
        # One dot per tensor (not a foreach norm of a product): the same reduction as always, so
        # results stay bit-identical to the per-parameter code they replaced.
        squares.extend(torch.dot(g.reshape(-1), pg.reshape(-1)).to(device) for g, pg in zip(gs, pgs))
    norm = torch.sqrt(torch.stack(squares).sum())

    result = Perturbation(norm=float(norm))
    denominator = norm + NORM_EPS
    for (group, params), (pgs, out) in zip(groups, directions):
        r = max(float(group[radius_key] if radius is None else radius), 0.0)
        # r / denominator is rounded in the compute dtype; as a Python float it is that value
        # exactly, and multiplying by it equals multiplying by the 0-dim tensor, on any device.
        scale = float(r / denominator)
        if fused:
            for p, pg, buf in zip(params, pgs, out):
                result.put(p, pg, scale, buf, fused=True)
            continue
        if all(pg is buf for pg, buf in zip(pgs, out)):
            torch._foreach_mul_(out, scale)
        else:  # read-only P g: scale it into the buffers in one pass instead of copy + scale
            for pg, buf in zip(pgs, out):
                torch.mul(pg, scale, out=buf)
        result.update((p, pg.to(p.dtype)) for p, pg in zip(params, out))
    return result


def check_nonnegative(owner: str, name: str, value: Any, group_index: int | None = None) -> float:
    """``value`` as a float, or ValueError naming the option, its value and the param group."""
    where = "" if group_index is None else f" (param group {group_index})"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} must be a number >= 0, got {value!r}{where}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{owner}: {name} must be a finite number >= 0, got {value!r}{where}")
    return number


class TwoPassOptimizer(torch.optim.Optimizer):
    """Base of SAM, ASAM, FisherSAM and TRAM.

    Usage without a closure (what the methods layer does, so that it controls BN, RNG and AMP)::

        loss_fn(model, batch).backward()        # pass 1: gradient at w
        opt.first_step(zero_grad=True)          # w <- w + e  (a copy of w is kept)
        loss_fn(model, batch).backward()        # pass 2: gradient at w + e
        opt.second_step(zero_grad=True)         # w <- saved copy, then base step with that gradient

    ``restore()`` alone puts the saved weights back without stepping (e.g. to skip a step whose
    gradient overflowed). Weights are restored exactly, never by subtracting ``e`` (``w + e - e`` is
    not ``w`` in floating point): between ``first_step`` and ``restore`` each perturbed parameter's
    ``.data`` is a separate buffer holding ``w + e`` while ``w``'s own storage is kept aside
    unwritten, and ``restore`` hands that storage back. Code that holds a parameter's storage by
    address across the two (a flat-parameter wrapper, a captured CUDA graph) would see ``w``, not
    ``w + e``; modules reach parameters through the ``Parameter`` objects, which stay the same.

    The base optimizer is built on this object's ``param_groups`` and the two objects then share
    the same list of group dicts, so an LR scheduler may be attached to either one; ``state`` is the
    base optimizer's state. ``state_dict()`` is the base optimizer's (the transient copies of the
    weights never enter it); group options such as ``rho`` travel in its ``param_groups``.

    The ascent direction uses ``.grad`` only: weight decay given to the base optimizer acts on the
    descent alone, while an L2 term added to the loss would also enter ``e``. Non-finite gradients
    give non-finite ``e``; skipping such a step (GradScaler overflow) is the caller's job, via
    ``restore()`` without a base step.

    Memory: the buffer for ``w + e`` and the ``P g`` buffers of ``e`` (one copy each of every
    parameter that has had a gradient, the latter in the compute dtype) are allocated on the first
    ``first_step`` and reused by every later one, so they stay allocated between steps; norms and
    scales run as multi-tensor (foreach) kernels. Saving and restoring ``w`` copies nothing (see
    above). The arithmetic is the same, operation for operation, as cloning fresh copies parameter
    by parameter and adding ``e`` in place.

    ``fused_perturbation`` (keyword of every subclass; default False, the exact reference): where
    ``e`` is a scaled direction ``s * v`` (SAM, ASAM, FisherSAM, TRAM: ``v = P g``; MomentumSAM: the
    momentum), form ``w + s * v`` in one kernel per tensor (``torch.add`` with ``alpha``) instead of
    writing ``e`` and then adding it: a full write and read of the weights' size fewer per step,
    the kind of saving ``torch.optim``'s ``fused`` flags make. It is not bit-identical to the
    default: that kernel may round ``w + s * v`` once (a fused multiply-add) where the default rounds
    ``e`` and then ``w + e``, so a small share of the perturbed weights differ, each by at most
    ``e``'s own rounding (half a unit in its last place) plus one unit in the last place of the sum,
    and the trajectory differs from there on; both are the same equation (the float64 hand-step
    tests pass either way). It applies to float32 and float64 parameters only (:data:`FUSED_DTYPES`):
    for bfloat16 and float16 ones ``torch.add`` would round ``s`` itself to half precision, so
    there the default arithmetic runs and the option changes nothing. The option is a construction
    choice, like TRAM's ``fisher``: it is pickled with the optimizer but not part of
    ``state_dict()``. A subclass must accept ``perturbation(fused=...)`` to take it (checked when
    the optimizer is built). tram-bench's own results and golden files use the default.
    """

    #: See the class docstring; a class attribute so that objects pickled before it existed load.
    fused_perturbation = False

    def __init__(
        self,
        params: Any,
        base_optimizer: type[torch.optim.Optimizer],
        defaults: dict[str, Any],
        *,
        fused_perturbation: bool = False,
        **base_kwargs: Any,
    ) -> None:
        if not isinstance(fused_perturbation, bool):
            raise ValueError(
                f"{type(self).__name__}: fused_perturbation must be True or False, got {fused_perturbation!r}"
            )
        self.fused_perturbation = fused_perturbation
        if isinstance(base_optimizer, torch.optim.Optimizer):
            raise TypeError(
                "base_optimizer must be an optimizer class such as torch.optim.SGD, not an instance "
                f"({type(base_optimizer).__name__} object); pass its keyword arguments to "
                f"{type(self).__name__} instead"
            )
        if not (isinstance(base_optimizer, type) and issubclass(base_optimizer, torch.optim.Optimizer)):
            raise TypeError(
                "base_optimizer must be an optimizer class such as torch.optim.SGD, "
                f"got {base_optimizer!r}"
            )
        self._reset_buffers()
        super().__init__(params, dict(defaults))
        self.base_optimizer = base_optimizer(self.param_groups, **base_kwargs)
        clash = sorted(set(defaults) & set(self.base_optimizer.defaults))
        if clash:
            # The shared group dicts would hold one value for two meanings (e.g. Adadelta's rho).
            raise ValueError(
                f"{type(self).__name__} cannot wrap {base_optimizer.__name__}: both use the "
                f"param-group option(s) {clash}"
            )
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state
        # Lets add_param_group on this object fill in the base optimizer's options as well.
        self.defaults.update(self.base_optimizer.defaults)
        if fused_perturbation and "fused" not in inspect.signature(self.perturbation).parameters:
            raise ValueError(
                f"{type(self).__name__}: fused_perturbation=True needs perturbation() to accept "
                "fused=...; this class's perturbation() does not (see TwoPassOptimizer.perturbation)"
            )

    # --- what subclasses define ------------------------------------------------------------------
    @abstractmethod
    def perturbation(self, *, fused: bool = False) -> Perturbation:
        """``e`` for every parameter with a gradient, computed from the current weights and grads.

        The tensors may be the optimizer's reusable buffers, valid until the next ``perturbation``,
        ``first_step`` or ``applied_perturbation_norm`` call: clone them to keep them.
        ``fused=True`` (what ``first_step`` asks for when ``fused_perturbation`` is set): entries may
        instead be unscaled directions with their factors in ``Perturbation.scales``, left unformed
        for the one-kernel update (such an entry may be the gradient tensor itself: read it only). A
        subclass that cannot return that form leaves the keyword out of its signature; it then
        cannot be built with ``fused_perturbation=True``."""

    def check_group(self, group: dict[str, Any], index: int) -> None:
        """Validate one param group's options (ValueError naming the option, value and group). The one
        check of a standalone optimizer's options: the constructor's keywords are the groups'
        defaults, so each group is checked as it is added (and again when a checkpoint is loaded)."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        if not self._options_prechecked:
            self.check_group(self.param_groups[-1], len(self.param_groups) - 1)

    # Set only while :meth:`prechecked` builds an optimizer.
    _options_prechecked = False

    @classmethod
    def prechecked(cls, params: Any, base_optimizer: type[torch.optim.Optimizer], **options: Any) -> "TwoPassOptimizer":
        """``cls(params, base_optimizer, **options)`` for a caller that has validated the options
        itself: a method's ``Hparams`` check ``rho``, ``eta``, ... against their limits when a suite
        is resolved (``tram_bench.methods.hparams.check_fields``), so the methods build their
        optimizers here and every value is checked once on that path. Groups added later and loaded
        checkpoints are checked as usual."""
        self = cls.__new__(cls)
        self._options_prechecked = True
        try:
            self.__init__(params, base_optimizer, **options)  # type: ignore[misc]
        finally:
            del self._options_prechecked
        return self

    def _reset_buffers(self) -> None:
        # The parameters now at w + e (empty when not perturbed) and, per parameter, the reusable
        # buffers: saved weights and the workspace that ellipsoid_perturbation fills with e.
        self._perturbed: list[Tensor] = []
        self._saved: dict[Tensor, Tensor] = {}
        self._spare: dict[Tensor, Tensor] = {}
        self._workspace: dict[Tensor, Tensor] = {}

    # --- the two passes ----------------------------------------------------------------------------
    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> float:
        """Move every parameter with a gradient to ``w + e``; return the global norm used."""
        return self._apply(self._perturbation_for_update(), zero_grad)

    def _perturbation_for_update(self, *args: Any) -> Perturbation:
        # The fused form only when asked for, so that a subclass written without it keeps working.
        return self.perturbation(*args, fused=True) if self.fused_perturbation else self.perturbation(*args)

    def _apply(self, e: Perturbation, zero_grad: bool) -> float:
        if self._perturbed:
            raise RuntimeError(
                f"{type(self).__name__}.first_step called twice without restore(): the weights "
                "are already perturbed"
            )
        if e:
            # w + e is written into a spare buffer that the parameter then holds, and w itself is
            # kept aside untouched: no copy to save w and none to restore it (each a full read and
            # write of the weights). Buffers are keyed by the parameter objects (tensors hash by
            # identity, so never by a detached alias).
            for p, step in e.items():
                spare = reusable_buffer(self._spare, p, p.dtype)
                scale = e.scales.get(p)
                if scale is None:
                    torch.add(p.detach(), step, out=spare)
                else:  # fused_perturbation: e is formed inside this one kernel (see the class docstring)
                    torch.add(p.detach(), step, alpha=scale, out=spare)
                self._saved[p] = p.data
                p.data = spare
            self._perturbed = list(e)
        if zero_grad:
            self.zero_grad()
        return e.norm

    @torch.no_grad()
    def applied_perturbation_norm(self) -> float:
        """``||(w + e) - w||_2`` over the perturbed parameters, as the weights now hold them (0.0 when
        not perturbed). ``first_step`` returns ``sqrt(g^T P g)`` instead, which is not ``||e||``."""
        if not self._perturbed:
            return 0.0
        # (w + e) - w into the e buffers (free once e was added; same dtype only, else fresh), so
        # no large tensor is allocated per step; the norms are one foreach kernel.
        differences = []
        for p in self._perturbed:
            scratch = self._workspace.get(p)
            if scratch is not None and scratch.dtype == p.dtype:
                differences.append(torch.sub(p.detach(), self._saved[p], out=scratch))
            else:
                differences.append(p.detach() - self._saved[p])
        norms = torch._foreach_norm(differences)
        device = differences[0].device
        return float(torch.linalg.vector_norm(torch.stack([n.to(device, torch.float64) for n in norms])))

    @torch.no_grad()
    def restore(self) -> None:
        """Copy the weights saved by ``first_step`` back (the buffers stay for the next step)."""
        for p in self._perturbed:
            # The weights w, never written since first_step: the parameter takes them back, and
            # the buffer that held w + e is the spare of the next step.
            self._spare[p] = p.data
            p.data = self._saved.pop(p)
        self._perturbed = []

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """``restore()``, then one base-optimizer step with the gradients now in ``.grad``."""
        self.restore()
        self.base_optimizer.step()
        # An LR scheduler attached to this wrapper watches for a call of *our* step(); a caller
        # using first_step/second_step never makes one, so record the descent step the way the
        # scheduler does, or it warns about "lr_scheduler.step() before optimizer.step()".
        self._opt_called = True
        if zero_grad:
            self.zero_grad()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One full step with ``closure`` (which must zero the grads, run forward and backward and
        return the loss). Returns the first loss, i.e. the loss at ``w``."""
        if closure is None:
            raise RuntimeError(
                f"{type(self).__name__}.step() needs a closure that zeroes the grads, runs the forward "
                "and backward pass and returns the loss; without one, call first_step() after the "
                "first backward and second_step() after the second"
            )
        closure = torch.enable_grad()(closure)
        loss = closure()
        self.first_step(zero_grad=True)
        closure()
        self.second_step()
        return loss

    # --- checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        if self._perturbed:
            raise RuntimeError(
                f"{type(self).__name__}.state_dict() called between first_step and second_step: the "
                "model holds perturbed weights w + e; call second_step() or restore() first"
            )
        return self.base_optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.base_optimizer.load_state_dict(state_dict)
        # load_state_dict replaces the base's group dicts and state: share the new ones again.
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state
        for index, group in enumerate(self.param_groups):
            self.check_group(group, index)

    def __getstate__(self) -> dict[str, Any]:
        if self._perturbed:
            # The copy would hold w + e with no saved w to go back to.
            raise RuntimeError(
                f"{type(self).__name__} cannot be pickled or copied between first_step and second_step: "
                "the model holds perturbed weights w + e; call second_step() or restore() first"
            )
        state = super().__getstate__()
        # torch keeps only defaults, state and param_groups; add every other public attribute (the
        # base optimizer, TRAM's ``fisher``, ``fused_perturbation``, a subclass's own), except those
        # that shadow a method: an LR scheduler sets ``step`` on the instance, a wrapper bound to this
        # very object, which must not travel. The underscored ones (torch's hooks, our buffers) are
        # rebuilt.
        state.update({
            name: value for name, value in self.__dict__.items()
            if not name.startswith("_") and not callable(getattr(type(self), name, None))
        })
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state
        self._reset_buffers()
