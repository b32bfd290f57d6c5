"""Which training setups are possible between fields and with the suite's context (where a key was set,
the task's data size, the enabled analyses). A single field's limits and the allowed names live with
:class:`tram_bench.tasks.train_setup.TrainSetup`, which the training loop reads too.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from tram_bench.suite.errors import KeyPath
from tram_bench.suite.spec import RunSpec
from tram_bench.tasks.train_setup import run_steps

# Linear CKA centres the features over the examples: n centred examples span at most n - 1 directions,
# so with 2 examples both Gram matrices are rank one and equal up to scale: CKA is 1 whatever the model.
CKA_MIN_EXAMPLES = 3


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


def run_length(train: Mapping[str, Any], train_size: int | None = None) -> tuple[int | None, str]:
    """(optimizer steps of a run, or an upper bound of them; how they were counted) for one resolved
    setup, by the training loop's rule (``tram_bench.train.loop``): ``steps``, or with ``epochs``
    ``max(1, round(epochs * max(1, N // batch_size)))`` for N training examples.

    ``train_size`` is an upper bound of N known without loading data: a task's ``Params.train_size``
    (every task that has the field caps its training examples with it). The count is None when the
    run is measured in epochs and no bound is known.
    """
    epochs = train.get("epochs")
    if epochs is None:
        return train["steps"], f"steps ({train['steps']})"
    if train_size is None or train["batch_size"] <= 0:
        return None, ""
    per_epoch = max(1, train_size // train["batch_size"])
    total = run_steps(train["steps"], epochs, train["batch_size"], train_size)
    return total, (f"the run's length (at most {total} steps: epochs {epochs:g} x {per_epoch} batches of "
                   f"{train['batch_size']} from train_size {train_size})")


def check_train_combination(train: Mapping[str, Any], given: Mapping[str, KeyPath] | None = None,
                            train_size: int | None = None) -> list[tuple[str, str, str]]:
    """Problems between fields of one resolved setup, as (key to blame, other key, message).

    ``given`` maps the keys a suite set (not task defaults) to where it set them; ``train_size`` is
    the bound of :func:`run_length`. Schedule rules hold whichever way the length is given.
    """
    given = given or {}
    problems = []
    length, counted = run_length(train, train_size)
    length_key = "steps" if train.get("epochs") is None else "epochs"
    warmup = train["warmup_steps"]
    if length is not None and warmup >= length > 0:
        problems.append(("warmup_steps", length_key, f"warmup_steps ({warmup}) must be < {counted}"))
    every = train["eval_every"]
    # Only a suite's own eval_every: a task default longer than a shortened run still evaluates at the end.
    if length is not None and "eval_every" in given and every > length and train["selection"] != "final":
        problems.append(("eval_every", length_key,
                         f"eval_every ({every}) must be <= {counted}: the selection set would be evaluated only "
                         f"once, at the end (or set selection: final)"))
    if "steps" in given and "epochs" in given and train.get("epochs") is not None \
            and given["steps"][:-1] == given["epochs"][:-1]:
        problems.append(("steps", "epochs", f"steps ({train['steps']}) and epochs ({train['epochs']:g}) are both set "
                                            f"here; epochs decides the run's length, so keep one"))
    # A power other than 1 (the default, which changes nothing) says a polynomial decay was meant.
    if "poly_power" in given and train["poly_power"] != 1 and train["schedule"] != "polynomial":
        problems.append(("poly_power", "schedule", f"poly_power ({train['poly_power']:g}) applies only to schedule: "
                                                   f"polynomial (the schedule is {train['schedule']!r})"))
    acc, bs = train["accumulation"], train["batch_size"]
    if acc >= 1 and bs > 0 and bs % acc != 0:
        problems.append(("accumulation", "batch_size",
                         f"accumulation ({acc}) must divide batch_size ({bs}) into equal micro-batches"))
    return problems


def schedule_problem_at_start(train: Mapping[str, Any], train_examples: int) -> str | None:
    """The schedule problem of an epoch-based run once its training-set size is known (the training loop
    calls it before the first step), as the same one-line message ``validate`` gives when the task's
    ``train_examples_bound`` is known; None when the schedule fits or the run is given in steps."""
    if train.get("epochs") is None:
        return None
    problems = check_train_combination(train, None, train_examples)
    return next((message for blamed, _, message in problems if blamed == "warmup_steps"), None)


def unknown_size_warnings(specs: Sequence[RunSpec]) -> list[str]:
    """What ``validate`` says, one line per task label, about epoch-based runs whose task cannot bound its
    training-set size before reading the data (``Task.train_examples_bound`` is None): their schedule is
    checked when each run starts (:func:`schedule_problem_at_start`), not here."""
    from tram_bench.tasks.registry import TASKS

    seen: set[str] = set()
    out = []
    for spec in specs:
        train = spec.train
        if train.epochs is None or spec.task_label in seen:
            continue
        seen.add(spec.task_label)
        if TASKS.get(spec.task).train_examples_bound(spec.task_params) is None:
            out.append(f"task {spec.task_label}: epochs {train.epochs:g} with a training-set size known only once "
                       f"the data is read: warmup_steps ({train.warmup_steps}) is checked against the run's length "
                       f"when each run starts (give steps, or cap the data in params, to check it here)")
    return out
