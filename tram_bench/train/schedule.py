"""Learning-rate schedules as pure functions of the step (multipliers of the initial LR)."""

from __future__ import annotations

import math

from tram_bench.tasks.train_setup import SCHEDULES


def lr_multiplier(step: int, total: int, schedule: str, warmup: int = 0, power: float = 1.0) -> float:
    """Multiplier for the LR used at optimizer step ``step`` (0-based) of ``total``.

    Linear warmup from 0 over ``warmup`` steps (step 0 of a warmup uses 1/warmup, never 0, so the
    first step is not wasted), then the decay over the remaining steps down to 0 at ``total``.
    "polynomial" is (1 - progress) ** power (power 1 is "linear"), as in the paper's language setup.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r} (expected one of {', '.join(SCHEDULES)})")
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "polynomial":
        return (1.0 - progress) ** power
    return 0.5 * (1.0 + math.cos(math.pi * progress))
