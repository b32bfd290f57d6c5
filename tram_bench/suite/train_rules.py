"""Which training setups are possible (values of :class:`tram_bench.tasks.base.TrainDefaults`).

The allowed names must match what the training loop implements (``tram_bench.train.schedule`` and
``tram_bench.train.loop``); ``tests/suite`` checks that they agree.
"""

from __future__ import annotations

from typing import Any

SCHEDULES = ("constant", "linear", "polynomial", "cosine")
PRECISIONS = ("fp32", "bf16", "fp16")
SELECTIONS = ("val_loss", "val_metric", "final")

_POSITIVE = ("lr", "steps", "batch_size", "eval_every", "eval_batch_size", "poly_power", "analysis_examples",
             "sharpness_steps", "sharpness_batch_size")
_POSITIVE_OR_NULL = ("epochs", "max_grad_norm")
_CHOICES = {"schedule": SCHEDULES, "precision": PRECISIONS, "selection": SELECTIONS}
# Linear CKA centres the features over the examples: one example leaves nothing to compare.
CKA_MIN_EXAMPLES = 2


def check_train_value(key: str, value: Any) -> str | None:
    """The problem with one (already type-checked) training value, or None."""
    if key in _POSITIVE and value <= 0:
        return f"must be > 0, got {value!r}"
    if key in _POSITIVE_OR_NULL and value is not None and value <= 0:
        return f"must be > 0 (or null), got {value!r}"
    if key == "warmup_steps" and value < 0:
        return f"must be >= 0, got {value!r}"
    if key == "weight_decay" and value < 0:
        return f"must be >= 0, got {value!r}"
    if key == "accumulation" and value < 1:
        return f"must be >= 1, got {value!r}"
    if key in _CHOICES and value not in _CHOICES[key]:
        return f"unknown {key} {value!r} (expected one of {', '.join(_CHOICES[key])})"
    return None


def check_analysis_budget(train: dict[str, Any], analyses: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Analysis settings that cannot work for the suite's ``analysis:`` list (see
    ``tram_bench.train.analysis_pass``), as (key to blame, other key, message) like
    :func:`check_train_combination`. Data-dependent failures (an evaluation set with fewer examples
    than needed) are left to the run, which records them as its ``analysis_error``."""
    problems = []
    examples = train["analysis_examples"]
    if "cka" in analyses and examples < CKA_MIN_EXAMPLES:
        problems.append(("analysis_examples", "analysis_examples",
                         f"analysis_examples ({examples}) must be >= {CKA_MIN_EXAMPLES} for the cka analysis "
                         f"(CKA compares representations across examples)"))
    batch = train["sharpness_batch_size"]
    if "sharpness" in analyses and batch > examples > 0:
        problems.append(("sharpness_batch_size", "analysis_examples",
                         f"sharpness_batch_size ({batch}) must be <= analysis_examples ({examples}): "
                         f"sharpness batches are cut from the analysis examples"))
    return problems


def check_train_combination(train: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Problems between fields of one resolved setup, as (key to blame, other key, message)."""
    problems = []
    # With `epochs` the step count depends on the data size, known only when the task loads.
    if train.get("epochs") is None and train["warmup_steps"] >= train["steps"] > 0:
        problems.append(("warmup_steps", "steps",
                         f"warmup_steps ({train['warmup_steps']}) must be < steps ({train['steps']})"))
    acc, bs = train["accumulation"], train["batch_size"]
    if acc >= 1 and bs > 0 and bs % acc != 0:
        problems.append(("accumulation", "batch_size",
                         f"accumulation ({acc}) must divide batch_size ({bs}) into equal micro-batches"))
    return problems
