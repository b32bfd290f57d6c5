"""The training loop for one grid cell: seed, build, step, select, evaluate, record.

Protocol (the same for every method, so comparisons are fair):
- every RNG is seeded from the cell: data order and head init from ``spec.data_seed`` (shared by all
  methods), the method's own noise and dropout from ``spec.method_seed``;
- the LR schedule drives ``method.optimizer`` (whose ``param_groups`` the two-pass optimizers share);
- the in-domain *validation* split is evaluated every ``eval_every`` steps and at the end, and is the
  only thing model selection ever looks at; test splits and other domains are evaluated only at the
  end, for the selected and for the final model;
- a non-finite loss or divergence stops the run as ``diverged``: a result, not a crash;
- the cost is the method's own: time spent building a cached asset (or waiting for another worker's
  build, ``tram_bench.util.files.ASSET_CLOCK``) is reported apart as ``asset_time_s`` and left out of
  every phase time and of ``wall_time_s``; ``peak_memory_mb`` is the run's own peak
  (``tram_bench.train.memory``), not the worker process's lifetime high-water mark;
- a failing analysis (sharpness, CKA) never discards the finished training run: the run stays ``ok``
  with its metric rows, and ``analysis_error`` says what failed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import random
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from tram_bench.suite.spec import RunSpec
from tram_bench.suite.train_rules import schedule_problem_at_start
from tram_bench.train import provenance, rundir
from tram_bench.train.memory import PeakMemory
from tram_bench.train.preload import prepare_process
from tram_bench.train.schedule import lr_multiplier
from tram_bench.train.tracking.mirror import MirroredLog
from tram_bench.util.files import ASSET_CLOCK

ProgressFn = Callable[[int, int, float], None]

# Consecutive GradScaler-skipped steps after which fp16 training is declared diverged.
MAX_CONSECUTIVE_SKIPS = 50


class ResultsWriteError(RuntimeError):
    """The results directory cannot be written (disk full, read-only, permissions): stop the grid."""


class Diverged(Exception):
    """Raised inside the loop when the loss or the trust-region divergence stops being finite."""


@dataclass
class Selection:
    rule: str
    higher_is_better: bool
    metric: str
    best: float | None = None
    step: int = 0
    state: dict[str, Any] | None = None
    history: list[tuple[int, float]] = field(default_factory=list)

    def offer(self, step: int, value: float, model) -> None:
        self.history.append((step, value))
        better = (
            self.best is None
            or (value > self.best if self.higher_is_better else value < self.best)
        )
        if self.rule == "final" or better:
            self.best, self.step = value, step
            # CPU copy: the selected weights must survive further training of the live model.
            self.state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


@dataclass
class Stopwatch:
    """Wall time of a phase of a run without the asset time spent inside it (``ASSET_CLOCK``)."""

    started: float
    asset_at_start: float

    @classmethod
    def start(cls) -> Stopwatch:
        return cls(time.perf_counter(), ASSET_CLOCK.seconds())

    def asset_s(self) -> float:
        """Seconds spent on not-ready assets since the start."""
        return ASSET_CLOCK.seconds() - self.asset_at_start

    def own_s(self) -> float:
        """Seconds since the start, less :meth:`asset_s`."""
        return time.perf_counter() - self.started - self.asset_s()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def split_batch(batch: Any, k: int) -> list[Any]:
    """Cut a batch (tensor, dict or tuple of tensors with a common first dim) into ``k`` micro-batches."""
    import torch

    if k == 1:
        return [batch]
    if isinstance(batch, torch.Tensor):
        return list(torch.chunk(batch, k, dim=0))
    if isinstance(batch, dict):
        parts = {key: split_batch(v, k) for key, v in batch.items()}
        return [{key: parts[key][i] for key in batch} for i in range(k)]
    if isinstance(batch, (list, tuple)):
        parts = [split_batch(v, k) for v in batch]
        return [type(batch)(p[i] for p in parts) for i in range(k)]
    raise TypeError(f"cannot split a batch of type {type(batch).__name__} for gradient accumulation")


def _batch_tokens(batch: Any) -> int | None:
    if isinstance(batch, dict):
        if "attention_mask" in batch:
            return int(batch["attention_mask"].sum())
        if "input_ids" in batch:
            return int(batch["input_ids"].numel())
    return None


def _batch_size(batch: Any) -> int:
    import torch

    if isinstance(batch, dict):
        batch = next(v for v in batch.values() if isinstance(v, torch.Tensor))
    elif isinstance(batch, (list, tuple)):
        batch = batch[0]
    return int(batch.shape[0])


def _endless(task, batch_size: int, generator) -> Iterator[Any]:
    while True:
        empty = True
        for batch in task.train_batches(batch_size, generator):
            empty = False
            yield batch
        if empty:
            raise ValueError(
                f"task {task.id} yields no training batch of size {batch_size} "
                f"({task.num_train_examples()} examples); lower train.batch_size"
            )


def _precision(precision: str, device_type: str):
    import torch

    if precision == "fp32":
        return None, None
    if precision == "bf16":
        return torch.bfloat16, None
    if precision == "fp16":
        return torch.float16, torch.amp.GradScaler(device_type)
    raise ValueError(f"unknown precision {precision!r} (expected fp32, bf16 or fp16)")


def evaluate_sets(task, model, eval_sets, checkpoint: str) -> list[rundir.MetricRow]:
    """One metric row per (evaluation set, metric the task reports), labelled ``checkpoint``. The
    direction comes from the task's ``MetricSpec``s: its primary metric and the loss; another metric a
    task reports takes its primary metric's direction."""
    from tram_bench.tasks.base import LOSS

    primary = task.primary_metric
    direction = {LOSS.name: LOSS.higher_is_better, primary.name: primary.higher_is_better}
    rows = []
    for es in eval_sets:
        for metric, value in task.evaluate(model, es).items():
            rows.append(rundir.MetricRow(
                checkpoint=checkpoint, domain=es.domain, split=es.split, metric=metric, value=float(value),
                in_domain=bool(es.in_domain), higher_is_better=direction.get(metric, primary.higher_is_better),
            ))
    return rows


