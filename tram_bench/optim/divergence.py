"""Distances between two models' predictive distributions on the same inputs (TRAM's d, Table 14).

Every function takes ``target_logits`` and ``logits`` of the same shape: ``[N, C]`` (one
distribution per example) or ``[B, T, V]`` (one per token), plus an optional boolean ``mask`` of
shape ``logits.shape[:-1]`` naming the positions that count. Masked-out positions are dropped
*before* any arithmetic, so padding logits (even NaN or inf) never reach the value or its gradient.

Gradient flows through ``logits``; detaching ``target_logits`` is the caller's business (TRAM uses
``d`` without gradient, trust-region baselines backpropagate through the current logits).
Computation happens in float32 (float64 inputs stay float64), from ``log_softmax``.

Memory. ``kl*`` and ``l2`` are means of per-position values, so they are computed over blocks of at
most :data:`CHUNK_ELEMENTS` logits at a time: the float32 copies, softmaxes and products of one
block exist at once, never those of the whole batch (for GPT-2 at 16 x 1024 tokens one float32
copy of the logits is 3.3 GB, and the unchunked KL kept several). With a gradient, each block is
recomputed in the backward pass (``torch.utils.checkpoint``) instead of keeping its intermediates.
The per-position values are the same numbers as without blocks and are averaged in one reduction,
so results do not depend on the block size (tests/optim/test_optim_divergence.py). ``mmd``
compares every pair of positions and is not blocked.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

KL_DIRECTIONS = ("forward", "reverse", "symmetric")
MMD_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
# Logits per block of the row-wise divergences (module docstring, "Memory"): 2**24 float32 values are
# 64 MiB per intermediate, a few hundred GPT-2 tokens; small enough to be noise next to the model,
# large enough that a 3-class batch is one block.
CHUNK_ELEMENTS = 2**24


def _check(target_logits: Tensor, logits: Tensor, mask: Tensor | None) -> None:
    """Raise ValueError unless the shapes and the mask fit together."""
    if target_logits.shape != logits.shape:
        raise ValueError(
            f"target_logits shape {tuple(target_logits.shape)} != logits shape {tuple(logits.shape)}"
        )
    if logits.dim() < 2:
        raise ValueError(f"logits must be [N, C] or [B, T, V], got shape {tuple(logits.shape)}")
    if mask is not None:
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor, got dtype {mask.dtype}")
        if mask.shape != logits.shape[:-1]:
            raise ValueError(
                f"mask shape {tuple(mask.shape)} must equal logits.shape[:-1] = {tuple(logits.shape[:-1])}"
            )


def _compute_dtype(logits: Tensor) -> torch.dtype:
    return torch.float64 if logits.dtype == torch.float64 else torch.float32


def _rows(target_logits: Tensor, logits: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """Both inputs as ``[M, C]`` rows of the counted positions, in the compute dtype (whole copies:
    for :func:`mmd`, which needs every row at once)."""
    _check(target_logits, logits, mask)
    if mask is not None:
        target_logits, logits = target_logits[mask], logits[mask]
    else:
        target_logits = target_logits.reshape(-1, target_logits.shape[-1])
        logits = logits.reshape(-1, logits.shape[-1])
    if logits.shape[0] == 0:
        raise ValueError(_EMPTY)
    dtype = _compute_dtype(logits)
    return target_logits.to(dtype), logits.to(dtype)


_EMPTY = "no positions to average over (empty batch, or the mask selects nothing)"
RowFn = Callable[[Tensor, Tensor], Tensor]


def _blocks(shape: torch.Size, step: int) -> list[tuple]:
    """Index tuples over the leading dims of ``[N, C]`` or ``[B, T, C]`` logits, in row-major order, each
    selecting at most ``step`` rows (and at least one) as a *view*: slicing never copies the logits, where
    flattening a non-contiguous tensor (a causal LM's shifted ``logits[:, :-1]``) would."""
    if len(shape) == 2:
        return [(slice(s, min(s + step, shape[0])),) for s in range(0, shape[0], step)]
    batch, length = shape[0], shape[1]
    if length <= step:
        per = step // length
        return [(slice(b, min(b + per, batch)),) for b in range(0, batch, per)]
    return [(b, slice(t, min(t + step, length))) for b in range(batch) for t in range(0, length, step)]


def _row_mean(
    per_row: RowFn, target_logits: Tensor, logits: Tensor, mask: Tensor | None, chunk_elements: int | None
) -> Tensor:
    """Mean over the counted positions of ``per_row(target_rows, rows) -> [m]``, computed over blocks of
    rows (module docstring, "Memory"); ``per_row`` sees ``[m, C]`` rows in the compute dtype.

    ``chunk_elements``: logits per block (default :data:`CHUNK_ELEMENTS`); results do not depend on it.
    """
    _check(target_logits, logits, mask)
    classes = logits.shape[-1]
    if logits.dim() > 3:  # not produced by any task; flattened (a copy if not contiguous)
        target_logits, logits = target_logits.reshape(-1, classes), logits.reshape(-1, classes)
        mask = None if mask is None else mask.reshape(-1)
    count = logits.shape[:-1].numel() if mask is None else int(mask.sum())
    if count == 0:
        raise ValueError(_EMPTY)
    dtype = _compute_dtype(logits)
    step = max(1, (chunk_elements or CHUNK_ELEMENTS) // max(classes, 1))

    def block(t: Tensor, c: Tensor, m: Tensor | None, index: tuple) -> Tensor:
        t, c = t[index].reshape(-1, classes), c[index].reshape(-1, classes)  # one block's copy at most
        if m is not None:
            counted = m[index].reshape(-1)
            t, c = t[counted], c[counted]
        return per_row(t.to(dtype), c.to(dtype))

    # Checkpointed only when a gradient will be taken: backward keeps the block's inputs (the caller's own
    # logits, not copies) and recomputes the block.
    blocks = _blocks(logits.shape, step)
    recompute = torch.is_grad_enabled() and (target_logits.requires_grad or logits.requires_grad) and len(blocks) > 1
    values = []
    for index in blocks:
        if recompute:
            values.append(checkpoint(block, target_logits, logits, mask, index, use_reentrant=False,
                                     preserve_rng_state=False))
        else:
            values.append(block(target_logits, logits, mask, index))
    return (values[0] if len(values) == 1 else torch.cat(values)).mean()


def _kl_rows(log_p: Tensor, log_q: Tensor) -> Tensor:
    """Per-row ``KL(p || q) = sum p (log p - log q)``, with ``0 log 0 = 0`` for masked classes."""
    p = log_p.exp()
    counted = p > 0
    # Both logs are zeroed where p = 0 *before* the product: otherwise 0 * (-inf) would put a NaN
    # into the backward pass even though the forward value is masked.
    log_p = torch.where(counted, log_p, 0.0)
    log_q = torch.where(counted, log_q, 0.0)
    return (p * (log_p - log_q)).sum(-1)


def kl(
    target_logits: Tensor,
    logits: Tensor,
    mask: Tensor | None = None,
    direction: str = "forward",
    *,
    chunk_elements: int | None = None,
) -> Tensor:
    """Mean over examples (or counted tokens) of the KL between the two softmax distributions.

    ``forward``: KL(p_target || p_current), the paper's direction (Eqs. 4-5, Appendix C.5);
    ``reverse``: KL(p_current || p_target); ``symmetric``: their sum (as in R3F).
    The KL is summed over classes and averaged over positions: ``F.kl_div(reduction="mean")``
    would also average over classes, shrinking ``d`` by the vocabulary size.
    ``chunk_elements``: logits per block (default :data:`CHUNK_ELEMENTS`; module docstring, "Memory").
    """
    if direction not in KL_DIRECTIONS:
        raise ValueError(f"unknown KL direction {direction!r}; valid: {', '.join(KL_DIRECTIONS)}")

    def per_row(target_rows: Tensor, rows: Tensor) -> Tensor:
        log_t = F.log_softmax(target_rows, dim=-1)
        log_c = F.log_softmax(rows, dim=-1)
        if direction == "forward":
            return _kl_rows(log_t, log_c)
        if direction == "reverse":
            return _kl_rows(log_c, log_t)
        return _kl_rows(log_t, log_c) + _kl_rows(log_c, log_t)

    return _row_mean(per_row, target_logits, logits, mask, chunk_elements)


def _imq_gram(a: Tensor, b: Tensor, scales: tuple[float, ...]) -> Tensor:
    """``sum_C C / (C + ||a_i - b_j||^2)`` for every pair of rows."""
    sq = (a * a).sum(-1)[:, None] + (b * b).sum(-1)[None, :] - 2.0 * a @ b.T
    sq = sq.clamp_min(0.0)  # the expansion can go a rounding error below zero
    return sum(c / (c + sq) for c in scales)


def mmd(
    target_logits: Tensor,
    logits: Tensor,
    mask: Tensor | None = None,
    scales: tuple[float, ...] = MMD_SCALES,
) -> Tensor:
    """Biased squared MMD (Gretton et al. 2012) between the sets of target and current distributions.

    The two samples are the per-example (per counted token) softmax probability vectors of the
    target and of the current model; the kernel is a sum of inverse multiquadratics
    ``k(a, b) = sum_C C / (C + ||a - b||^2)`` over ``C in scales``. The value is
    ``mean K(t, t) + mean K(c, c) - 2 mean K(t, c)`` over all pairs, diagonals included (the
    biased V-statistic), clamped at 0 against rounding; it is >= 0 and 0 when the sets are equal.

    Probabilities, not logits (the released TRAM code uses logits): the paper's trust region is
    between predictive distributions, probabilities ignore the logit offset that softmax discards,
    and they live in the simplex (squared distances <= 2), so one fixed set of scales means the same
    thing for 3 classes or a 50k vocabulary. Cost is O(M^2 C) for M positions: subsample tokens of
    language models before calling this.
    """
    if not scales or any(float(c) <= 0 for c in scales):
        raise ValueError(f"mmd scales must be a non-empty sequence of positive numbers, got {scales!r}")
    target_rows, rows = _rows(target_logits, logits, mask)
    pt = F.softmax(target_rows, dim=-1)
    pc = F.softmax(rows, dim=-1)
    scales = tuple(float(c) for c in scales)
    value = (
        _imq_gram(pt, pt, scales).mean()
        + _imq_gram(pc, pc, scales).mean()
        - 2.0 * _imq_gram(pt, pc, scales).mean()
    )
    return value.clamp_min(0.0)


def l2(
    target_logits: Tensor, logits: Tensor, mask: Tensor | None = None, *, chunk_elements: int | None = None
) -> Tensor:
    """Mean over examples (or counted tokens) of ``||p_target - p_current||_2`` on probabilities.

    Probabilities rather than raw logits (the released code's choice) for the same reasons as
    :func:`mmd`: logits that differ by a constant describe the same distribution and must be at
    distance 0, and the value is bounded by sqrt(2) whatever the number of classes.
    ``chunk_elements``: logits per block (default :data:`CHUNK_ELEMENTS`; module docstring, "Memory").
    """

    def per_row(target_rows: Tensor, rows: Tensor) -> Tensor:
        diff = F.softmax(target_rows, dim=-1) - F.softmax(rows, dim=-1)
        return torch.linalg.vector_norm(diff, dim=-1)

    return _row_mean(per_row, target_logits, logits, mask, chunk_elements)


_BY_NAME: dict[str, Callable[[Tensor, Tensor, Tensor | None], Tensor]] = {
    "kl": lambda t, c, m: kl(t, c, m, "forward"),
    "kl_reverse": lambda t, c, m: kl(t, c, m, "reverse"),
    "kl_symmetric": lambda t, c, m: kl(t, c, m, "symmetric"),
    "mmd": lambda t, c, m: mmd(t, c, m),
    "l2": lambda t, c, m: l2(t, c, m),
}
DIVERGENCES: tuple[str, ...] = tuple(_BY_NAME)


def divergence_by_name(name: str, target_logits: Tensor, logits: Tensor, mask: Tensor | None = None) -> Tensor:
    """The divergence called ``name`` (one of :data:`DIVERGENCES`) with its default settings.

    Named apart from this module: a package attribute ``divergence`` that were a function would
    shadow the module, and ``from tram_bench.optim import divergence; divergence.kl(...)`` would fail.
    Raises ValueError for a name outside :data:`DIVERGENCES`.
    """
    try:
        fn = _BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown divergence {name!r}; valid: {', '.join(DIVERGENCES)}") from None
    return fn(target_logits, logits, mask)
