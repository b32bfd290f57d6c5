"""``tram-bench plan SUITE --cost``: memory, FLOPs and GPU-hours of a suite's cells, projected before launch.

Per distinct cell (architecture, input, precision, method; as ``tram-bench rehearse`` groups them) and for the
whole grid:

* memory at the suite's real per-device batch size, by part (``tram_bench.train.rehearsal.footprint``): weights,
  gradients, optimizer state, the two-pass step's saved weights, target copies, activations (the rehearsal's
  measured saved-activation bytes per example times the batch) and target logits;
* whether that fits the stated GPU (``tram_bench.train.rehearsal.gpus.GPUS``, or ``--tflops`` / ``--memory-gb``), keeping
  :data:`HEADROOM` of its memory for the CUDA context, the allocator's fragmentation and workspaces; a cell that
  does not fit says what would: the largest per-device batch that fits with gradient accumulation to the same
  batch, bf16 autocast for an fp32 suite (halves the activations; measured activations are at the suite's own
  precision), and gradient checkpointing where the model supports it;
* FLOPs per step from the method's pass counts: ``2 N`` per token for a forward pass and ``4 N`` for a backward
  pass over the ``N`` parameters (matrix products only; attention's ``T^2`` terms and the optimizer are left
  out), times tokens per example (patches + CLS for ViT) and the batch;
* GPU-hours: steps x FLOPs per step / (peak TFLOPs at the suite's precision x efficiency), per run and for the
  grid (every seed). ``--efficiency`` (default ``tram_bench.train.rehearsal.gpus.DEFAULT_EFFICIENCY``) is the share of the peak a run
  sustains; evaluation passes are not included.

Activation bytes come from an earlier ``tram-bench rehearse`` of the same suite (saved in the tram-bench cache,
``rehearsals/<suite>.json``); without one, the activation and logit parts are missing and the memory is a
lower bound (marked ``>=``). They are CPU measurements: see ``tram_bench.train.rehearsal.activations`` for why
they bound a GPU run's from above.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from tram_bench.train.rehearsal.gpus import Gpu
from tram_bench.train.rehearsal.footprint import MemoryProjection, method_footprint, project_memory
from tram_bench.train.rehearsal.measurements import Measurement, cell_key, load_measurements

HEADROOM = 0.1
GIB = 2**30


@dataclass(frozen=True)
class CellCost:
    """The projection of one distinct cell. ``runs``: grid cells it stands for (tasks x seeds); ``steps``: per
    run (None when a schedule in epochs has no known training-set size); ``memory`` at ``batch_size``;
    ``measured``: whether activations came from a rehearsal; ``advice``: what would make it fit ('' if it fits)."""

    cell: str
    method: str
    precision: str
    batch_size: int
    runs: int
    steps: int | None
    parameters: int | None
    memory: MemoryProjection | None
    measured: bool
    flops_per_step: float | None
    gpu_hours_per_run: float | None
    fits: bool | None
    advice: str = ""

    @property
    def gpu_hours(self) -> float | None:
        return None if self.gpu_hours_per_run is None else self.gpu_hours_per_run * self.runs


def flops_per_step(passes: tuple[int, int], parameters: int, tokens_per_example: int, batch_size: int) -> float:
    """``(2 F + 4 B) N x tokens x batch`` for ``F`` forward and ``B`` backward passes (module docstring)."""
    forward, backward = passes
    return (2 * forward + 4 * backward) * parameters * tokens_per_example * batch_size


def _fit_advice(fp, m: Measurement, batch: int, precision: str, budget: float) -> str:
    """What would make a cell that does not fit at ``batch`` fit in ``budget`` bytes."""
    per_example = m.activation_bytes_per_example + (m.logits_per_example * 4 if fp.target_logits else 0)
    fixed = project_memory(fp, parameters=m.parameters, trainable=m.trainable, batch_size=batch,
                           activation_bytes_per_example=0).total
    if fixed >= budget:
        return (f"weights and optimizer state alone need {fixed / GIB:.1f} GiB: a larger GPU, or shard them "
                f"(FSDP/ZeRO; not provided by tram-bench)")
    fitting = int((budget - fixed) // per_example) if per_example > 0 else batch
    tips = []
    if fitting >= 1:
        micro = max(d for d in range(1, fitting + 1) if batch % d == 0)
        tips.append(f"per-device batch {micro} with accumulation {batch // micro} (-O train.accumulation={batch // micro})")
    if precision == "fp32":
        tips.append("bf16 autocast (-O train.precision=bf16: about half the activations)")
    tips.append("gradient checkpointing (the transformers models support it; tram-bench does not switch it on)")
    return "; ".join(tips)


def project_cell(doc: dict[str, Any], m: Measurement | None, *, runs: int, steps: int | None, gpu: Gpu,
                 efficiency: float, name: str, staged) -> CellCost:
    """The :class:`CellCost` of one cell document (``RunSpec.to_json``) with its rehearsal measurement (or
    None)."""
    train = doc["train"]
    batch, precision = int(train["batch_size"]), str(train.get("precision", "fp32"))
    fp = method_footprint(doc["method"], doc["hparams"])
    if m is None:
        return _unmeasured(name, doc, fp, staged, runs=runs, steps=steps, gpu=gpu, efficiency=efficiency)
    memory = project_memory(fp, parameters=m.parameters, trainable=m.trainable, batch_size=batch,
                            activation_bytes_per_example=m.activation_bytes_per_example,
                            logits_per_example=m.logits_per_example)
    flops = flops_per_step(fp.passes, m.parameters, m.tokens_per_example, batch)
    budget = gpu.memory_gb * GIB * (1 - HEADROOM)
    fits = memory.total <= budget
    advice = "" if fits else _fit_advice(fp, m, batch, precision, budget)
    return CellCost(name, doc["method"], precision, batch, runs, steps, m.parameters, memory, True, flops,
                    _hours(steps, flops, gpu, precision, efficiency), fits, advice)


def _hours(steps: int | None, flops: float, gpu: Gpu, precision: str, efficiency: float) -> float | None:
    return None if steps is None else steps * flops / (gpu.tflops(precision) * 1e12 * efficiency) / 3600


def _unmeasured(name: str, doc: dict[str, Any], fp, staged, *, runs: int, steps: int | None, gpu: Gpu,
                efficiency: float) -> CellCost:
    """A cell without a rehearsal measurement: FLOPs and GPU-hours from the checkpoint's configuration, memory
    without activations (a lower bound, so no verdict on fitting)."""
    from tram_bench.train.rehearsal.checkpoints import CHECKPOINTS, parameter_count

    train = doc["train"]
    batch, precision = int(train["batch_size"]), str(train.get("precision", "fp32"))
    advice = "no rehearsal measurement of this cell: run `tram-bench rehearse` on this suite first"
    if staged.architecture not in CHECKPOINTS:
        return CellCost(name, doc["method"], precision, batch, runs, steps, None, None, False, None, None, None,
                        advice)
    n = parameter_count(staged.architecture, staged.classes)
    memory = project_memory(fp, parameters=n, batch_size=batch, activation_bytes_per_example=0)
    flops = flops_per_step(fp.passes, n, staged.tokens or 1, batch)
    return CellCost(name, doc["method"], precision, batch, runs, steps, n, memory, False, flops,
                    _hours(steps, flops, gpu, precision, efficiency), None, advice)


def project_suite(specs: Sequence[Any], measurements: dict[tuple, Measurement], *, gpu: Gpu,
                  efficiency: float, steps_of) -> list[CellCost]:
    """One :class:`CellCost` per distinct cell of ``specs`` (``RunSpec``), in suite order. ``steps_of(spec)``
    gives a run's optimizer steps (None if unknown). Raises ValueError for an efficiency outside (0, 1]."""
    from tram_bench.train.rehearsal.run import RehearsalCell
    from tram_bench.train.rehearsal.stages import Workdir, stage
    from pathlib import Path

    if not 0 < efficiency <= 1:
        raise ValueError(f"efficiency must be in (0, 1], got {efficiency}")
    groups: dict[tuple, list] = {}
    first: dict[tuple, tuple[dict, Any]] = {}
    dry = Workdir(Path("."), dry=True)
    for spec in specs:
        doc = spec.to_json()
        staged = stage(doc["task"], doc["task_params"], int(doc["train"]["batch_size"]), dry)
        key = cell_key(staged.architecture, staged.input, doc)
        groups.setdefault(key, []).append(spec)
        first.setdefault(key, (doc, staged))
    rows = []
    for key, members in groups.items():
        doc, staged = first[key]
        steps = [steps_of(s) for s in members]
        known = [s for s in steps if s is not None]
        rows.append(project_cell(doc, measurements.get(key), runs=len(members),
                                 steps=max(known) if len(known) == len(steps) else None, gpu=gpu,
                                 efficiency=efficiency, name=RehearsalCell(doc, staged).name, staged=staged))
    return rows


