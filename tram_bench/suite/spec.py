"""A fully resolved grid cell: what one run is, and its identity."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tram_bench.util.hashing import derive_seed, stable_hash


@dataclass(frozen=True)
class RunSpec:
    """One cell of a suite's grid, every value resolved (defaults filled in).

    The run id hashes everything that changes the result: task id, version and params, the training
    setup, method id, version and hyperparameters, the replicate seed and the enabled analyses.
    The suite name is *not* part of it: the same cell in two suites is the same run.
    """

    suite: str
    task: str
    task_version: str
    task_params: dict[str, Any]
    train: dict[str, Any]
    method: str
    method_version: str
    hparams: dict[str, Any]
    seed: int
    analysis: tuple[str, ...] = ()
    # Per-task display label when one suite holds the same task id twice with different params.
    label: str = field(default="", compare=False)

    def identity(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("suite")
        d.pop("label")
        d["analysis"] = sorted(self.analysis)
        return d

    @property
    def run_id(self) -> str:
        return stable_hash(self.identity())

    @property
    def data_seed(self) -> int:
        """Seeds data order and head initialisation. It depends on the task and the replicate seed
        only, so every method (and every hyperparameter value) sees the same batches and starts from
        the same weights: comparisons across methods are paired."""
        return derive_seed("data", self.task, self.task_version, self.task_params, self.seed)

    @property
    def method_seed(self) -> int:
        """Seeds the method's own randomness (input noise of R3F/TRAM-x/TRAM-Fisher, dropout)."""
        return derive_seed("method", self.data_seed, self.method, self.hparams)

    @property
    def task_label(self) -> str:
        return self.label or self.task

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["analysis"] = list(self.analysis)
        d["run_id"] = self.run_id
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "RunSpec":
        d = dict(d)
        d.pop("run_id", None)
        d["analysis"] = tuple(d.get("analysis", ()))
        return cls(**d)
