"""GPU acceptance checks for a lent device: every method's CUDA path, real-size paper models, GPU workers.

Checks, each run on its own (a failure is recorded as FAIL with its one-line error and the next check runs):

* ``methods/<id>``: every built-in method id through tram-bench's own training step (``Method.step`` with the
  training loop's ``StepContext``) on two small models (benchmarks/step_cost.py's CNN with BatchNorm and SGD
  base, and its 2-layer transformer with Adam base), in fp32, bf16 autocast and fp16 autocast with a
  ``GradScaler``. Passes when every step reports the method's declared forward/backward passes, the losses
  and weights stay finite, the weights move, and fp16 skips at most one step per model (the scaler's first
  scale may overflow).
* ``<arch>/<id>``: a real-size step of each paper architecture, built from the exact configuration of the
  paper's checkpoint (the table of tram_bench/train/rehearsal/checkpoints.py, which ``tram-bench rehearse``
  builds from too) with random weights (no hub): ViT-B/16 at 224 px (google/vit-base-patch16-224, through
  the vision tasks' ``ViTClassifier``), GPT-2 base at 1024 tokens (openai-community/gpt2, the M2D2 task's
  causal-LM objective) and XLM-R base at 128 tokens (FacebookAI/xlm-roberta-base, the XNLI task's
  ``XLMRClassifier``), at each paper suite's batch size, precision and base optimizer, on generated data
  (random pixels in [-1, 1]; token ids drawn in [3, vocabulary size)). Every built-in method runs one
  warm-up step and then timed steps; the row gives ms/step (median), the ratio to the base optimizer,
  peak GPU memory, and the step-time bound from the pass counts (benchmarks/step_cost.py's ``bound_for``:
  SAM family <= 2 x base, TRAM <= SAM + one no-grad forward). On CUDA without ``--quick`` a SAM- or
  TRAM-family step more than 10 % over its bound fails the check; on a CPU, or with ``--quick``, the
  verdict is shown in parentheses only (shared CPUs time too noisily to fail on it).
* ``workers``: ``tram-bench run --device DEV --workers N`` on a tiny generated suite, in a subprocess: every
  run ends ``ok`` on the requested device and, on CUDA, the runs spread over ``min(N, visible GPUs)``
  distinct ``CUDA_VISIBLE_DEVICES`` values (one worker per GPU). N defaults to the number of visible GPUs
  and at least 2, so that the worker pool (not the in-process path) runs even on a single GPU.

``--quick`` shrinks everything for a smoke run (CI runs ``--device cpu --quick`` in well under a minute): two
steps per small-model check, and the paper architectures at one layer of width 32 (vocabulary sizes, image and
patch size stay real, so divergences still run over the real vocabulary), batch 2, 32 tokens, one timed step,
and only the methods of ``QUICK_ARCH_METHODS`` (every method still runs in the small-model checks).

One table at the end (also written as JSON to ``--out PATH`` after every check, so that a run killed half-way
still leaves its rows), and the exit status: 0 if every check passed, 1 if any failed, 2 for bad arguments
(one line). Measured: 117 s on one H200 (torch 2.11, CUDA 13.0, transformers 5.17); ``--device cpu --quick``
about 20 s of CPU time.

It imports only torch, transformers, rich (a project dependency, also step_cost.py's), the project's modules
that need nothing else, and the standard library. A GPU machine without the project's other dependencies
(the CLI's suite loader needs omegaconf) fails the ``workers`` check with the missing module named and runs
every other check.
Peak GPU memory of a row is that method's own: the template model stays on the host and each method gets a
fresh copy on the device (weights, gradients, optimizer state, target copies, activations, the batch).

Usage: ``PYTHONPATH=. python benchmarks/gpu_check.py [--device cuda|cpu] [--quick] [--out PATH] [--workers N]``
from the repository root, installed or not. On a GPU machine with torch and transformers but without network,
the ``workers`` check needs only omegaconf (pure Python, its one dependency PyYAML comes with transformers):
bring its wheel and ``pip install --no-deps`` it first.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

# step_cost.py sits beside this file; running a script puts its folder on sys.path, importing it does not.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import step_cost  # noqa: E402  (the small models, their objectives and the pass-count bounds)

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from tram_bench.methods.base import Method, StepContext  # noqa: E402
from tram_bench.methods.registry import BUILTIN_METHOD_IDS, METHODS  # noqa: E402
from tram_bench.train.loop import _precision  # noqa: E402  (the training loop's autocast dtype and GradScaler)
# The paper checkpoints' configurations (needs numpy only, which transformers needs too).
from tram_bench.train.rehearsal.checkpoints import CHECKPOINTS, GPT2_BASE, VIT_B16, XLMR_BASE  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = ("fp32", "bf16", "fp16")
# --quick on the paper architectures: the base optimizer (sgd or adam), the bounds' SAM, a weight-copy target
# and an input-noise target (TRAM's divergence over the real vocabulary).
QUICK_ARCH_METHODS = ("sgd", "adam", "sam", "tram-prev", "tram-x")
LR = 1e-4  # small, so that a few steps stay tame; speed and memory do not depend on it

# --- result rows ---------------------------------------------------------------------------------


@dataclass
class CheckResult:
    """One row of the table. status: PASS or FAIL; seconds: the check's wall time; detail: one line."""

    name: str
    status: str
    seconds: float
    detail: str
    measurements: dict[str, Any] = field(default_factory=dict)


