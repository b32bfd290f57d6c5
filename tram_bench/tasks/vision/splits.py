"""Fixed, class-stratified splits (seeded by a constant, never by the run seed)."""

from __future__ import annotations

import math

import torch


def stratified_splits(labels: torch.Tensor, fractions: dict[str, float], seed: int) -> dict[str, torch.Tensor]:
    """Disjoint index sets, one per key of ``fractions``, covering every example.

    Every class is shuffled with one fixed generator and cut at the cumulative fractions (rounded down, the
    last split takes the remainder). Each split's indices come class-interleaved so prefixes stay balanced.
    """
    if abs(sum(fractions.values()) - 1.0) > 1e-9:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    g = torch.Generator().manual_seed(seed)
    per_split: dict[str, list[torch.Tensor]] = {k: [] for k in fractions}
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        members = members[torch.randperm(members.numel(), generator=g)]
        start, cum = 0, 0.0
        names = list(fractions)
        for j, name in enumerate(names):
            cum += fractions[name]
            # The epsilon keeps 0.6 + 0.2 (= 0.8000000000000002) and 0.7 * 10 from flooring one short.
            stop = members.numel() if j == len(names) - 1 else math.floor(cum * members.numel() + 1e-9)
            per_split[name].append(members[start:stop])
            start = stop
    return {name: _interleave(parts) for name, parts in per_split.items()}


def _interleave(parts: list[torch.Tensor]) -> torch.Tensor:
    """Round-robin over classes: first of every class, then second of every class, ..."""
    longest = max((p.numel() for p in parts), default=0)
    order = []
    for i in range(longest):
        order += [int(p[i]) for p in parts if i < p.numel()]
    return torch.tensor(order, dtype=torch.int64)