def gib(x: float | None) -> str:
    return "-" if x is None else f"{x / GIB:.1f}"


def cost_lines(suite: str, rows: Sequence[CellCost], gpu: Gpu, efficiency: float) -> list[str]:
    """The text of the cost section: one line per cell, then the grid's total (what ``plan --cost`` prints)."""
    lines = [f"cost ({suite}, projected for {gpu.name}: {gpu.memory_gb:g} GB, {gpu.bf16_tflops:g} bf16 / "
             f"{gpu.fp32_tflops:g} fp32 TFLOPs at {efficiency:.0%} efficiency; memory keeps {HEADROOM:.0%} headroom)"]
    for r in rows:
        if r.memory is None:
            lines.append(f"  {r.cell}: {r.advice}")
            continue
        m = r.memory
        bound = "" if r.measured else ">="
        parts = (f"weights {gib(m.weights)} + grads {gib(m.gradients)} + optimizer {gib(m.optimizer)} + saved "
                 f"{gib(m.saved_weights)} + targets {gib(m.targets)} + the larger of activations {gib(m.activations)} + "
                 f"target logits {gib(m.target_logits)} and transients {gib(m.transients)}")
        hours = "? GPU-h (steps unknown)" if r.gpu_hours is None else (
            f"{r.gpu_hours_per_run:.2f} GPU-h per run x {r.runs} = {r.gpu_hours:.1f} GPU-h")
        verdict = r.advice if r.fits is None else "fits" if r.fits else f"DOES NOT FIT; would fit with: {r.advice}"
        lines.append(f"  {r.cell}: batch {r.batch_size} {r.precision}: {bound}{gib(m.total)} GiB ({parts}); "
                     f"{r.flops_per_step / 1e12:.1f} TFLOP/step; {hours}; {verdict}")
    known = [r.gpu_hours for r in rows if r.gpu_hours is not None]
    missing = len(rows) - len(known)
    total = sum(known)
    lines.append(f"grid: {sum(r.runs for r in rows)} runs, {total:,.0f} GPU-hours on {gpu.name}"
                 + (f" (+ {missing} cells not projected)" if missing else "")
                 + f"; {sum(1 for r in rows if r.fits is False)} of {len(rows)} distinct cells do not fit")
    return lines