def train_cell(spec: RunSpec, *, device: str = "cpu", progress: ProgressFn | None = None,
               log: list[rundir.LogRow] | None = None, tracebacks: list[str] | None = None) -> rundir.TrainResult:
    """Train and evaluate one cell; return what the record keeps of it. Raises on failure (``Diverged``
    for a non-finite loss, divergence or validation value).

    ``log`` receives the ``metrics.jsonl`` rows (``rundir.TrainRow`` / ``rundir.EvalRow``), serialised only
    by ``rundir.write_metrics_log``; ``tracebacks`` the tracebacks of analyses that
    failed (the run itself does not fail for them: see ``analysis_error`` in the result).
    """
    import torch

    from tram_bench.methods.base import StepContext
    from tram_bench.methods.registry import METHODS
    from tram_bench.tasks.base import LOSS
    from tram_bench.tasks.registry import TASKS

    log = log if log is not None else []
    tc = spec.train
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False

    setup_clock = Stopwatch.start()
    # The task's and method's modules are imported before the memory baseline is taken, so the first
    # run of a worker is not charged for them.
    task_cls = TASKS.get(spec.task)
    method_cls = METHODS.get(spec.method)
    memory = PeakMemory(dev)
    memory.start()
    seed_everything(spec.data_seed)
    task = task_cls(spec.task_params, seed=spec.data_seed, device=dev)
    model = task.build_model()
    model.train()

    trains = getattr(method_cls, "trains", True)
    seed_everything(spec.method_seed)
    if trains:
        method = method_cls(
            model, task.objective, spec.hparams, lr=tc.lr, weight_decay=tc.weight_decay,
            generator=torch.Generator().manual_seed(spec.method_seed),
        )
        optimizer = method.optimizer
        base_lrs = [g["lr"] for g in optimizer.param_groups]

    batch_size = tc.batch_size
    total = tc.length(task.num_train_examples()) if trains else 0
    # validate checked an epoch-based schedule only against the task's bound of its data size, or could
    # not (unknown size: it warned); with the data loaded, refuse an impossible schedule before any step.
    problem = schedule_problem_at_start(dataclasses.asdict(tc), task.num_train_examples()) if trains else None
    if problem:
        raise ValueError(f"task {spec.task_label}: {problem}")
    autocast_dtype, scaler = _precision(tc.precision, dev.type)
    ctx = StepContext(autocast_dtype=autocast_dtype, scaler=scaler, max_grad_norm=tc.max_grad_norm,
                      device_type=dev.type, total_steps=total)

    # Every evaluation uses the suite's eval_batch_size (results do not depend on it; memory does).
    eval_sets = [dataclasses.replace(es, batches=functools.partial(es.batches, tc.eval_batch_size))
                 for es in task.eval_sets()]
    selection_sets = [es for es in eval_sets if es.in_domain and es.split == "val"]
    if not selection_sets:
        raise ValueError(f"task {spec.task} has no in-domain validation split for model selection")
    rule = tc.selection
    primary = task.primary_metric
    chosen = LOSS if rule in ("val_loss", "final") else primary
    sel_metric, sel_hib = chosen.name, chosen.higher_is_better
    selection = Selection(rule=rule, higher_is_better=sel_hib, metric=sel_metric)

    def check_selection(step: int) -> None:
        rows = evaluate_sets(task, model, selection_sets, "selection")
        for r in rows:
            log.append(rundir.EvalRow(step, r.domain, r.split, r.metric, r.value))
        value = next(r.value for r in rows if r.metric == sel_metric)
        if not math.isfinite(value):
            raise Diverged(f"validation {sel_metric} is {value} at step {step}")
        selection.offer(step, value, model)

    setup_time = setup_clock.own_s()
    data_gen = torch.Generator().manual_seed(spec.data_seed)
    batches = _endless(task, batch_size, data_gen)
    fwd = bwd = fwd_examples = skips = consecutive_skips = 0
    examples = 0
    tokens: int | None = 0
    step_times: list[float] = []
    data_time = 0.0
    train_clock = Stopwatch.start()
    eval_time = 0.0
    for step in range(total):
        mult = lr_multiplier(step, total, tc.schedule, tc.warmup_steps, tc.poly_power)
        for g, lr0 in zip(optimizer.param_groups, base_lrs):
            g["lr"] = lr0 * mult
        t_data = time.perf_counter()
        batch = next(batches)
        data_time += time.perf_counter() - t_data  # the task's data loading, reported apart from the harness
        micro = split_batch(batch, tc.accumulation)
        t0 = time.perf_counter()
        stats = method.step(micro, ctx)
        step_times.append(time.perf_counter() - t0)
        fwd += stats.forward
        fwd_examples += stats.forward_examples
        bwd += stats.backward
        examples += _batch_size(batch)
        n_tok = _batch_tokens(batch)
        tokens = None if (tokens is None or n_tok is None) else tokens + n_tok
        if stats.skipped:
            skips += 1
            consecutive_skips += 1
            if consecutive_skips >= MAX_CONSECUTIVE_SKIPS:
                raise Diverged(f"{consecutive_skips} consecutive steps overflowed (GradScaler) at step {step + 1}")
        else:
            consecutive_skips = 0
            bad = {k: v for k, v in {"loss": stats.loss, **stats.extras}.items() if not math.isfinite(v)}
            if bad:
                raise Diverged(f"non-finite {', '.join(f'{k}={v}' for k, v in bad.items())} at step {step + 1}")
        log.append(rundir.TrainRow(step + 1, stats.loss, optimizer.param_groups[0]["lr"], stats.forward,
                                   stats.backward, stats.skipped,
                                   {k: float(v) for k, v in stats.extras.items()}))
        if progress is not None:
            progress(step + 1, total, stats.loss)
        if (step + 1) % tc.eval_every == 0 or step + 1 == total:
            eval_clock = Stopwatch.start()
            check_selection(step + 1)
            eval_time += eval_clock.own_s()
    if total == 0:  # zero-shot: the selected and final model is the pre-trained one
        check_selection(0)
    train_time = train_clock.own_s() - eval_time

    eval_clock = Stopwatch.start()
    metrics = evaluate_sets(task, model, eval_sets, "final")
    if selection.step == total:
        selected = [dataclasses.replace(r, checkpoint="selected") for r in metrics]
    else:
        model.load_state_dict(selection.state)  # the final model is not needed any more
        selected = evaluate_sets(task, model, eval_sets, "selected")
    eval_time += eval_clock.own_s()
    analysis_time = 0.0
    analysis_error = None
    if spec.analysis:
        from tram_bench.train.analysis_pass import analyse

        analysis_clock = Stopwatch.start()
        analysis = analyse(task, model, eval_sets, tuple(spec.analysis), tc)
        selected += analysis.rows
        analysis_error = analysis.error
        if tracebacks is not None:
            tracebacks += analysis.tracebacks
        analysis_time = analysis_clock.own_s()

    peak_mb = memory.peak_mb()
    step_time = sum(step_times) / len(step_times) if step_times else 0.0
    return rundir.TrainResult(
        steps=total, selected_step=selection.step, setup_time_s=setup_time, train_time_s=train_time,
        eval_time_s=eval_time, analysis_time_s=analysis_time, analysis_error=analysis_error,
        metrics=tuple(selected + metrics),
        cost=rundir.Cost(
            step_time_total_s=sum(step_times), data_time_total_s=data_time, forward=fwd,
            forward_examples=fwd_examples, backward=bwd, skipped_steps=skips, step_time_s=step_time,
            peak_memory_mb=peak_mb,
            examples_per_s=examples / max(train_time, 1e-9) if examples else None,
            tokens_per_s=tokens / max(train_time, 1e-9) if tokens else None,
        ),
        selection=rundir.SelectionLog(rule, sel_metric, tuple(selection.history)),
    )


