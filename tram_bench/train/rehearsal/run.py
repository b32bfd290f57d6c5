"""``tram-bench rehearse``: one short run per distinct (architecture, input, method) cell of a suite, at real size.

Each rehearsal cell is a cell of the suite whose task parameters point at generated data and a random-weight
checkpoint (:mod:`.stages`), and whose training is cut to ``steps`` steps of ``batch_size`` examples with
evaluation sets capped at two batches of ``batch_size``. It then runs through the training loop's own
:func:`tram_bench.train.loop.train_cell` (methods, targets, divergences over the real vocabulary, evaluation,
selection, the suite's analyses), with the asset cache and the ``datasets`` cache in a temporary folder, so
nothing is written into the user's results or caches.

Per cell it reports parameters, forward/backward passes per step, the mean step time, the run's peak memory
(``cost.peak_memory_mb``: peak RSS growth on a CPU, peak allocated on CUDA) and the saved-activation bytes per
example (:class:`.activations.SavedBytes`, at the suite's precision). A cell whose weights and optimizer state
alone would not fit in this machine's memory is not run: its memory projection is reported instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from tram_bench.suite.spec import RunSpec
from tram_bench.train.rehearsal.activations import SavedBytes
from tram_bench.train.rehearsal.footprint import MemoryProjection, method_footprint, project_memory
from tram_bench.train.rehearsal.measurements import Measurement, cell_key
from tram_bench.train.rehearsal.stages import EVAL_BATCHES, Staged, Workdir, stage

_SHARED_HPARAMS = ("base", "betas", "momentum", "nesterov", "eps")
DEFAULT_STEPS = 2
DEFAULT_BATCH = 2
# Share of this machine's memory that weights and optimizer state may take before a cell is skipped: the
# rest is for activations, the interpreter and the page cache.
FIT_SHARE = 0.8


@dataclass(frozen=True)
class RehearsalCell:
    """One distinct cell: its suite cell (the first of its kind) as a JSON document (``RunSpec.to_json``, the
    stable form of a cell) and what stands in for the hub."""

    doc: dict[str, Any]
    staged: Staged

    @property
    def name(self) -> str:
        d = self.doc
        # The base optimizer's settings are shared by every method of a paper suite: only what differs.
        hp = ",".join(f"{k}={v}" for k, v in sorted(d["hparams"].items()) if k not in _SHARED_HPARAMS)
        return f"{d.get('label') or d['task']}/{d['method']}" + (f"[{hp}]" if hp else "")


@dataclass
class RehearsalRow:
    """What one rehearsal cell measured. ``error``: one line when it failed; ``projection``: set when it was
    skipped for memory (then nothing was run)."""

    cell: str
    architecture: str
    input: str
    precision: str
    parameters: int | None = None
    attention: str = "-"
    forward: float | None = None
    backward: float | None = None
    step_time_s: float | None = None
    peak_memory_mb: float | None = None
    activation_bytes_per_example: float | None = None
    seconds: float = 0.0
    error: str | None = None
    projection: MemoryProjection | None = None
    measurement: Measurement | None = None


def distinct_cells(specs: Sequence[RunSpec], batch_size: int, tiny: bool = False) -> list[RehearsalCell]:
    """The first cell of each (architecture, input, precision, method, hyperparameters) of ``specs``."""
    dry = Workdir(Path("."), tiny=tiny, dry=True)
    seen: dict[tuple, RehearsalCell] = {}
    for spec in specs:
        doc = spec.to_json()
        try:
            staged = stage(doc["task"], doc["task_params"], batch_size, dry)
        except (KeyError, ValueError, TypeError):
            # Staging it for real fails the same way, and the cell's row says so in one line.
            staged = Staged(architecture=f"{doc['task']}?", input=json.dumps(doc["task_params"], sort_keys=True))
        seen.setdefault(cell_key(staged.architecture, staged.input, doc), RehearsalCell(doc, staged))
    return list(seen.values())


def rehearsal_spec(doc: dict[str, Any], staged: Staged, steps: int, batch_size: int) -> RunSpec:
    """The cell ``doc`` on the staged data, cut to ``steps`` steps of ``batch_size``; the rest is the suite's."""
    train = dict(doc["train"])
    accumulation = train.get("accumulation") or 1
    train.update(steps=steps, epochs=None, batch_size=batch_size, eval_batch_size=batch_size, eval_every=steps,
                 warmup_steps=0, accumulation=accumulation if batch_size % accumulation == 0 else 1)
    new = {**doc, "task_params": {**doc["task_params"], **staged.params}, "train": train}
    return RunSpec.from_json(new)