class CheckFailed(Exception):
    """A check ran but its result is wrong (the message is the row's detail)."""


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


# --- environment ---------------------------------------------------------------------------------


def environment(device: torch.device) -> dict[str, Any]:
    try:
        import transformers

        tf_version = transformers.__version__
    except Exception as exc:  # noqa: BLE001 - reported, the transformer checks then fail on their own
        tf_version = f"not importable ({one_line(exc)})"
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "transformers": tf_version,
        "device": str(device),
        "cuda_available": torch.cuda.is_available(),
        "gpus": torch.cuda.device_count() if torch.cuda.is_available() else 0,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(device_name=props.name, capability=f"{props.major}.{props.minor}",
                   memory_gib=round(props.total_memory / 2**30, 1), multiprocessors=props.multi_processor_count)
    else:
        env.update(device_name=platform.processor() or platform.machine(), cpu_threads=torch.get_num_threads())
    return env


# --- timing and memory ---------------------------------------------------------------------------


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def step_context(precision: str, device: torch.device) -> StepContext:
    autocast_dtype, scaler = _precision(precision, device.type)
    return StepContext(autocast_dtype=autocast_dtype, scaler=scaler, device_type=device.type)


def make_method(mid: str, model: nn.Module, objective: Callable, base: str, seed: int = 0) -> Method:
    """Method ``mid`` on ``model`` with its paper-default hyperparameters and ``base`` as the base optimizer
    (a plain method's own id is its base). BaseHparams' defaults give the paper's Adam betas (0.9, 0.99) and
    SGD momentum 0.9, as the paper suites set them."""
    cls = METHODS.get(mid)
    own_base = mid if mid in ("sgd", "adam") else base
    return cls(model, objective, cls.Hparams(base=own_base), lr=LR,
               generator=torch.Generator().manual_seed(seed))