def run_cell(spec: RunSpec, results: Path, *, device: str = "cpu", progress: ProgressFn | None = None,
             trackers: tuple[str, ...] = ()) -> rundir.RunRecord:
    """Run one cell and write its run directory. Returns the record written to ``record.json`` (the
    typed record: it is serialised only there and, by the executors, at process boundaries). Never raises for a failed run
    (it is recorded as ``failed`` with its traceback in ``error.txt``; an ``ok`` run whose analyses
    failed keeps theirs there); KeyboardInterrupt leaves the run pending.

    ``wall_time_s`` is the run's wall time less ``asset_time_s``, the seconds spent building cached
    assets or waiting for another worker's build (``tram_bench.util.files.ASSET_CLOCK``).

    ``trackers`` (names of ``tram_bench.train.tracking.choices.NAMES``) mirror the run's metrics rows live,
    with its spec and final record, into ``results/trackers/<name>``; they change nothing else."""
    run_dir = rundir.run_path(results, spec.run_id)
    try:
        rundir.start(run_dir, spec.to_json())
    except OSError as exc:
        raise ResultsWriteError(f"cannot write run directory {run_dir}: {exc.strerror or exc}; "
                                f"free space or fix permissions, or pass --results DIR") from None
    try:
        prepare_process(spec, device)
    except Exception:  # noqa: BLE001 - train_cell meets the same failure again and records it
        pass
    # Trackers start opening before the run's clock, each on its own thread, so that opening overlaps the
    # task's setup (after prepare_process: no tracker imports while the run's modules are being imported).
    log = MirroredLog.open(trackers, results, spec.to_json())
    started = _now()
    clock = Stopwatch.start()
    error_text = None
    error = None
    result = None
    tracebacks: list[str] = []
    try:
        result = train_cell(spec, device=device, progress=progress, log=log, tracebacks=tracebacks)
        status = rundir.Status.OK
        error_text = "\n".join(tracebacks) or None
    except KeyboardInterrupt:
        raise
    except Diverged as exc:
        status, error = rundir.Status.DIVERGED, str(exc)
    except Exception as exc:  # noqa: BLE001 - any failure of a run is a recorded result
        error_text = "".join(traceback.format_exception(exc))
        status, error = rundir.Status.FAILED, f"{type(exc).__name__}: {exc}"
    record = rundir.RunRecord(
        run_id=spec.run_id, spec=spec.to_json(), status=status, started_at=started, finished_at=_now(),
        wall_time_s=clock.own_s(), asset_time_s=clock.asset_s(),
        provenance=provenance.collect(device, spec.train.precision), error=error, result=result,
    )
    try:
        rundir.write_metrics_log(run_dir, log)
        rundir.finish(run_dir, record, error_text)
    except OSError as exc:
        # Nothing half-written: files are atomic and `done` is last, so this run is simply pending.
        raise ResultsWriteError(f"cannot write results of run {spec.run_id} to {run_dir}: {exc.strerror or exc}; "
                                f"free space or fix permissions, then rerun (finished runs are kept)") from None
    log.finish(record)
    return record

