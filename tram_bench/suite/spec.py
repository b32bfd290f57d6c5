"""A fully resolved grid cell: what one run is (typed), and its identity (its JSON document).

Two forms of one cell:

* :class:`RunSpec`: the typed cell that commands and the training loop use: the task's ``Params``
  instance, a :class:`~tram_bench.tasks.train_setup.TrainSetup`, the method's ``Hparams`` instance.
  The suite is resolved into these once (``tram_bench.suite.resolve``); nothing downstream rebuilds
  them from dicts.
* :class:`CellDoc`: the same cell as plain JSON values, as the run directory (``spec.json``, the
  record's ``spec``), the plan file and the worker queues hold it. The run id and the derived seeds
  are computed from this form, so they never depend on Python types (``1`` and ``1.0``, a tuple and a
  list give the same id); readers of results (the collector) use it without importing any task or
  method.

``RunSpec.to_json`` / ``RunSpec.from_json`` are the one codec between them.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, Mapping

from typing import TYPE_CHECKING

from tram_bench.suite.fieldtypes import coerce, field_infos, to_jsonable
from tram_bench.util.hashing import derive_seed, stable_hash

if TYPE_CHECKING:  # imported where a document is decoded: readers of documents stay free of tram_bench.tasks
    from tram_bench.tasks.train_setup import TrainSetup


@dataclass(frozen=True)
class CellDoc:
    """One cell as JSON documents hold it: every value plain (dicts, lists, numbers, strings).

    The run id hashes everything that changes the result: task id, version and params, the training
    setup, method id, version and hyperparameters, the replicate seed and the enabled analyses.
    The suite name and the display label are *not* part of it: the same cell in two suites is the
    same run.
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
    # What readers of results group by without importing the task or method: the task class's
    # ``family`` and the method class's ``kind`` (tram_bench.methods.kinds). Descriptions, not
    # identity: "" in documents written before they existed (the collector resolves those once).
    task_family: str = field(default="", compare=False)
    method_kind: str = field(default="", compare=False)

    def identity(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for description in ("suite", "label", "task_family", "method_kind"):
            d.pop(description)
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

    @property
    def doc(self) -> "CellDoc":
        """Itself: code that reads documents (plan files, designs) takes a RunSpec's ``doc`` or this."""
        return self

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["analysis"] = list(self.analysis)
        d["run_id"] = self.run_id
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "CellDoc":
        """Raises TypeError for missing or unknown keys (a malformed document)."""
        d = dict(d)
        d.pop("run_id", None)
        d["analysis"] = tuple(d.get("analysis", ()))
        return cls(**d)


@dataclass(frozen=True)
class RunSpec:
    """One cell of a suite's grid, every value resolved (defaults filled in) and typed.

    task_params: an instance of the task class's ``Params`` (``None`` for a task without params).
    train: the run's :class:`TrainSetup`.
    hparams: an instance of the method class's ``Hparams``.
    Identity (``run_id``, ``data_seed``, ``method_seed``) comes from :attr:`doc`.
    """

    suite: str
    task: str
    task_version: str
    task_params: Any
    train: TrainSetup
    method: str
    method_version: str
    hparams: Any
    seed: int
    analysis: tuple[str, ...] = ()
    label: str = field(default="", compare=False)
    task_family: str = field(default="", compare=False)  # the task class's ``family``
    method_kind: str = field(default="", compare=False)  # the method class's ``kind``

    @functools.cached_property
    def doc(self) -> CellDoc:
        """This cell as plain JSON values (computed once)."""
        return CellDoc(
            suite=self.suite, task=self.task, task_version=self.task_version,
            task_params={} if self.task_params is None else to_jsonable(self.task_params),
            train=to_jsonable(self.train), method=self.method, method_version=self.method_version,
            hparams=to_jsonable(self.hparams), seed=self.seed, analysis=tuple(self.analysis), label=self.label,
            task_family=self.task_family, method_kind=self.method_kind,
        )

    @property
    def run_id(self) -> str:
        return self.doc.run_id

    @property
    def data_seed(self) -> int:
        return self.doc.data_seed

    @property
    def method_seed(self) -> int:
        return self.doc.method_seed

    @property
    def task_label(self) -> str:
        return self.label or self.task

    def to_json(self) -> dict[str, Any]:
        return self.doc.to_json()

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "RunSpec":
        """The typed cell of a JSON document: the task and method classes come from their registries
        (importing their modules) and every value is checked against its field's annotation.
        Raises TypeError/ValueError for a malformed document, ``RegistryError`` for an unknown id."""
        return typed(CellDoc.from_json(d))


# Field annotations are resolved once per class (typing.get_type_hints is the slow part of decoding).
_field_infos = functools.lru_cache(maxsize=None)(field_infos)


def _instance(cls: type | None, values: Mapping[str, Any]) -> Any:
    if cls is None:
        if values:
            raise TypeError(f"takes no params, got {sorted(values)}")
        return None
    infos = _field_infos(cls)
    unknown = sorted(set(values) - set(infos))
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(unknown)}")
    return cls(**{k: coerce(v, infos[k].type) for k, v in values.items()})


def typed(doc: CellDoc) -> RunSpec:
    """The :class:`RunSpec` of a document (see :meth:`RunSpec.from_json`)."""
    from tram_bench.methods.registry import METHODS
    from tram_bench.tasks.registry import TASKS
    from tram_bench.tasks.train_setup import TrainSetup

    task_cls, method_cls = TASKS.get(doc.task), METHODS.get(doc.method)
    return RunSpec(
        suite=doc.suite, task=doc.task, task_version=doc.task_version,
        task_params=_instance(getattr(task_cls, "Params", None), doc.task_params),
        train=_instance(TrainSetup, doc.train), method=doc.method, method_version=doc.method_version,
        hparams=_instance(method_cls.Hparams, doc.hparams), seed=doc.seed, analysis=tuple(doc.analysis),
        label=doc.label, **descriptions(task_cls, method_cls),
    )


def descriptions(task_cls: type, method_cls: type) -> dict[str, str]:
    """The cell's ``task_family`` and ``method_kind``, read from the classes (a plugin class without
    them gets "" and ``Method.kind``'s default)."""
    return {"task_family": str(getattr(task_cls, "family", "") or ""), "method_kind": str(method_cls.kind)}
