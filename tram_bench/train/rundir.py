"""The run-directory format: the only thing workers write, and what the collector reads.

``results/runs/<run_id>/`` holds ``spec.json`` (first), ``metrics.jsonl``, ``record.json`` and last a
``done`` marker whose content is the status. Every file is written atomically. A directory without
``done`` is pending (a run that was killed): the next ``run`` starts it again from scratch.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from tram_bench.util.files import atomic_write_json, atomic_write_text

DONE = "done"
SPEC = "spec.json"
RECORD = "record.json"
METRICS = "metrics.jsonl"
ERROR = "error.txt"

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_DIVERGED = "diverged"
STATUS_PENDING = "pending"
FINISHED = (STATUS_OK, STATUS_FAILED, STATUS_DIVERGED)


def runs_root(results: Path) -> Path:
    return Path(results) / "runs"


def run_path(results: Path, run_id: str) -> Path:
    return runs_root(results) / run_id


def status(results: Path, run_id: str) -> str:
    """``ok``, ``failed``, ``diverged`` (finished: a ``done`` marker exists) or ``pending``."""
    marker = run_path(results, run_id) / DONE
    try:
        text = marker.read_text().strip()
    except FileNotFoundError:
        return STATUS_PENDING
    return text if text in FINISHED else STATUS_PENDING


def start(run_dir: Path, spec_json: dict[str, Any]) -> None:
    """Begin (or restart) a run: clear any previous attempt's marker first, then write the spec."""
    run_dir.mkdir(parents=True, exist_ok=True)
    # The marker goes first: if we die anywhere after this, the run is pending, never stale-done.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(run_dir / DONE)
    for name in (RECORD, ERROR, METRICS):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(run_dir / name)
    atomic_write_json(run_dir / SPEC, spec_json)


def write_metrics_log(run_dir: Path, lines: list[dict[str, Any]]) -> None:
    atomic_write_text(run_dir / METRICS, "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))


def finish(run_dir: Path, record: dict[str, Any], error_text: str | None = None) -> None:
    """Write the error (if any), the record, then the ``done`` marker, in that order."""
    if error_text is not None:
        atomic_write_text(run_dir / ERROR, error_text)
    atomic_write_json(run_dir / RECORD, record)
    atomic_write_text(run_dir / DONE, record["status"] + "\n")


def read_record(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / RECORD).read_text())
