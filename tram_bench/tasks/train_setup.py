"""The training setup of one run: a frozen, self-checking dataclass and the names it allows.

A task states its defaults as a ``TrainSetup`` (``Task.train_defaults``); a suite's ``train:`` keys
override them field by field (``tram_bench.suite.resolve``), and the resolved setup travels in the
``RunSpec`` to the training loop, which reads its fields. The allowed names (``SCHEDULES``,
``PRECISIONS``, ``SELECTIONS``) and the per-field limits live here once; the loop and the LR schedule
use these same lists. Rules between fields that need the suite's context (where a key was set, the
task's data size) are in ``tram_bench.suite.train_rules``.

No torch import: the suite layer checks setups without loading a model.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

SCHEDULES = ("constant", "linear", "polynomial", "cosine")
PRECISIONS = ("fp32", "bf16", "fp16")
SELECTIONS = ("val_loss", "val_metric", "final")

_POSITIVE = ("lr", "steps", "batch_size", "eval_every", "eval_batch_size", "poly_power", "analysis_examples",
             "sharpness_steps", "sharpness_batch_size")
_POSITIVE_OR_NULL = ("epochs", "max_grad_norm")
_NON_NEGATIVE = ("warmup_steps", "weight_decay")
_CHOICES = {"schedule": SCHEDULES, "precision": PRECISIONS, "selection": SELECTIONS}


def value_problem(key: str, value: Any) -> str | None:
    """What is wrong with one (already type-checked) value of field ``key``, or None."""
    if key in _POSITIVE and value <= 0:
        return f"must be > 0, got {value!r}"
    if key in _POSITIVE_OR_NULL and value is not None and value <= 0:
        return f"must be > 0 (or null), got {value!r}"
    if key in _NON_NEGATIVE and value < 0:
        return f"must be >= 0, got {value!r}"
    if key == "accumulation" and value < 1:
        return f"must be >= 1, got {value!r}"
    if key in _CHOICES and value not in _CHOICES[key]:
        return f"unknown {key} {value!r} (expected one of {', '.join(_CHOICES[key])})"
    return None


@dataclass(frozen=True)
class TrainSetup:
    """How one run trains; every field can be overridden by a suite or ``-O``.

    steps: optimizer steps (with ``epochs`` set, the length is counted by :meth:`length`).
    schedule: one of ``SCHEDULES``; ``warmup_steps`` of linear warmup first; ``poly_power`` is the
        exponent of the "polynomial" decay.
    precision: "fp32", "bf16" (autocast) or "fp16" (autocast + GradScaler).
    selection: which checkpoint is "selected": "val_loss" (lowest in-domain validation loss),
        "val_metric" (best in-domain validation primary metric) or "final".
    eval_every: evaluate the selection set every this many steps (and at the end).
    accumulation: micro-batches per optimizer step (``batch_size`` is the total per step).
    analysis_examples, sharpness_steps, sharpness_batch_size: see ``tram_bench.train.analysis_pass``.

    Raises ValueError (one line: the field, the limit, the value) for a value outside its limit.
    """

    steps: int = 100
    epochs: float | None = None
    batch_size: int = 32
    lr: float = 1e-3
    schedule: str = "constant"
    warmup_steps: int = 0
    poly_power: float = 1.0
    weight_decay: float = 0.0
    precision: str = "fp32"
    selection: str = "val_loss"
    eval_every: int = 50
    eval_batch_size: int = 256
    max_grad_norm: float | None = None
    accumulation: int = 1
    # Analyses (enabled per suite with `analysis: [sharpness, cka]`), on the selected checkpoint:
    # examples per evaluation domain, ascent steps of epsilon-sharpness (the paper does not state
    # them), and the mini-batch size of the ascent (the paper's 32, with 4-step accumulation).
    analysis_examples: int = 256
    sharpness_steps: int = 10
    sharpness_batch_size: int = 32

    def __post_init__(self) -> None:
        for f in fields(self):
            problem = value_problem(f.name, getattr(self, f.name))
            if problem:
                raise ValueError(f"{f.name}: {problem}")

    def length(self, train_examples: int | None) -> int | None:
        """Optimizer steps of the run: ``steps``, or with ``epochs`` set
        ``max(1, round(epochs * max(1, N // batch_size)))`` for ``N = train_examples`` (None when N
        is unknown)."""
        return run_steps(self.steps, self.epochs, self.batch_size, train_examples)


def run_steps(steps: int, epochs: float | None, batch_size: int, train_examples: int | None) -> int | None:
    """The rule of :meth:`TrainSetup.length` on plain values (the suite layer bounds it with a task's
    ``Params.train_size`` before any data is loaded)."""
    if epochs is None:
        return steps
    if train_examples is None:
        return None
    per_epoch = max(1, train_examples // batch_size)
    return max(1, int(round(epochs * per_epoch)))
