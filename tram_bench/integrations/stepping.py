"""What the Trainer and Lightning adapters share: building a method from its id, the step context,
the LR schedule of tram-bench's loop, and the running means of a step's extras for logging.

Every rule here is the training loop's (:mod:`tram_bench.train.loop`), restated nowhere: the method is
built the way the loop builds it (``Method(model, objective, hparams, lr=, weight_decay=,
generator=)`` with the method's own noise generator), its ``step`` runs on the micro-batches of one
optimizer step (accumulate, then perturb), and the LR of step ``s`` is ``lr0 * lr_multiplier(s, ...)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

from tram_bench.contract import Objective
from tram_bench.methods.base import BaseHparams, Method, StepContext, StepStats
from tram_bench.methods.registry import METHODS
from tram_bench.suite.aliases import canonical_method_id
from tram_bench.suite.fieldtypes import FieldTypeError, coerce, field_infos
from tram_bench.tasks.train_setup import SCHEDULES
from tram_bench.train.schedule import lr_multiplier


def method_hparams(method_cls: type[Method], values: Mapping[str, Any] | BaseHparams | None) -> BaseHparams:
    """``values`` as an instance of ``method_cls.Hparams``.

    A mapping is type-checked field by field as a suite's ``hparams:`` are (an int is accepted for a
    float field, a list for a tuple); fields it leaves out keep the ``Hparams`` defaults (the one place
    they live). An instance of the right class is returned as is. Raises ValueError naming the method
    and the key for an unknown key, a wrong type, or a value the ``Hparams`` class rejects.
    """
    cls = method_cls.Hparams
    if isinstance(values, cls):
        return values
    if values is not None and not isinstance(values, Mapping):
        raise ValueError(f"method {method_cls.id!r}: method_hparams must be a mapping or a {cls.__name__}, "
                         f"got {type(values).__name__}")
    infos = field_infos(cls)
    given = dict(values or {})
    unknown = sorted(set(given) - set(infos))
    if unknown:
        raise ValueError(f"method {method_cls.id!r}: unknown hyperparameter(s) {', '.join(unknown)} "
                         f"(known: {', '.join(infos)})")
    typed = {}
    for key, value in given.items():
        try:
            typed[key] = coerce(value, infos[key].type)
        except FieldTypeError as exc:
            raise ValueError(f"method {method_cls.id!r}: hyperparameter {key}: {exc}") from None
    return cls(**typed)


@dataclass(frozen=True)
class MethodChoice:
    """A method class and its checked ``Hparams``: what an adapter resolves when it is constructed, so
    that a bad id or value fails there, and builds once the model and its device are known."""

    cls: type[Method]
    hparams: BaseHparams

    def build(self, model: nn.Module, objective: Objective, *, lr: float, weight_decay: float = 0.0,
              seed: int = 0) -> Method:
        """The method for ``model`` as tram-bench's loop builds it: ``lr`` and ``weight_decay`` go to its
        base optimizer (weight decay on every trainable parameter), ``seed`` seeds its own generator
        (input noise; the loop's ``method_seed``)."""
        return self.cls(model, objective, self.hparams, lr=lr, weight_decay=weight_decay,
                        generator=torch.Generator().manual_seed(seed))


def resolve_method(method: str, hparams: Mapping[str, Any] | BaseHparams | None = None) -> MethodChoice:
    """The method ``method`` (a built-in id or alias such as ``fsam``, an entry-point plugin id, or
    ``my_pkg.methods:MyMethod``) with ``hparams`` checked by :func:`method_hparams`. Raises ValueError
    for an unknown id, for ``zero-shot`` (it trains nothing) and for bad hyperparameters."""
    method_id = canonical_method_id(method)
    try:
        cls = METHODS.get(method_id)
    except Exception as exc:  # noqa: BLE001 - RegistryError or a plugin's import error: one message
        raise ValueError(f"method {method!r}: {exc}") from None
    if not getattr(cls, "trains", True):
        raise ValueError(f"method {method!r} trains nothing (it evaluates the pre-trained model as is)")
    return MethodChoice(cls, method_hparams(cls, hparams))


def step_context(*, bf16: bool, max_grad_norm: float | None, device: torch.device) -> StepContext:
    """The step settings of the loop's ``precision: fp32`` (``bf16=False``) or ``bf16`` (autocast to
    bfloat16, no GradScaler), clipping the descent gradient to ``max_grad_norm`` (None or <= 0: no
    clipping)."""
    clip = max_grad_norm if max_grad_norm is not None and max_grad_norm > 0 else None
    return StepContext(autocast_dtype=torch.bfloat16 if bf16 else None, scaler=None,
                       max_grad_norm=clip, device_type=device.type)


def lr_lambda(total: int, schedule: str, warmup: int = 0, power: float = 1.0) -> Callable[[int], float]:
    """``step -> multiplier`` for ``torch.optim.lr_scheduler.LambdaLR``: the loop's
    :func:`~tram_bench.train.schedule.lr_multiplier` over ``total`` optimizer steps (a LambdaLR built
    before the first step and stepped after each gives step ``s`` the LR ``lr0 * multiplier(s)``,
    exactly the loop's). Raises ValueError for a schedule outside ``SCHEDULES``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r} (expected one of {', '.join(SCHEDULES)})")
    return lambda step: lr_multiplier(step, total, schedule, warmup, power)


def run_step(method: Method, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
    """One optimizer step of ``method`` on ``micro_batches`` (the loop's ``method.step``), refusing an
    empty list (a step with no data is a bug in the caller's accumulation)."""
    if not micro_batches:
        raise RuntimeError("an optimizer step was requested with no micro-batch collected")
    return method.step(list(micro_batches), ctx)


class MethodOptimizer(torch.optim.Optimizer):
    """The optimizer a framework sees: it shares the method's optimizer's ``param_groups`` (so the
    framework's LR scheduler drives the method) and its ``state``; ``collect`` adds a micro-batch and
    ``step()`` runs the method on those collected since the last step (nothing collected: nothing to
    do, as when Trainer steps it after ``MethodTrainer.training_step`` already ran the step).
    ``state_dict`` is the method's (optimizer, target model, noise generator), so checkpoints resume it."""

    def __init__(self, method: Method, ctx: StepContext) -> None:
        inner = method.optimizer
        super().__init__(inner.param_groups, dict(inner.defaults))
        # Optimizer.__init__ keeps the same group dicts; share the list and state outright, as
        # TwoPassOptimizer does with its base optimizer.
        self.param_groups = inner.param_groups
        self.state = inner.state
        self.method = method
        self.ctx = ctx
        self.pending: list[Any] = []
        self.last: StepStats | None = None

    def collect(self, micro_batch: Any) -> None:
        self.pending.append(micro_batch)

    def step(self, closure: Callable[[], Any] | None = None) -> StepStats | None:  # type: ignore[override]
        """Run the method on the collected micro-batches and return its ``StepStats`` (None when
        nothing was collected). A ``closure`` (Lightning passes one that runs its pre-step hooks) is
        called first, once; the method's own passes make the gradients."""
        if closure is not None:
            closure()
        if not self.pending:
            return None
        batches, self.pending = self.pending, []
        self.last = run_step(self.method, batches, self.ctx)
        return self.last

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.method.optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return self.method.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.method.load_state_dict(state_dict)
        self.param_groups = self.method.optimizer.param_groups
        self.state = self.method.optimizer.state


@dataclass
class ExtrasMeans:
    """Running sums of the steps' ``StepStats.extras`` (``divergence`` = TRAM's d or a trust region's
    D, ``perturbation_norm`` = ||e||), drained as means for a framework's logger. Skipped steps and
    non-finite values are left out, so a mean is over the steps that moved the weights."""

    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, stats: StepStats) -> None:
        if stats.skipped:
            return
        for key, value in stats.extras.items():
            if math.isfinite(value):
                self.sums[key] = self.sums.get(key, 0.0) + value
                self.counts[key] = self.counts.get(key, 0) + 1

    def drain(self) -> dict[str, float]:
        """The mean of each extra since the last drain (empty if none), then reset."""
        means = {key: self.sums[key] / self.counts[key] for key in self.sums}
        self.sums.clear()
        self.counts.clear()
        return means


__all__ = ["ExtrasMeans", "MethodChoice", "MethodOptimizer", "lr_lambda", "method_hparams", "resolve_method", "run_step",
           "step_context"]
