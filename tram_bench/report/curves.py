"""Training curves of one run, read from its ``metrics.jsonl`` and decimated for a page.

``metrics.jsonl`` (docs/architecture.md, "Run directory") holds one JSON object per line: ``kind: train``
rows (``step``, ``loss``, ``lr``, and per method extras such as ``divergence`` (TRAM's d) and
``perturbation_norm`` (‖e‖)) and ``kind: eval`` rows (``step``, ``domain``, ``split``, ``metric``,
``value``). A curve keeps at most ``MAX_POINTS`` points (:func:`decimate`), so a page stays small
however long the run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tram_bench.store.query import StoreError

# "A few hundred points": more than a 700-pixel-wide chart can show apart, few enough to keep a run page
# at tens of kilobytes.
MAX_POINTS = 200
# Train-row keys drawn as curves, with their labels; any other numeric extra is listed, not drawn.
TRAIN_SERIES = {"loss": "training loss", "divergence": "d (trust-region divergence)",
                "perturbation_norm": "‖e‖ (perturbation norm)"}


class RunDataError(StoreError):
    """A run's ``metrics.jsonl`` that cannot be read: the message is one line naming file and line."""


@dataclass(frozen=True)
class Curve:
    """One decimated series: ``steps`` and ``values`` of equal length, ``n_raw`` points before decimation."""

    name: str
    steps: tuple[float, ...]
    values: tuple[float, ...]
    n_raw: int


@dataclass
class RunCurves:
    """The curves of one run: ``train`` keyed by train-row field (``TRAIN_SERIES`` keys present in the
    log), ``eval`` keyed by ``(split, metric, domain)``."""

    path: Path
    train: dict[str, Curve] = field(default_factory=dict)
    eval: dict[tuple[str, str, str], Curve] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.train and not self.eval


def decimate(steps: Sequence[float], values: Sequence[float], max_points: int = MAX_POINTS) -> tuple[list, list]:
    """At most ``max_points`` points of a series, deterministically: the series is cut into
    ``max_points // 2`` buckets of consecutive points and each bucket keeps its lowest and highest value
    (in step order), so spikes survive, and the first and last points are always kept. A series that
    fits is returned unchanged. Raises ValueError when the lengths differ or ``max_points < 4``."""
    if len(steps) != len(values):
        raise ValueError(f"{len(steps)} steps but {len(values)} values")
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    n = len(steps)
    if n <= max_points:
        return list(steps), list(values)
    buckets = (max_points - 2) // 2
    keep = {0, n - 1}
    for b in range(buckets):
        lo = 1 + (n - 2) * b // buckets
        hi = 1 + (n - 2) * (b + 1) // buckets
        idx = range(lo, hi)
        # NaN sorts nowhere: compare with it replaced, so a NaN point is kept only when the bucket is all NaN.
        def key(i: int) -> float:
            v = values[i]
            return v if isinstance(v, (int, float)) and math.isfinite(v) else math.inf
        keep.add(min(idx, key=key))
        keep.add(max(idx, key=lambda i: key(i) if key(i) != math.inf else -math.inf))
    order = sorted(keep)
    return [steps[i] for i in order], [values[i] for i in order]


def _curve(name: str, points: list[tuple[float, float]]) -> Curve:
    points.sort(key=lambda p: p[0])
    xs, ys = decimate([p[0] for p in points], [p[1] for p in points])
    return Curve(name, tuple(xs), tuple(ys), len(points))


def read_curves(metrics_path: Path) -> RunCurves:
    """The curves of one ``metrics.jsonl``; a missing file gives empty curves (a run that logged
    nothing). Raises RunDataError naming the file and line for a line that is not a JSON object."""
    out = RunCurves(metrics_path)
    if not metrics_path.is_file():
        return out
    train: dict[str, list[tuple[float, float]]] = {}
    evals: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    with metrics_path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RunDataError(f"{metrics_path}:{lineno}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise RunDataError(f"{metrics_path}:{lineno}: not a JSON object")
            step = row.get("step")
            if not isinstance(step, (int, float)) or isinstance(step, bool):
                continue  # a row without a step (a future kind) has no place on a step axis
            if row.get("kind") == "train":
                for key in TRAIN_SERIES:
                    v = row.get(key)
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        train.setdefault(key, []).append((step, float(v)))
            elif row.get("kind") == "eval" and isinstance(row.get("value"), (int, float)):
                key3 = (str(row.get("split")), str(row.get("metric")), str(row.get("domain")))
                evals.setdefault(key3, []).append((step, float(row["value"])))
    out.train = {k: _curve(TRAIN_SERIES[k], v) for k, v in train.items()}
    out.eval = {k: _curve(f"{k[2]} ({k[0]})", v) for k, v in sorted(evals.items())}
    return out


__all__ = ["Curve", "MAX_POINTS", "RunCurves", "RunDataError", "TRAIN_SERIES", "decimate", "read_curves"]