def run_steps_of(spec: Any) -> int | None:
    """Optimizer steps of one run of ``spec`` (``RunSpec``): ``train.steps``, or with ``train.epochs`` the
    training loop's rule on the task's documented training-set size (None when the task cannot bound it)."""
    from tram_bench.tasks.registry import TASKS

    doc = spec.to_json()
    train = doc["train"]
    if not train.get("epochs"):
        return int(train["steps"])
    task_cls = TASKS.get(doc["task"])
    params = spec.task_params if not isinstance(spec.task_params, dict) else task_cls.Params(**spec.task_params)
    n = task_cls.train_examples_bound(params)
    if n is None:
        return None
    return max(1, int(round(train["epochs"] * max(1, n // int(train["batch_size"])))))


def cost_section(suite: str, specs: Sequence[Any], *, gpu: Gpu, efficiency: float, design: Any = None) -> list[str]:
    """The lines ``plan --cost`` prints for ``specs`` (with the suite's saved rehearsal measurements), and with
    the suite's ``design``, the seeds and GPU-hours of a run that can reach alpha (:func:`powered_line`)."""
    rows = project_suite(specs, load_measurements(suite), gpu=gpu, efficiency=efficiency, steps_of=run_steps_of)
    lines = cost_lines(suite, rows, gpu, efficiency)
    return lines + ([powered_line(design, rows, gpu)] if design is not None else [])


def powered_line(design: Any, rows: Sequence[CellCost], gpu: Gpu) -> str:
    """How many seeds the suite's tests need before they can reach alpha at all, and the grid's GPU-hours at that
    many seeds. ``design``: the suite's ``SuiteDesign`` (per task its m comparisons, seeds and alpha).

    The floor of the exact Wilcoxon test is ``2 / 2**n`` (:func:`tram_bench.stats.paired.min_attainable_p`), so
    with Holm over m comparisons no result can be significant below ``n = log2(2 m / alpha)`` seeds; 80% power
    for a given effect needs more (the power section's "seeds needed", once earlier runs give the SD)."""
    from tram_bench.stats.paired import min_attainable_p

    floors = []
    for t in design.tasks:
        n = 1
        while min_attainable_p(n, max(t.comparisons, 1)) >= design.alpha:
            n += 1
        floors.append((n, len(t.seeds), t.comparisons))
    if not floors:
        return "powered: no task has a baseline to compare with"
    need = max(n for n, _, _ in floors)
    have = max(k for _, k, _ in floors)
    hours = sum(r.gpu_hours for r in rows if r.gpu_hours is not None)
    ms = "/".join(str(m) for m in sorted({m for _, _, m in floors}))
    text = (f"powered: with Holm over m = {ms} comparisons at alpha {design.alpha:g}, the exact test can reach alpha "
            f"only from {need} seeds per task (this suite has {have})")
    if need > have and have > 0:
        text += f"; the grid at {need} seeds: {hours * need / have:,.0f} GPU-hours on {gpu.name}"
    return text + "; 80% power for a given effect needs the seeds of the power section (from earlier runs' SD)"
