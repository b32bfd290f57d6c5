"""What the golden files hold, computed from the current code (``tests/golden/test_golden.py``).

Two files pin behaviour that a refactoring must not change:

* ``cells.json``: ``run_id``, ``data_seed`` and ``method_seed`` of every cell of ``suites/*.yaml`` and
  ``suites/paper/*.yaml``, by suite file. A changed run id orphans existing results and caches.
* ``steps.json``: for every built-in method on the synthetic task under four training setups
  (``golden_suite.yaml``: plain fp32, gradient accumulation 2, gradient clipping, fp16 with a
  GradScaler whose steps 2 and 3 overflow), the per-step ``metrics.jsonl`` values (loss, TRAM's ``d``
  as ``divergence``, ``||e||`` as ``perturbation_norm``, lr, skipped, pass counts) and a sha256 of
  the final weights. Floats are stored as ``repr`` text, so equality is bitwise.

Regenerate (only when a change of results is intended, and say so in the commit):
``.venv/bin/python tests/golden/golden_support.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CELLS_FILE = HERE / "cells.json"
STEPS_FILE = HERE / "steps.json"
STEPS_SUITE = HERE / "golden_suite.yaml"
# The metrics.jsonl keys of a train line that the step file pins (the rest are timings).
TRAIN_KEYS = ("step", "loss", "lr", "divergence", "perturbation_norm", "forward", "backward", "skipped")


def suite_files() -> list[Path]:
    return sorted((REPO / "suites").glob("*.yaml")) + sorted((REPO / "suites" / "paper").glob("*.yaml"))


def cells() -> dict[str, list[list[Any]]]:
    """Suite file (relative to the repository) -> ``[label, method, run_id, data_seed, method_seed]`` per cell."""
    from tram_bench.suite.load import expand, load_suite

    out = {}
    for path in suite_files():
        out[str(path.relative_to(REPO))] = [
            [s.task_label, s.method, s.run_id, s.data_seed, s.method_seed] for s in expand(load_suite(path))
        ]
    return out


def _exact(value: Any) -> Any:
    return repr(value) if isinstance(value, float) else value


def weights_sha256(model) -> str:
    """sha256 over the state dict in key order: each key, dtype and the tensor's raw bytes."""
    import torch

    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.view(-1).view(dtype=torch.uint8).numpy().tobytes())
    return h.hexdigest()


class OverflowAt:
    """A task objective whose loss is infinite on chosen passes: step 2's first gradient pass and step 3's
    second (a two-pass method's pass 2; one-pass methods have none). Steps are told apart by the batch
    object, which every pass of one step shares (one micro-batch per step in the skip setup)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.batch = None
        self.step = 0
        self.grad_calls = 0

    def __call__(self, model, batch, noise=None):
        import torch

        out = self.inner(model, batch, noise)
        if not torch.is_grad_enabled():
            return out
        if batch is not self.batch:
            self.batch, self.step, self.grad_calls = batch, self.step + 1, 0
        self.grad_calls += 1
        if (self.step, self.grad_calls) in ((2, 1), (3, 2)):
            out.loss = out.loss * float("inf")
        return out


@contextlib.contextmanager
def _watched_synthetic(models: list, overflow: bool) -> Iterator[None]:
    """Record every model the synthetic task builds; with ``overflow``, wrap its objective in
    :class:`OverflowAt`."""
    from tram_bench.tasks.synthetic import SyntheticShiftTask

    build, objective = SyntheticShiftTask.build_model, SyntheticShiftTask.objective

    def recording_build(self):
        model = build(self)
        models.append(model)
        return model

    SyntheticShiftTask.build_model = recording_build
    if overflow:
        SyntheticShiftTask.objective = property(lambda self: OverflowAt(objective.fget(self)))
    try:
        yield
    finally:
        SyntheticShiftTask.build_model, SyntheticShiftTask.objective = build, objective


def steps() -> dict[str, dict[str, Any]]:
    """``"<setup>/<method>"`` -> ``{"train": [pinned values per step], "weights_sha256": ...}``."""
    from tram_bench.suite.load import expand, load_suite
    from tram_bench.train.loop import train_cell
    from tram_bench.util.files import single_threaded_torch

    out = {}
    with single_threaded_torch():
        for spec in expand(load_suite(STEPS_SUITE)):
            models: list = []
            log: list = []
            with _watched_synthetic(models, overflow=spec.task_label == "scaler-skip"):
                train_cell(spec, device="cpu", log=log)
            # Pinned as metrics.jsonl holds them (the rows' JSON form).
            lines = [row.to_json() for row in log]
            train = [[_exact(line.get(k)) for k in TRAIN_KEYS] for line in lines if line["kind"] == "train"]
            out[f"{spec.task_label}/{spec.method}"] = {"train": train, "weights_sha256": weights_sha256(models[-1])}
    return out


def write() -> None:
    CELLS_FILE.write_text(json.dumps(cells(), indent=1) + "\n")
    STEPS_FILE.write_text(json.dumps({"keys": list(TRAIN_KEYS), "runs": steps()}, indent=1) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    write()
