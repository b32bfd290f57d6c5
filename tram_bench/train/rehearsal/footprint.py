"""Memory of a training step by its parts, and what each method adds, measured on a small model.

A step's memory at batch size ``b`` (:func:`project_memory`), all in bytes:

* weights: every parameter of the model in float32 (autocast keeps float32 master weights);
* gradients: one float32 tensor per trainable parameter;
* optimizer: the base optimizer's state (SGD with momentum 1, Adam 2 tensors per trainable parameter);
* saved weights: a two-pass (SAM-family or TRAM) step keeps a copy of ``w`` while it is at ``w + e``;
* targets: frozen copies of the whole model (TRAM-prev, TRAM-init, TRPO, MESA: one each);
* activations: ``b`` x the saved-for-backward bytes per example that a rehearsal measured
  (:mod:`.activations`; they include the divergence's own intermediates);
* target logits: ``b`` x the logits of one example, for methods whose target's no-grad logits live through
  the step (float32, or the autocast dtype);
* transients: the base optimizer's step allocates per-parameter temporaries (Adam's ``foreach`` update builds
  its denominator ``sqrt(v) + eps``: one float32 copy of the trainable weights), and a two-pass step's ascent
  holds two more (the perturbation ``e`` for every parameter, and the difference ``(w + e) - w`` whose norm it
  reports). Activations are freed before the optimizer step and the ascent's copies before the second pass,
  so the peak holds the largest of these, not their sum. These counts were measured, not derived:
  tests/train/test_rehearsal_footprint.py checks them against the peak RSS of runs whose weights dominate.

The method's parts are not read from a table: :func:`method_footprint` builds the method on a two-layer model,
takes one step and measures the tensors its state holds relative to the model's (``Method.state_dict()``:
optimizer state, target weights), so a new method or a changed one is measured the same way. Not counted:
the framework's workspace, allocator fragmentation, the ascent's transient per-parameter tensors, and the
CUDA context (about 0.5 GB).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn

FP32 = 4


@dataclass(frozen=True)
class MethodFootprint:
    """What one method keeps besides the model, in units of the model's size.

    passes: (forward, backward) per step; optimizer_states: base-optimizer state tensors per trainable
    parameter; saved_weights: copies of the trainable weights a two-pass step keeps; target_copies: frozen
    copies of the whole model; target_logits: whether a target's logits live through the step;
    trains: False for ``zero-shot`` (no step at all).
    """

    method: str
    passes: tuple[int, int]
    optimizer_states: float
    saved_weights: float
    target_copies: float
    target_logits: bool
    trains: bool = True
    step_transient: float = 0.0
    ascent_transient: float = 0.0


def _tensor_bytes(obj: Any, seen: set[int]) -> int:
    """Bytes of the distinct floating storages of the (non-scalar) tensors inside nested dicts/lists."""
    if isinstance(obj, torch.Tensor):
        if obj.dim() == 0 or not obj.is_floating_point():
            return 0  # step counters and generator states are not per-parameter memory
        key = obj.untyped_storage().data_ptr()
        if key in seen:
            return 0
        seen.add(key)
        return obj.untyped_storage().nbytes()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v, seen) for v in obj)
    return 0


class _Proxy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _proxy_objective(model: nn.Module, batch: dict[str, torch.Tensor], noise=None):
    from tram_bench.methods.base import Output

    x = batch["x"] if noise is None else batch["x"] + noise.sample_like(batch["x"])
    logits = model(x)
    return Output(logits=logits, loss=nn.functional.cross_entropy(logits, batch["y"]), count=int(batch["y"].numel()))


def method_footprint(method_id: str, hparams: dict[str, Any] | None = None) -> MethodFootprint:
    """Measure ``method_id`` (with ``hparams``, its ``Hparams`` defaults otherwise) on a two-layer model after
    one step. Raises the registry's error for an unknown id and ``Hparams``' ValueError for a bad value."""
    from tram_bench.methods.base import StepContext
    from tram_bench.methods.registry import METHODS

    cls = METHODS.get(method_id)
    if not getattr(cls, "trains", True):
        return MethodFootprint(method_id, tuple(cls.passes), 0.0, 0.0, 0.0, False, trains=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = _Proxy()
        batch = {"x": torch.randn(6, 8), "y": torch.tensor([0, 1, 2, 0, 1, 2])}
        method = cls(model, _proxy_objective, cls.Hparams(**(hparams or {})), lr=0.01,
                     generator=torch.Generator().manual_seed(0))
        method.step([batch], StepContext())
    weights = sum(p.numel() for p in model.parameters()) * FP32
    state = method.state_dict()
    target = _tensor_bytes(state.pop("target", None), set())
    optimizer = _tensor_bytes(state, set())
    forward, backward = cls.passes
    base = getattr(method.hparams, "base", "sgd")
    return MethodFootprint(
        method=method_id,
        passes=(int(forward), int(backward)),
        optimizer_states=round(optimizer / weights, 3),
        # The ascent (a second backward pass) happens at w + e while w is kept aside.
        saved_weights=1.0 if backward >= 2 else 0.0,
        target_copies=round(target / weights, 3),
        target_logits=getattr(method, "target", None) is not None,
        step_transient=1.0 if base in ("adam", "adamw") else 0.0,
        ascent_transient=2.0 if backward >= 2 else 0.0,
    )


@dataclass(frozen=True)
class MemoryProjection:
    """A step's memory by part, in bytes (module docstring). ``total`` is the peak: the fixed parts plus the
    largest of (activations + target logits) and the transients."""

    weights: float
    gradients: float
    optimizer: float
    saved_weights: float
    targets: float
    activations: float
    target_logits: float
    transients: float = 0.0

    @property
    def fixed(self) -> float:
        """What lives through the whole step: weights, gradients, optimizer state, saved weights, targets."""
        return self.weights + self.gradients + self.optimizer + self.saved_weights + self.targets

    @property
    def total(self) -> float:
        return self.fixed + max(self.activations + self.target_logits, self.transients)

    def parts(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def project_memory(
    fp: MethodFootprint,
    *,
    parameters: int,
    trainable: int | None = None,
    batch_size: int,
    activation_bytes_per_example: float,
    logits_per_example: int = 0,
    logits_bytes: int = FP32,
) -> MemoryProjection:
    """The memory of one step of ``fp``'s method on a model of ``parameters`` (``trainable`` of them; default
    all) at ``batch_size`` examples, given the measured saved-activation bytes per example and the number of
    logits per example (positions x classes). Raises ValueError for a negative size or batch."""
    trainable = parameters if trainable is None else trainable
    if min(parameters, trainable, batch_size, activation_bytes_per_example, logits_per_example) < 0:
        raise ValueError("sizes, batch and activation bytes must be >= 0")
    w, t = parameters * FP32, trainable * FP32
    if not fp.trains:  # evaluation only: weights and a no-grad forward's logits
        return MemoryProjection(w, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return MemoryProjection(
        weights=w,
        gradients=t,
        optimizer=fp.optimizer_states * t,
        saved_weights=fp.saved_weights * t,
        targets=fp.target_copies * w,
        activations=batch_size * activation_bytes_per_example,
        target_logits=batch_size * logits_per_example * logits_bytes if fp.target_logits else 0.0,
        transients=max(fp.step_transient, fp.ascent_transient) * t,
    )