def finite_params(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


# --- check 1: every method, every precision, small models ----------------------------------------


def method_precisions(mid: str, device: torch.device, quick: bool) -> CheckResult:
    """Every precision of method ``mid`` on both small models; raises CheckFailed naming every failing
    (precision, model) pair with its error."""
    steps = 2 if quick else 3
    errors: list[str] = []
    notes: list[str] = []
    expected = METHODS.get(mid).passes
    for precision in PRECISIONS:
        for wl in step_cost.workloads(quick):
            label = f"{precision} {wl.name.split(' ')[0]}"
            try:
                torch.manual_seed(0)
                model = wl.build().to(device).train()
                before = [p.detach().clone() for p in model.parameters()]
                method = make_method(mid, model, wl.objective, wl.base)
                ctx = step_context(precision, device)
                batch = wl.batch(device)
                skipped = 0
                for _ in range(steps):
                    stats = method.step([batch], ctx)
                    if (stats.forward, stats.backward) != expected:
                        raise CheckFailed(f"step reported {stats.forward}/{stats.backward} passes, "
                                          f"the method declares {expected[0]}/{expected[1]}")
                    if not math.isfinite(stats.loss):
                        raise CheckFailed(f"loss {stats.loss}")
                    skipped += int(stats.skipped)
                if skipped > (1 if precision == "fp16" else 0):
                    raise CheckFailed(f"{skipped} of {steps} steps skipped")
                if not finite_params(model):
                    raise CheckFailed("non-finite weights after the steps")
                if all(torch.equal(a, p) for a, p in zip(before, model.parameters())):
                    raise CheckFailed("weights did not move")
                if skipped:
                    notes.append(f"{label}: first step skipped by the scaler")
            except Exception as exc:  # noqa: BLE001 - recorded per precision and model, then the next one runs
                errors.append(f"{label}: {exc if isinstance(exc, CheckFailed) else one_line(exc)}")
    if errors:
        raise CheckFailed("; ".join(errors))
    return CheckResult(f"methods/{mid}", "PASS", 0.0,
                       f"fp32, bf16, fp16+scaler on cnn and transformer: {expected[0]}/{expected[1]} passes"
                       + (f" ({'; '.join(notes)})" if notes else ""))


# --- check 2: the paper architectures at real size -----------------------------------------------


@dataclass(frozen=True)
class PaperArch:
    """One paper architecture at its suite's settings (tests/test_gpu_check.py compares these with the
    resolved suites/paper/*.yaml, so they cannot drift apart silently).

    checkpoint: the hub id the suite fine-tunes (its config values are below; nothing is downloaded);
    suite: the suite file; batch_size / precision / base: that suite's train.batch_size, train.precision
    and its methods' base optimizer; length: image side in pixels (vision) or tokens per example (text).
    """

    name: str
    checkpoint: str
    suite: str
    batch_size: int
    precision: str
    base: str
    length: int


PAPER_ARCHS = (
    PaperArch("vit-b16", VIT_B16, "suites/paper/vision.yaml", batch_size=128, precision="bf16", base="sgd", length=224),
    PaperArch("gpt2", GPT2_BASE, "suites/paper/lm.yaml", batch_size=16, precision="fp32", base="adam", length=1024),
    PaperArch("xlmr-base", XLMR_BASE, "suites/paper/xling.yaml", batch_size=32, precision="fp32", base="adam",
              length=128),
)


def arch_config(arch: PaperArch, quick: bool) -> dict[str, Any]:
    """The ``config.json`` values of ``arch``'s checkpoint (tram_bench/train/rehearsal/checkpoints.py, the one
    table that ``tram-bench rehearse`` builds from too); --quick keeps vocabulary, image and patch sizes and
    shrinks depth and width."""
    return CHECKPOINTS[arch.checkpoint].values(tiny=quick)


CIFAR100_CLASSES = 100  # the vision suite's first task
NLI_CLASSES = 3


@dataclass
class Built:
    """A paper model (on the host: each method copies it to the device), its task objective, a generated
    batch (on the device) and the attention implementation transformers chose for the model."""

    model: nn.Module
    objective: Callable
    batch: dict[str, torch.Tensor]
    attention: str


def _attention(model: nn.Module) -> str:
    config = getattr(model, "config", None) or getattr(getattr(model, "model", None), "config", None)
    return str(getattr(config, "_attn_implementation", "?"))


def build_vit(arch: PaperArch, device: torch.device, quick: bool, batch_size: int) -> Built:
    from transformers import ViTConfig, ViTForImageClassification

    from tram_bench.tasks.vision.objective import PixelClassificationObjective
    from tram_bench.tasks.vision.vit import ViTClassifier

    cfg = ViTConfig(**arch_config(arch, quick), num_labels=CIFAR100_CLASSES)
    labels = [f"class{i}" for i in range(CIFAR100_CLASSES)]
    with tempfile.TemporaryDirectory(prefix="gpu-check-vit-") as tmp:
        # Through a local directory, as the vision tasks load a checkpoint (ViTClassifier.from_pretrained).
        torch.manual_seed(0)
        ViTForImageClassification(cfg).save_pretrained(tmp)
        model = ViTClassifier(tmp, labels, head_seed=0)
    g = torch.Generator().manual_seed(0)
    side = cfg.image_size
    pixels = torch.rand(batch_size, 3, side, side, generator=g) * 2 - 1  # normalised pixels lie in [-1, 1]
    batch = {"pixels": pixels.to(device),
             "labels": torch.randint(0, CIFAR100_CLASSES, (batch_size,), generator=g).to(device)}
    return Built(model, PixelClassificationObjective(), batch, _attention(model.model))


def _token_batch(vocab: int, pad_id: int, batch_size: int, length: int, padded: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, vocab, (batch_size, length), generator=g)  # 0-2 are special tokens in XLM-R
    mask = torch.ones(batch_size, length, dtype=torch.long)
    if padded:  # the second half of the batch is right-padded to between half and all of the length
        for row in range(batch_size // 2, batch_size):
            keep = int(torch.randint(length // 2, length + 1, (1,), generator=g))
            ids[row, keep:] = pad_id
            mask[row, keep:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def build_gpt2(arch: PaperArch, device: torch.device, quick: bool, batch_size: int) -> Built:
    from transformers import GPT2Config, GPT2LMHeadModel

    from tram_bench.tasks.lm.objective import CausalLMObjective

    cfg = GPT2Config(**arch_config(arch, quick))
    torch.manual_seed(0)
    model = GPT2LMHeadModel(cfg)
    # M2D2 blocks are full 1024-token windows of a token stream: no padding.
    batch = {k: v.to(device) for k, v in _token_batch(cfg.vocab_size, cfg.eos_token_id, batch_size,
                                                       arch.length if not quick else 32, padded=False).items()}
    return Built(model, CausalLMObjective(), batch, _attention(model))


def build_xlmr(arch: PaperArch, device: torch.device, quick: bool, batch_size: int) -> Built:
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    from tram_bench.tasks.xling.classifier import ClassificationObjective, XLMRClassifier

    cfg = XLMRobertaConfig(**arch_config(arch, quick), num_labels=NLI_CLASSES)
    torch.manual_seed(0)
    model = XLMRClassifier(XLMRobertaForSequenceClassification(cfg), torch.Generator().manual_seed(0))
    tokens = _token_batch(cfg.vocab_size, cfg.pad_token_id, batch_size, arch.length if not quick else 32, padded=True)
    tokens["input_ids"][:, 0] = cfg.bos_token_id
    g = torch.Generator().manual_seed(1)
    batch = {**tokens, "labels": torch.randint(0, NLI_CLASSES, (batch_size,), generator=g)}
    return Built(model, ClassificationObjective(), {k: v.to(device) for k, v in batch.items()}, _attention(model.model))


BUILDERS: dict[str, Callable[[PaperArch, torch.device, bool, int], Built]] = {
    "vit-b16": build_vit, "gpt2": build_gpt2, "xlmr-base": build_xlmr,
}


def time_steps(method: Method, batch: Any, ctx: StepContext, device: torch.device, timed: int) -> list[float]:
    """One untimed warm-up step, then ``timed`` timed steps; returns their seconds."""
    method.step([batch], ctx)
    times = []
    for _ in range(timed):
        sync(device)
        t0 = time.perf_counter()
        stats = method.step([batch], ctx)
        sync(device)
        times.append(time.perf_counter() - t0)
        if not math.isfinite(stats.loss):
            raise CheckFailed(f"loss {stats.loss}")
    return times


def nograd_forward_ms(built: Built, ctx: StepContext, device: torch.device, timed: int) -> float:
    """Median ms of a train-mode no-grad forward under the step's autocast (what a TRAM target costs)."""
    model = copy.deepcopy(built.model).to(device).train()
    times = []
    for _ in range(timed + 1):
        sync(device)
        t0 = time.perf_counter()
        with torch.no_grad(), ctx.autocast():
            built.objective(model, built.batch)
        sync(device)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times[1:])


def paper_arch_checks(arch: PaperArch, device: torch.device, quick: bool,
                      enforce_bounds: bool) -> Iterator[CheckResult]:
    """Rows for ``arch`` at real size (or its --quick shrink), each yielded as soon as it is measured: the
    build, then one per method on a fresh device copy of one host template. The base optimizer and SAM run
    first (method-id order), so every later row is judged against its bound when it is yielded."""
    timed = 1 if quick else 3
    batch_size = 2 if quick else arch.batch_size
    t0 = time.perf_counter()
    try:
        built = BUILDERS[arch.name](arch, device, quick, batch_size)
        ctx = step_context(arch.precision, device)
        nograd = nograd_forward_ms(built, ctx, device, timed)
    except Exception as exc:  # noqa: BLE001 - the architecture could not even be built: one FAIL row
        yield CheckResult(f"{arch.name}/build", "FAIL", time.perf_counter() - t0, one_line(exc))
        return
    n_params = sum(p.numel() for p in built.model.parameters())
    setting = (f"{n_params / 1e6:.1f}M params, batch {batch_size}, {arch.precision}, {arch.base} base, "
               f"attention {built.attention}")
    yield CheckResult(f"{arch.name}/build", "PASS", time.perf_counter() - t0,
                      f"{setting}; no-grad forward {nograd:.1f} ms",
                      {"params": n_params, "batch_size": batch_size, "precision": arch.precision,
                       "attention": built.attention, "nograd_forward_ms": nograd})
    ms: dict[str, float] = {}
    for mid in QUICK_ARCH_METHODS if quick else BUILTIN_METHOD_IDS:
        t_row = time.perf_counter()
        model = method = None
        try:
            reset_peak(device)
            model = copy.deepcopy(built.model).to(device).train()
            method = make_method(mid, model, built.objective, arch.base)
            times = time_steps(method, built.batch, ctx, device, timed)
            if not finite_params(model):
                raise CheckFailed("non-finite weights after the steps")
            ms[mid] = 1e3 * statistics.median(times)
            row = CheckResult(f"{arch.name}/{mid}", "PASS", 0.0, "",
                              {"ms_per_step": ms[mid], "peak_gib": peak_gib(device),
                               "passes": list(METHODS.get(mid).passes)})
            judge_bound(row, mid, ms, arch, nograd, enforce_bounds)
        except Exception as exc:  # noqa: BLE001 - recorded, the next method runs
            detail = str(exc) if isinstance(exc, CheckFailed) else one_line(exc)
            row = CheckResult(f"{arch.name}/{mid}", "FAIL", 0.0, detail)
        finally:
            del model, method  # before the next method's peak is measured
            reset_peak(device)
        row.seconds = time.perf_counter() - t_row
        yield row


def judge_bound(row: CheckResult, mid: str, ms: dict[str, float], arch: PaperArch, nograd: float,
                enforce: bool) -> None:
    """Fill a measured row's detail (ms/step, ratio to base, peak memory, the pass-count bound); with
    ``enforce``, a SAM- or TRAM-family step over 1.1 x its bound turns the row into a FAIL."""
    m = row.measurements
    parts = [f"{m['ms_per_step']:.1f} ms/step"]
    reference = ms.get(mid if mid in ("sgd", "adam") else arch.base)
    if reference:
        m["ratio_to_base"] = m["ms_per_step"] / reference
        parts.append(f"{m['ratio_to_base']:.2f}x base")
    if m["peak_gib"] is not None:
        parts.append(f"peak {m['peak_gib']:.1f} GiB")
    if arch.base in ms and "sam" in ms:
        bound, targeted = step_cost.bound_for(mid, ms, arch.base, nograd)
        if bound is not None:
            ok = m["ms_per_step"] <= (1 + step_cost.TOLERANCE) * bound
            m.update(bound_ms=bound, within_bound=ok)
            verdict = f"bound {bound:.1f} ms: {'ok' if ok else 'over'}"
            if targeted and enforce:
                parts.append(verdict)
                row.status = "PASS" if ok else "FAIL"
            else:
                parts.append(f"({verdict})")
    row.detail = ", ".join(parts)


# --- check 3: one worker per GPU through the CLI -------------------------------------------------

WORKERS_SUITE = """\
suite: gpu-check-workers
description: gpu_check.py's worker check (generated data, a few steps)
seeds: [0, 1]
tasks:
  - id: synthetic
    params: {dim: 8, classes: 4, train_size: 128, eval_size: 128}
    train: {steps: 4, batch_size: 32, lr: 0.05, eval_every: 2, warmup_steps: 0}
methods:
  - id: sgd
  - id: tram-prev
"""


def default_workers(device: torch.device) -> int:
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    return max(2, gpus)


def workers_check(device: torch.device, workers: int) -> CheckResult:
    with tempfile.TemporaryDirectory(prefix="gpu-check-workers-") as tmp:
        suite = Path(tmp) / "workers.yaml"
        suite.write_text(WORKERS_SUITE)
        results = Path(tmp) / "results"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        cmd = [sys.executable, "-m", "tram_bench", "run", str(suite), "--device", device.type,
               "--workers", str(workers), "--results", str(results), "--no-collect", "--quiet"]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr + proc.stdout).strip().splitlines() if ln.strip()]
            raise CheckFailed(f"tram-bench run exited {proc.returncode}: {lines[-1] if lines else 'no output'}")
        records = [json.loads(p.read_text()) for p in sorted(results.glob("runs/*/record.json"))]
    if len(records) != 4:
        raise CheckFailed(f"{len(records)} records written, expected 4")
    bad = [r["run_id"] for r in records if r["status"] != "ok"]
    if bad:
        raise CheckFailed(f"runs not ok: {', '.join(bad)}")
    devices = sorted({r["provenance"]["device"] for r in records})
    if any(not d.startswith(device.type) for d in devices):
        raise CheckFailed(f"runs ran on {devices}, expected {device.type}")
    detail = f"4 runs ok with --workers {workers} on {device.type}"
    measured: dict[str, Any] = {"workers": workers, "devices": devices}
    if device.type == "cuda":
        visible = sorted({str(r["provenance"].get("cuda_visible_devices")) for r in records})
        want = min(workers, torch.cuda.device_count())
        measured["cuda_visible_devices"] = visible
        if len(visible) != want:
            raise CheckFailed(f"runs saw CUDA_VISIBLE_DEVICES {visible}, expected {want} distinct (one per GPU)")
        detail += f", one worker per GPU: CUDA_VISIBLE_DEVICES {', '.join(visible)}"
    return CheckResult("workers", "PASS", 0.0, detail, measured)


# --- driver --------------------------------------------------------------------------------------


def run_check(name: str, fn: Callable[[], CheckResult]) -> CheckResult:
    t0 = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 - every check is isolated; its error is its row
        detail = str(exc) if isinstance(exc, CheckFailed) else one_line(exc)
        if not isinstance(exc, CheckFailed):
            traceback.print_exc(file=sys.stderr)
        result = CheckResult(name, "FAIL", 0.0, detail)
    result.seconds = time.perf_counter() - t0
    return result


def write_json(path: Path | None, env: dict[str, Any], rows: list[CheckResult], wall: float, done: bool) -> None:
    if path is None:
        return
    payload = {"environment": env, "finished": done, "wall_s": wall,
               "failed": sum(r.status == "FAIL" for r in rows), "checks": [asdict(r) for r in rows]}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)


def print_table(env: dict[str, Any], rows: list[CheckResult], wall: float) -> None:
    title = (f"gpu_check on {env['device_name']} ({env['device']}): torch {env['torch']}, CUDA {env['cuda']}, "
             f"transformers {env['transformers']}, Python {env['python']}")
    failed = sum(r.status == "FAIL" for r in rows)
    footer = f"{len(rows) - failed} passed, {failed} failed, {wall:.0f} s"
    table = Table(title=title, caption=footer)
    for col in ("check", "status", "s", "detail"):
        table.add_column(col, justify="right" if col == "s" else "left", overflow="fold")
    for r in rows:
        status = f"[green]{r.status}[/]" if r.status == "PASS" else f"[bold red]{r.status}[/]"
        table.add_row(r.name, status, f"{r.seconds:.1f}", r.detail)
    Console(width=max(140, int(os.environ.get("COLUMNS", "0") or 0))).print(table)


class OneLineParser(argparse.ArgumentParser):
    """Bad flags: one line on stderr and exit status 2 (no usage block)."""

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(prog="gpu_check.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="where to run (default cuda)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny batches and one-layer paper architectures (CI runs it on the CPU)")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON to this file")
    parser.add_argument("--workers", type=int, default=None,
                        help="workers for the tram-bench run check (default: visible GPUs, at least 2)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default 1 on --device cpu: steadier timings, no "
                             "oversubscription on a shared machine; torch's own default on cuda)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available (torch.cuda.is_available() is False)")
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.out is not None and not args.out.parent.is_dir():
        parser.error(f"--out {args.out}: folder {args.out.parent} does not exist")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads or args.device == "cpu":
        torch.set_num_threads(args.threads or 1)
    try:  # transformers' save/load progress bars would interleave with the rows
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except Exception:  # noqa: BLE001 - cosmetic only; the transformer checks report a missing transformers
        pass
    device = torch.device(args.device)
    started = time.perf_counter()
    env = environment(device)
    print(f"torch {env['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}, transformers {env['transformers']}, "
          f"Python {env['python']}; device {env['device']}: {env['device_name']}", flush=True)
    rows: list[CheckResult] = []

    def add(new: list[CheckResult]) -> None:
        for r in new:
            print(f"{r.status:4} {r.seconds:6.1f}s {r.name}: {r.detail}", flush=True)
        rows.extend(new)
        write_json(args.out, env, rows, time.perf_counter() - started, done=False)

    for mid in BUILTIN_METHOD_IDS:
        add([run_check(f"methods/{mid}", lambda mid=mid: method_precisions(mid, device, args.quick))])
    enforce = device.type == "cuda" and not args.quick
    for arch in PAPER_ARCHS:
        for row in paper_arch_checks(arch, device, args.quick, enforce):
            add([row])
    workers = args.workers or default_workers(device)
    add([run_check("workers", lambda: workers_check(device, workers))])

    wall = time.perf_counter() - started
    write_json(args.out, env, rows, wall, done=True)
    print_table(env, rows, wall)
    return 1 if any(r.status == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
