"""What a rehearsal measured, kept per suite in the tram-bench cache for ``tram-bench plan --cost``.

File: ``<cache>/rehearsals/<suite>.json`` (the asset cache of ``tram_bench.util.files.cache_root``, never the
results directory), a list of :class:`Measurement` objects. Each full-size rehearsal saves every cell as it
finishes, replacing that cell's earlier row and keeping the others, so an interrupted rehearsal or one limited
by ``--only`` keeps what it measured (``--tiny`` rehearsals are not saved: their sizes are not the suite's).
Cells are matched by :func:`cell_key`: architecture, input, precision, method id and hyperparameters.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from tram_bench.util.files import atomic_write_json, cache_root


@dataclass(frozen=True)
class Measurement:
    """One rehearsal cell's measured facts.

    architecture / input / precision / method / hparams: the cell (:func:`cell_key`); parameters / trainable:
    counts; activation_bytes_per_example: saved-for-backward bytes per example (peak over the run);
    logits_per_example: positions x classes of one example's output; tokens_per_example: sequence positions
    (ViT: patches + CLS); attention: transformers' attention implementation; device: where it was measured.
    """

    architecture: str
    input: str
    precision: str
    method: str
    hparams: str
    parameters: int
    trainable: int
    activation_bytes_per_example: float
    logits_per_example: int
    tokens_per_example: int
    attention: str
    device: str

    @property
    def key(self) -> tuple:
        return (self.architecture, self.input, self.precision, self.method, self.hparams)


def cell_key(architecture: str, input: str, doc: dict[str, Any]) -> tuple:
    """The identity of a distinct cell from a cell document (``RunSpec.to_json``) and its staged shape."""
    return (architecture, input, str(doc["train"].get("precision", "fp32")), doc["method"],
            json.dumps(doc["hparams"], sort_keys=True))


def measurements_path(suite: str) -> Path:
    return cache_root() / "rehearsals" / f"{suite}.json"


def save_measurements(suite: str, rows: list[Measurement]) -> Path:
    """Write ``rows`` as the suite's measurements (atomically); returns the file."""
    return _write(measurements_path(suite), rows)


def add_measurement(path: Path, row: Measurement) -> Path:
    """Save ``row`` into the measurement file ``path`` (:func:`measurements_path`, resolved by the caller before
    the rehearsal switches to its private caches): it replaces the row of the same cell (:func:`cell_key`),
    every other cell's row is kept. Returns ``path``; ValueError as :func:`load_measurements`."""
    kept = _read(path)
    kept[row.key] = row
    return _write(path, list(kept.values()))


def _write(path: Path, rows: list[Measurement]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, [asdict(m) for m in rows])
    return path


def load_measurements(suite: str) -> dict[tuple, Measurement]:
    """The suite's saved measurements by :func:`cell_key` (empty if none were saved). Raises ValueError naming
    the file when it is not a list of measurements."""
    return _read(measurements_path(suite))


def _read(path: Path) -> dict[tuple, Measurement]:
    if not path.exists():
        return {}
    names = {f.name for f in fields(Measurement)}
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        found = [Measurement(**{k: v for k, v in item.items() if k in names}) for item in items]
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a rehearsal measurement file ({exc}); delete it and rehearse again") from None
    return {m.key: m for m in found}
