"""The trackers ``--tracker`` offers: the optional extra each needs, where its files go, opening one for a run.

Every tracker writes locally, under the results directory, and never reaches a network:

| name | files (under ``results/trackers/<name>/``) | extra |
|---|---|---|
| ``tensorboard`` | event files, one directory per run (``<task label>/<method>/seed<seed>/<run id>/``) | ``tracking-tensorboard`` |
| ``mlflow`` | MLflow's file store (``file:`` URI) ``mlruns/``, one experiment per suite | ``tracking-mlflow`` |
| ``trackio`` | trackio's local store (``TRACKIO_DIR``): ``<suite>.db`` | ``tracking-trackio`` |
| ``wandb`` | W&B offline runs, ``wandb/offline-run-<time>-<run id>/`` | ``tracking-wandb`` |

Nothing here imports a tracker's library: :func:`check_installed` only asks whether it can be imported
(``tram-bench run`` calls it before writing anything), and an adapter imports its library when a run
opens it.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from tram_bench.train.tracking.contract import TrackedRun, Tracker

TRACKERS_DIR = "trackers"


@dataclass(frozen=True)
class TrackerKind:
    """name: the ``--tracker`` value; distribution: the PyPI package that provides it; module: the import
    that must succeed; adapter: ``module:Class`` of the adapter in this package."""

    name: str
    distribution: str
    module: str
    adapter: str

    @property
    def extra(self) -> str:
        """The optional extra of ``pyproject.toml`` that installs this tracker."""
        return f"tracking-{self.name}"

    def root(self, results: Path) -> Path:
        """This tracker's directory: ``<results>/trackers/<name>``."""
        return Path(results) / TRACKERS_DIR / self.name

    def installed(self) -> bool:
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):  # a parent package missing, or a module entry set to None
            return False


_PKG = "tram_bench.train.tracking"
KINDS: dict[str, TrackerKind] = {k.name: k for k in (
    TrackerKind("tensorboard", "tensorboard", "tensorboard", f"{_PKG}.tensorboard_events:TensorBoardTracker"),
    TrackerKind("mlflow", "mlflow-skinny", "mlflow", f"{_PKG}.mlflow_filestore:MlflowTracker"),
    TrackerKind("trackio", "trackio", "trackio", f"{_PKG}.trackio_local:TrackioTracker"),
    TrackerKind("wandb", "wandb", "wandb", f"{_PKG}.wandb_offline:WandbTracker"),
)}
NAMES: tuple[str, ...] = tuple(KINDS)


class MissingTracker(RuntimeError):
    """A ``--tracker`` whose library is not installed; the message is one line naming what to install."""


def unique(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` in their first order, each once (``--tracker wandb --tracker wandb`` opens one).
    Raises ValueError for a name that is not in :data:`NAMES`."""
    out: list[str] = []
    for name in names:
        if name not in KINDS:
            raise ValueError(f"unknown tracker {name!r} (choose from {', '.join(NAMES)})")
        if name not in out:
            out.append(name)
    return tuple(out)


def check_installed(names: Iterable[str]) -> None:
    """Raise :class:`MissingTracker` for the first of ``names`` whose library cannot be imported."""
    for name in unique(names):
        kind = KINDS[name]
        if not kind.installed():
            raise MissingTracker(f"--tracker {name} needs the {kind.distribution} package, which is not installed: "
                                 f"pip install 'tram-bench[{kind.extra}]'")


def open_tracker(name: str, results: Path, run: TrackedRun) -> Tracker:
    """Build the adapter of tracker ``name`` for ``run``, its files under ``<results>/trackers/<name>``.
    Raises whatever the tracker's library raises (the caller decides what a failure costs the run)."""
    kind = KINDS[name]
    module, _, cls = kind.adapter.partition(":")
    return getattr(importlib.import_module(module), cls)(kind.root(results), run)