@contextlib.contextmanager
def private_caches(root: Path) -> Iterator[None]:
    """Point tram-bench's asset cache and the ``datasets`` cache into ``root`` for the duration."""
    env = {"TRAM_BENCH_CACHE": str(root / "tram-bench"), "HF_DATASETS_CACHE": str(root / "datasets")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    patched = None
    try:
        import datasets.config as dsc  # read at import time: patch the module too

        patched = dsc.HF_DATASETS_CACHE
        dsc.HF_DATASETS_CACHE = Path(env["HF_DATASETS_CACHE"])
    except ImportError:
        pass
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if patched is not None:
            import datasets.config as dsc

            dsc.HF_DATASETS_CACHE = patched


def model_facts(cell: RehearsalCell, staged: Staged, tiny: bool) -> tuple[int, int, str]:
    """(parameters, trainable parameters, attention implementation) of the cell's model: for a paper checkpoint
    built on the meta device from its configuration (no memory, nothing staged yet, so that a cell too large for
    this machine is never written out), otherwise by the task itself from its parameters."""
    if staged.params:
        from tram_bench.train.rehearsal.checkpoints import meta_model

        model = meta_model(staged.architecture, staged.classes, tiny=tiny)
        attention = str(getattr(model.config, "_attn_implementation", None) or "eager")
    else:
        from tram_bench.tasks.registry import TASKS

        task_cls = TASKS.get(cell.doc["task"])
        model = task_cls(task_cls.Params(**cell.doc["task_params"]), seed=0).build_model()
        attention = "-"
    n = sum(p.numel() for p in model.parameters())
    return n, sum(p.numel() for p in model.parameters() if p.requires_grad), attention


def machine_memory_bytes() -> int:
    """This machine's physical memory (``os.sysconf``)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def rehearse_cell(cell: RehearsalCell, work: Workdir, *, steps: int, batch_size: int, device: str,
                  memory_limit: float) -> RehearsalRow:
    """Stage and run one cell; never raises for the cell's own failure (``row.error`` holds it)."""
    from tram_bench.train.loop import train_cell

    started = time.perf_counter()
    doc = cell.doc
    row = RehearsalRow(cell=cell.name, architecture=cell.staged.architecture, input=cell.staged.input,
                       precision=str(doc["train"].get("precision", "fp32")))
    try:
        # Named first (nothing written), so that a cell projected not to fit is skipped before its checkpoint
        # (6 GB for GPT2-XL) and data are generated; an unknown checkpoint fails here, naming itself.
        planned = stage(doc["task"], doc["task_params"], batch_size, work.dry_run())
        row.parameters, trainable, row.attention = model_facts(cell, planned, work.tiny)
        fp = method_footprint(doc["method"], doc["hparams"])
        states = project_memory(fp, parameters=row.parameters, trainable=trainable, batch_size=batch_size,
                                activation_bytes_per_example=0)
        if states.total > memory_limit:
            row.projection = states
            return row
        staged = stage(doc["task"], doc["task_params"], batch_size, work)
        run_spec = rehearsal_spec(doc, staged, steps, batch_size)
        with SavedBytes() as saved:
            result = train_cell(run_spec, device=device)
        cost = result.cost
        taken = max(result.steps, 1)
        row.forward, row.backward = cost.forward / taken, cost.backward / taken
        row.step_time_s = cost.step_time_s
        row.peak_memory_mb = cost.peak_memory_mb
        row.activation_bytes_per_example = saved.peak / batch_size
        row.measurement = Measurement(
            architecture=cell.staged.architecture, input=cell.staged.input, precision=row.precision,
            method=doc["method"], hparams=json.dumps(doc["hparams"], sort_keys=True), parameters=row.parameters,
            trainable=trainable, activation_bytes_per_example=row.activation_bytes_per_example,
            logits_per_example=staged.logits_per_example, tokens_per_example=staged.tokens or 1,
            attention=row.attention, device=device)
    except Exception as exc:  # noqa: BLE001 - a failed cell is one line of the report
        row.error = one_line(exc)
    finally:
        row.seconds = time.perf_counter() - started
    return row


def rehearse(specs: Sequence[RunSpec], *, steps: int = DEFAULT_STEPS, batch_size: int = DEFAULT_BATCH,
             device: str = "cpu", tiny: bool = False, memory_limit: float | None = None, threads: int | None = None,
             on_row=None) -> list[RehearsalRow]:
    """Rehearse every distinct cell of ``specs`` (module docstring) in a temporary folder, removed afterwards.

    ``memory_limit``: bytes that weights and optimizer state may take (default :data:`FIT_SHARE` of this
    machine's memory); ``threads``: torch's CPU threads for the rehearsal (restored afterwards; None keeps the
    current setting); ``on_row(row)`` is called as each cell finishes. Raises ValueError for ``steps``,
    ``batch_size`` or ``threads`` below 1."""
    import torch

    if steps < 1 or batch_size < 1 or (threads is not None and threads < 1):
        raise ValueError(f"steps, batch_size and threads must be >= 1, got {steps}, {batch_size} and {threads}")
    limit = FIT_SHARE * machine_memory_bytes() if memory_limit is None else memory_limit
    rows = []
    before = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="tram-bench-rehearse-") as tmp, private_caches(Path(tmp) / "cache"):
        _quiet_transformers()
        work = Workdir(Path(tmp) / "staged", tiny=tiny)
        try:
            torch.set_num_threads(threads or before)
            for cell in distinct_cells(specs, batch_size, tiny):
                row = rehearse_cell(cell, work, steps=steps, batch_size=batch_size, device=device,
                                    memory_limit=limit)
                rows.append(row)
                if on_row is not None:
                    on_row(row)
        finally:
            torch.set_num_threads(before)
    return rows


def _quiet_transformers() -> None:
    # Progress bars of weight loading and saving would drown the table.
    with contextlib.suppress(ImportError):
        import transformers

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
    with contextlib.suppress(ImportError):
        import datasets

        datasets.disable_progress_bars()


__all__ = ["EVAL_BATCHES", "RehearsalCell", "RehearsalRow", "distinct_cells", "rehearse", "rehearsal_spec"]
