"""What a task is: a pretrained model, a training domain, evaluation domains, and a metric.

A task class declares ``id``, ``version`` (bump when data or model change; part of every run id),
``family`` ("vision", "lm", "xling", "synthetic"), ``Params`` (a dataclass of task-specific
parameters with defaults that checks its own values in ``__post_init__`` with the helpers of
:mod:`tram_bench.tasks.params`, raising a one-line ValueError, so that ``tram-bench validate`` catches a
bad value before any run) and ``train_defaults`` (the training setup a suite may override).

The training loop uses a task like this::

    task = TaskCls(params, seed=data_seed, device=device)   # loads data, nothing heavy is global
    model = task.build_model()                                # a fresh pretrained model (+ new head)
    for batch in task.train_batches(batch_size, generator):   # one epoch, order from the generator
        ...
    for es in task.eval_sets():                               # in-domain val/test + out-of-domain sets
        metrics = task.evaluate(model, es)                    # {"accuracy": ..., "loss": ...}

Selection uses only the eval set with ``in_domain=True and split == "val"``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Iterator

import torch
from torch import nn

from tram_bench.contract import InputNoise, Objective, Output
from tram_bench.tasks.train_setup import TrainSetup


@dataclass(frozen=True)
class MetricSpec:
    name: str
    higher_is_better: bool


ACCURACY = MetricSpec("accuracy", True)
PERPLEXITY = MetricSpec("perplexity", False)
LOSS = MetricSpec("loss", False)


# The task's default training setup is a TrainSetup (``Task.train_defaults``); the old name stays for plugins.
TrainDefaults = TrainSetup


@dataclass
class EvalSet:
    """One evaluation domain and split.

    ``batches(batch_size=None)`` returns a fresh iterable of batches in a fixed order; the training
    loop passes the run's ``train.eval_batch_size``, and ``None`` means the task's own default.
    """

    domain: str
    split: str  # "val" or "test"
    in_domain: bool
    batches: Callable[[], Iterable[Any]]
    size: int = 0

    @property
    def key(self) -> str:
        return f"{self.domain}/{self.split}"


def smallest_known(*counts: int | None) -> int | None:
    """The smallest of the counts that are known (not None); None when none is: the tightest of
    several upper bounds of a training-set size (a cap and a documented split size)."""
    known = [n for n in counts if n is not None]
    return min(known) if known else None


class Task(ABC):
    id: ClassVar[str]
    version: ClassVar[str] = "1"
    family: ClassVar[str]
    tier: ClassVar[str] = "embedded"  # "embedded" (offline CPU) or "paper" (hub, GPU)
    Params: ClassVar[type]
    train_defaults: ClassVar[TrainSetup] = TrainSetup()
    primary_metric: ClassVar[MetricSpec] = ACCURACY
    description: ClassVar[str] = ""

    def __init__(self, params: Any, *, seed: int, device: torch.device | str = "cpu") -> None:
        self.params = params
        self.seed = seed
        self.device = torch.device(device)

    # --- model -----------------------------------------------------------------------------
    @abstractmethod
    def build_model(self) -> nn.Module:
        """A fresh copy of the pretrained model with the task head, on ``self.device``.

        Any new head is initialised from ``torch.Generator`` seeded with ``self.seed`` so that every
        method starts from the same weights for the same seed (paired comparisons).
        """

    @property
    @abstractmethod
    def objective(self) -> Objective:
        """The task's forward: see :class:`tram_bench.methods.base.Objective`."""

    # --- data ------------------------------------------------------------------------------
    @abstractmethod
    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Any]:
        """One epoch of training batches, shuffled with ``generator``, already on ``self.device``."""

    @abstractmethod
    def num_train_examples(self) -> int: ...

    @classmethod
    def train_examples_bound(cls, params: Any) -> int | None:
        """An upper bound of :meth:`num_train_examples` for ``params`` (the task's ``Params``), known
        without loading models or tokenizing data, so that ``validate`` can check an epoch-based
        run's schedule (``tram_bench.suite.train_rules.run_length``); None when it cannot be known
        offline (``validate`` then warns, and the run checks the schedule before training).

        Default: the ``train_size`` cap of tasks whose ``Params`` has one. Tasks override it with a
        count from their shipped data or their documented split sizes.
        """
        size = getattr(params, "train_size", None)
        return size if isinstance(size, int) else None

    @abstractmethod
    def eval_sets(self) -> list[EvalSet]:
        """In-domain ``val`` (selection) and ``test``, then every out-of-domain set (``test``)."""

    # --- evaluation ------------------------------------------------------------------------
    def evaluate(self, model: nn.Module, eval_set: EvalSet) -> dict[str, float]:
        """Metrics on one eval set; model in eval mode, no grad. Default: classification accuracy
        and mean cross-entropy over examples, from the objective's logits."""
        was_training = model.training
        model.eval()
        total_loss, correct, n = 0.0, 0, 0
        with torch.no_grad():
            for batch in eval_set.batches():
                out: Output = self.objective(model, batch)
                labels = batch_labels(batch)
                k = labels.shape[0]
                total_loss += float(out.loss) * k
                correct += int((out.logits.argmax(-1) == labels).sum())
                n += k
        model.train(was_training)
        if n == 0:
            raise ValueError(f"eval set {eval_set.key} of task {self.id} is empty")
        return {"accuracy": correct / n, "loss": total_loss / n}

    def representation(self, model: nn.Module, batch: Any) -> torch.Tensor:
        """Features before the head, ``[N, D]`` (for CKA). Tasks that support it override this."""
        raise NotImplementedError(f"task {self.id} has no representation hook")


def batch_labels(batch: Any) -> torch.Tensor:
    if isinstance(batch, dict):
        return batch["labels"]
    return batch[1]


def move_to(batch: Any, device: torch.device) -> Any:
    """Move a batch (tensor, tuple/list or dict of tensors) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(v, device) for v in batch)
    return batch


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator, drop_last: bool = True):
    """Index batches of one epoch: a permutation from ``generator`` cut into ``batch_size`` pieces."""
    perm = torch.randperm(n, generator=generator)
    stop = n - (n % batch_size) if drop_last and n >= batch_size else n
    for i in range(0, stop, batch_size):
        yield perm[i : i + batch_size]


__all__ = [
    "ACCURACY",
    "LOSS",
    "PERPLEXITY",
    "EvalSet",
    "InputNoise",
    "MetricSpec",
    "Output",
    "Task",
    "TrainDefaults",
    "TrainSetup",
    "batch_labels",
    "move_to",
    "shuffled_batches",
]
