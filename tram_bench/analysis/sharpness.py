"""Epsilon-sharpness (Keskar et al. 2017, Eqs. 10-11 with A = I), as in the paper's Table 6a."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch
from torch import Tensor, nn

LossFn = Callable[[nn.Module, Any], Tensor]


@dataclass(frozen=True)
class SharpnessResult:
    """value: ``100 * (max_loss - loss) / (1 + loss)``; loss: mean loss at ``w``; max_loss: the
    largest mean loss found in the box; box_ratio: ``max_i |z_i| / (epsilon (|w_i| + 1))`` of the
    final perturbation (<= 1; 0 when epsilon is 0); steps: ascent steps taken."""

    value: float
    loss: float
    max_loss: float
    box_ratio: float
    steps: int


def _check(name: str, value: Any, *, integer: bool = False, minimum: float = 0) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) if integer else isinstance(value, (int, float))
    if not ok or not math.isfinite(value) or value < minimum:
        kind = "an integer" if integer else "a finite number"
        raise ValueError(f"epsilon_sharpness: {name} must be {kind} >= {minimum}, got {value!r}")


def _scalar(value: Any) -> Tensor:
    if not isinstance(value, Tensor) or value.numel() != 1:
        shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise ValueError(f"epsilon_sharpness: loss_fn must return a scalar tensor, got {shape}")
    return value.reshape(())


@torch.no_grad()
def _mean_loss(model: nn.Module, loss_fn: LossFn, batches: list[Any]) -> float:
    return sum(float(_scalar(loss_fn(model, b))) for b in batches) / len(batches)


def epsilon_sharpness(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Any],
    epsilon: float = 1e-5,
    lr: float = 8e-5,
    steps: int = 10,
    accumulation: int = 4,
) -> SharpnessResult:
    """Maximise the loss over the box ``|z_i| <= epsilon (|w_i| + 1)`` around the weights ``w``.

    Ascent (Juneja et al. 2023, as the paper's Appendix B.7 describes): start at ``z = 0``; each
    step averages the gradient of ``loss_fn`` at ``w + z`` over ``accumulation`` mini-batches (taken
    in order from ``batches``, cycling), sets ``z <- z + lr * grad`` and clamps ``z`` into the box.
    The paper does not state the number of ascent steps; ``steps`` (default 10) sets it and is
    recorded in the result.

    ``loss(w)`` and ``loss(w + z)`` are the mean of ``loss_fn`` over all ``batches`` (each batch
    weighted equally). ``max_loss = max(loss(w), loss(w + z_final))``: ``z = 0`` lies in the box,
    so the maximum over the box is never below ``loss(w)``, and a noisy ascent that lowered the loss
    must not report negative sharpness. Every parameter of the model is perturbed (A = I), the
    model runs in eval mode (dropout off, BatchNorm uses its running statistics), gradients come
    from ``torch.autograd.grad`` (no ``.grad`` is touched), and afterwards the weights are copied
    back bit for bit and the training mode and ``requires_grad`` flags are restored.
    """
    batches = list(batches)
    if not batches:
        raise ValueError("epsilon_sharpness: batches is empty")
    _check("epsilon", epsilon)
    _check("lr", lr)
    _check("steps", steps, integer=True)
    _check("accumulation", accumulation, integer=True, minimum=1)
    params = [p for p in model.parameters() if p.is_floating_point()]
    if not params:
        raise ValueError("epsilon_sharpness: the model has no floating-point parameters")
    for p in params:
        if epsilon > 0 and torch.finfo(p.dtype).eps > epsilon:
            # A relative perturbation of 1e-5 rounds away entirely in bfloat16/float16 weights.
            raise ValueError(
                f"epsilon_sharpness: epsilon={epsilon!r} is below the resolution of {p.dtype} parameters "
                f"(eps {torch.finfo(p.dtype).eps:.3g}); evaluate a float32 copy of the model"
            )

    was_training = model.training
    flags = [p.requires_grad for p in params]
    originals = [p.detach().clone() for p in params]
    try:
        model.eval()
        for p in params:
            p.requires_grad_(True)
        loss_w = _mean_loss(model, loss_fn, batches)
        bounds = [epsilon * (w.abs() + 1.0) for w in originals]
        z = [torch.zeros_like(w) for w in originals]
        cursor = 0
        for _ in range(steps):
            grads = [torch.zeros_like(w) for w in originals]
            for _ in range(accumulation):
                loss = _scalar(loss_fn(model, batches[cursor % len(batches)]))
                cursor += 1
                if not loss.requires_grad:  # the loss does not depend on the weights: zero gradient
                    continue
                for acc, g in zip(grads, torch.autograd.grad(loss, params, allow_unused=True)):
                    if g is not None:
                        acc.add_(g, alpha=1.0 / accumulation)
            with torch.no_grad():
                for p, w, zi, gi, bound in zip(params, originals, z, grads, bounds):
                    zi.add_(gi, alpha=lr)
                    torch.clamp(zi, min=-bound, max=bound, out=zi)
                    p.copy_(w + zi)
        max_loss = max(loss_w, _mean_loss(model, loss_fn, batches)) if steps else loss_w
        if epsilon > 0:
            ratios = (float((zi.abs() / bound).max()) for zi, bound in zip(z, bounds) if zi.numel())
            box_ratio = max(ratios, default=0.0)
        else:
            box_ratio = 0.0
    finally:
        with torch.no_grad():
            for p, w in zip(params, originals):
                p.copy_(w)
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
        model.train(was_training)
    value = 100.0 * (max_loss - loss_w) / (1.0 + loss_w)
    return SharpnessResult(value=value, loss=loss_w, max_loss=max_loss, box_ratio=box_ratio, steps=steps)
