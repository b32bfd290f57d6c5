"""Linear CKA between two sets of representations of the same examples (paper Table 6b)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def _as_matrix(name: str, value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu", torch.float64).numpy()
    matrix = np.asarray(value, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"linear_cka: {name} must be a 2-D [n, d] matrix, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"linear_cka: {name} contains NaN or inf")
    return matrix


def linear_cka(X: Any, Y: Any) -> float:
    """Linear CKA (Kornblith et al. 2019) of ``X [n, d1]`` and ``Y [n, d2]`` (rows = the same examples).

    ``CKA = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` where ``Xc``, ``Yc`` have their columns
    centred. The paper's Eq. 12 writes the formula without centring; we centre, as Kornblith et al.
    define it: without centring a shared constant offset of the features (common in pooled
    transformer outputs) dominates the score and makes unrelated representations look similar.
    Computed in float64 via the ``d x d`` cross-products, so cost is O(n d^2), not O(n^2).
    Accepts tensors or arrays; returns a float in [0, 1].
    """
    x = _as_matrix("X", X)
    y = _as_matrix("Y", Y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"linear_cka: X has {x.shape[0]} rows but Y has {y.shape[0]}; rows must be the same examples")
    if x.shape[0] < 2:
        raise ValueError(f"linear_cka: need at least 2 examples, got {x.shape[0]}")
    x = x - x.mean(axis=0, keepdims=True)
    y = y - y.mean(axis=0, keepdims=True)
    xx = np.linalg.norm(x.T @ x)
    yy = np.linalg.norm(y.T @ y)
    if xx == 0 or yy == 0:
        which = "X" if xx == 0 else "Y"
        raise ValueError(f"linear_cka: {which} is constant across examples, so CKA is undefined")
    return float(np.linalg.norm(y.T @ x) ** 2 / (xx * yy))
