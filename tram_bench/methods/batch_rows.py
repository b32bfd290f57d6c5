"""Rows of a batch: how many examples it holds, and its first rows as a batch of the same structure.

A batch is what a task's ``train_batches`` yields: a tensor, or a dict / list / tuple of tensors
(nested) whose tensors share their first dimension, the examples (``[B, ...]``). Cheaper TRAM
(``radius_batch_fraction``) measures ``d`` on the first rows; every step counts the examples its
forwards saw (``StepStats.forward_examples``).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from torch import Tensor


def batch_rows(batch: Any) -> int:
    """The number of examples in ``batch``: the first dimension of its first tensor (depth first).
    TypeError if it holds no tensor."""
    if isinstance(batch, Tensor):
        return int(batch.shape[0])
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else ()
    for v in values:
        if isinstance(v, (Tensor, dict, list, tuple)):
            try:
                return batch_rows(v)
            except TypeError:
                continue
    raise TypeError(f"cannot count the examples of a batch of type {type(batch).__name__}: it holds no tensor")


def head_rows(batch: Any, rows: int) -> Any:
    """The first ``rows`` examples of ``batch``, same structure (views, no copy); values that are not
    tensors (names, flags) are kept as they are."""
    if isinstance(batch, Tensor):
        return batch[:rows]
    if isinstance(batch, dict):
        return {k: head_rows(v, rows) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(head_rows(v, rows) for v in batch)
    return batch


def measured_rows(fraction: float, rows: int) -> int:
    """``max(1, ceil(fraction * rows))``: how many of a micro-batch's ``rows`` examples a fractional
    measurement uses (``fraction`` in [0, 1]; 1 gives all of them)."""
    # The exact product of the float and the integer: 0.3 * 10 is 3.0000000000000004 in floats.
    return min(rows, max(1, math.ceil(Fraction(fraction) * rows)))
