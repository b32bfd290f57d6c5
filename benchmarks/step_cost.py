"""Wall-clock cost of one training step of every method, relative to its base optimizer.

Three small models, each with the base optimizer its domain uses in the paper:

* ``cnn``: 3 conv layers (16/32/64 channels, BN) on 32x32x3 images, batch 64, base SGD;
* ``transformer``: 2-layer encoder classifier, d=128, 32 tokens, batch 32, base Adam (noise at the
  embedding hook, as for text);
* ``mlp``: 512-1024-1024-10 with ReLU, batch 256, base SGD: few, large tensors (1.6 M weights in 6),
  where the SAM family's own bookkeeping (save, perturb, measure ``||e||``, restore) weighs most
  against the arithmetic of a pass.

Per model, the SAM wrapper's bookkeeping is timed on its own, interleaved with one forward+backward,
and reported as a share of that forward+backward (target: at most 15% on the MLP), in two parts:
``first_step`` + ``restore`` (everything of a SAM step in a user's loop but the two passes and the
base step) and ``applied_perturbation_norm`` (the ``||e||`` that tram-bench's methods record at every
step, read from the weights as perturbed). Beside them, ``first_step`` + ``restore`` with
``fused_perturbation=True`` (``w + e`` in one kernel per tensor, not bit-identical to the default):
its share, and on how many weights its ``w + e`` differs from the default's.

Every method runs on its own copy of the model; steps are timed round-robin (one step of each
method per round, so background load is spread evenly), after warm-up rounds, and the median over
rounds is reported. A no-grad train-mode forward (what a TRAM target forward costs) is timed the
same way. Bounds, from the pass counts:

* SAM family (sam, asam, fisher_sam, tram-fisher: 2 fwd / 2 bwd): 2 x base step;
* TRAM (tram-prev, tram-init, tram-x): measured SAM step + one no-grad forward;
* others: ``b x base + (f - b) x no-grad forward`` for f forward / b backward passes (shown for
  information, no target);
* cheaper TRAM (``tram-prev`` with ``radius_every`` k and/or ``radius_batch_fraction`` f, rows
  named ``tram-prev k=.. f=..``): SAM step + ``f / k`` no-grad forward (the target forward of one
  step in k, on a fraction of the batch); target within 10% for ``radius_every: 4``. A measuring
  step and the steps between are timed apart and weighted ``1/k`` and ``1 - 1/k``.

Target: within 10% of the bound. On a shared CPU the numbers are noisy; rerun before reading much
into a single miss. ``--quick`` uses smaller batches and fewer rounds (a smoke run).

Usage: ``PYTHONPATH=. python benchmarks/step_cost.py [--quick] [--device cpu|cuda|all]``
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table
from torch import nn

from tram_bench.methods.base import InputNoise, Method, Output, StepContext
from tram_bench.methods.registry import BUILTIN_METHOD_IDS, EFFICIENT_METHOD_IDS, METHODS
from tram_bench.optim.sam import SAM

SAM_FAMILY = ("sam", "asam", "fisher_sam", "tram-fisher")
TRAM_FAMILY = ("tram-prev", "tram-init", "tram-x")
TOLERANCE = 0.10
# The cheaper variants' own target: a step at most this many times the base optimizer's (issue 19).
CHEAP_TARGET = 1.3
# Cheaper TRAM (the options of the TRAM methods): row name -> (method id, hyperparameters).
TRAM_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "tram-prev k=4": ("tram-prev", {"radius_every": 4}),
    "tram-prev f=0.25": ("tram-prev", {"radius_batch_fraction": 0.25}),
    "tram-prev k=4 f=0.25": ("tram-prev", {"radius_every": 4, "radius_batch_fraction": 0.25}),
}
MEASURED_IDS = BUILTIN_METHOD_IDS + EFFICIENT_METHOD_IDS + tuple(TRAM_OPTIONS)


# --- models and objectives ----------------------------------------------------------------------


class SmallCNN(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(
            *block(3, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2), *block(32, 64),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class SmallEncoder(nn.Module):
    def __init__(self, vocab: int = 1000, d: int = 128, tokens: int = 32, classes: int = 3) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.zeros(tokens, d))
        layer = nn.TransformerEncoderLayer(d, nhead=4, dim_feedforward=4 * d, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)

    def classify(self, emb: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(emb + self.pos).mean(dim=1))


def image_objective(model: nn.Module, batch: Any, noise: InputNoise | None = None) -> Output:
    x, y = batch
    if noise is not None:
        x = x.detach() + noise.sample_like(x)
    logits = model(x)
    return Output(logits=logits, loss=F.cross_entropy(logits, y), count=int(y.shape[0]))


def token_objective(model: nn.Module, batch: Any, noise: InputNoise | None = None) -> Output:
    ids, y = batch
    emb = model.embed(ids)
    if noise is not None:
        emb = emb.detach() + noise.sample_like(emb)
    logits = model.classify(emb)
    return Output(logits=logits, loss=F.cross_entropy(logits, y), count=int(y.shape[0]))


@dataclass
class Workload:
    name: str
    build: Callable[[], nn.Module]
    objective: Callable[..., Output]
    batch: Callable[[torch.device], Any]
    base: str  # the base optimizer every non-plain method uses; its plain method is the reference
    reference: str


class MLP(nn.Sequential):
    def __init__(self) -> None:
        super().__init__(nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))


def workloads(quick: bool) -> list[Workload]:
    image_batch, token_batch, vector_batch = (4, 4, 16) if quick else (64, 32, 256)

    def images(device: torch.device):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(image_batch, 3, 32, 32, generator=g)
        return x.to(device), torch.randint(0, 10, (image_batch,), generator=g).to(device)

    def tokens(device: torch.device):
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(0, 1000, (token_batch, 32), generator=g)
        return ids.to(device), torch.randint(0, 3, (token_batch,), generator=g).to(device)

    def vectors(device: torch.device):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(vector_batch, 512, generator=g)
        return x.to(device), torch.randint(0, 10, (vector_batch,), generator=g).to(device)

    return [
        Workload(f"cnn (batch {image_batch})", SmallCNN, image_objective, images, "sgd", "sgd"),
        Workload(f"transformer (batch {token_batch})", SmallEncoder, token_objective, tokens, "adam", "adam"),
        Workload(f"mlp 512-1024-1024-10 (batch {vector_batch})", MLP, image_objective, vectors, "sgd", "sgd"),
    ]


# --- timing --------------------------------------------------------------------------------------


def _clock(device: torch.device) -> float:
    """``time.perf_counter()`` once the device's queued work is done (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def _make_method(name: str, wl: Workload, template: nn.Module) -> Method:
    mid, options = TRAM_OPTIONS.get(name, (name, {}))
    cls = METHODS.get(mid)
    base = {"sgd": "sgd", "adam": "adam"}.get(mid, wl.base)
    # A small lr keeps the trajectories tame over the timed steps; speed does not depend on it.
    return cls(copy.deepcopy(template), wl.objective, cls.Hparams(base=base, **options), lr=1e-4,
               generator=torch.Generator().manual_seed(0))


def measure(wl: Workload, device: torch.device, warmup: int, rounds: int) -> tuple[dict[str, list[tuple[float, int]]], list[float]]:
    """Per method, (seconds, kind of step) of each timed step; and the no-grad forward's seconds. The
    kind is the backward passes (SAM or base step), or for cheaper TRAM the forward passes (whether
    the step measured d)."""
    torch.manual_seed(0)
    template = wl.build().to(device).train()
    batch = wl.batch(device)
    methods = {mid: _make_method(mid, wl, template) for mid in MEASURED_IDS}
    probe = copy.deepcopy(template)
    # late-sam's schedule needs the run's length: the benchmark's steps are the run.
    ctx = StepContext(device_type=device.type, total_steps=warmup + rounds)
    times: dict[str, list[tuple[float, int]]] = {mid: [] for mid in methods}
    nograd: list[float] = []
    for r in range(warmup + rounds):
        for mid, method in methods.items():
            t0 = _clock(device)
            stats = method.step([batch], ctx)
            t1 = _clock(device)
            if r >= warmup:
                times[mid].append((t1 - t0, stats.forward if mid in TRAM_OPTIONS else stats.backward))
        t0 = _clock(device)
        with torch.no_grad():
            wl.objective(probe, batch)
        t1 = _clock(device)
        if r >= warmup:
            nograd.append(t1 - t0)
    return times, nograd


def measure_bookkeeping(wl: Workload, device: torch.device, warmup: int, rounds: int) -> tuple[dict[str, list[float]], tuple[int, int]]:
    """Seconds per round, interleaved, of: ``pass`` (one forward+backward), ``wrapper`` (the SAM
    wrapper's ``first_step`` + ``restore`` on the gradient that pass left: the part of a SAM step
    that is neither a pass nor the base step), ``e_norm`` (``applied_perturbation_norm``, timed
    between the two), ``wrapper_warm`` (``first_step`` + ``restore`` repeated at once, on arrays
    still in cache: how much of ``wrapper`` is memory traffic after the backward pass) and ``fused``
    (``first_step`` + ``restore`` of ``SAM(fused_perturbation=True)`` after a second forward+backward).
    And (differing, all): of all the weights, how many of the fused ``w + e`` differ from the
    default's on the same gradient (first timed round)."""
    torch.manual_seed(0)
    model = wl.build().to(device).train()
    batch = wl.batch(device)
    sam = SAM(model.parameters(), torch.optim.SGD, lr=1e-4)
    fused = SAM(model.parameters(), torch.optim.SGD, lr=1e-4, fused_perturbation=True)
    params = list(model.parameters())
    times: dict[str, list[float]] = {"pass": [], "wrapper": [], "e_norm": [], "wrapper_warm": [], "fused": []}
    differing = 0
    for r in range(warmup + rounds):
        model.zero_grad(set_to_none=True)
        t0 = _clock(device)
        wl.objective(model, batch).loss.backward()
        t1 = _clock(device)
        sam.first_step()
        t2 = _clock(device)
        sam.applied_perturbation_norm()
        t3 = _clock(device)
        sam.restore()
        t4 = _clock(device)
        # The same again at once: the arrays are now in cache, which the backward pass had evicted.
        sam.first_step()
        sam.restore()
        t5 = _clock(device)
        # The fused update, on the gradient of a fresh pass (so that its arrays come from memory too).
        model.zero_grad(set_to_none=True)
        wl.objective(model, batch).loss.backward()
        t6 = _clock(device)
        fused.first_step()
        fused.restore()
        t7 = _clock(device)
        if r >= warmup:
            times["pass"].append(t1 - t0)
            times["wrapper"].append((t2 - t1) + (t4 - t3))
            times["e_norm"].append(t3 - t2)
            times["wrapper_warm"].append(t5 - t4)
            times["fused"].append(t7 - t6)
        if r == warmup:  # both w + e of the same gradient, weight by weight
            sam.first_step()
            exact = [p.detach().clone() for p in params]
            sam.restore()
            fused.first_step()
            differing = sum(int((p.detach() != x).sum()) for p, x in zip(params, exact))
            fused.restore()
    return times, (differing, sum(p.numel() for p in params))


def mean_passes(mid: str, total_steps: int = 0) -> tuple[float, float]:
    """Expected (forward, backward) passes per step at the method's default hyperparameters (cheaper
    TRAM: 2 + 1/k forward, the measuring step's target forward counted whole)."""
    if mid in TRAM_OPTIONS:
        return 2.0 + 1.0 / TRAM_OPTIONS[mid][1].get("radius_every", 1), 2.0
    cls = METHODS.get(mid)
    if hasattr(cls, "mean_passes"):
        return cls.mean_passes(cls.Hparams(), total_steps)
    return cls.passes


def tram_option_ms(name: str, samples: list[tuple[float, int]]) -> tuple[float, bool]:
    """(ms per step, whether both kinds were seen) of a cheaper TRAM row: ``1/k x median(measuring
    steps, 3 forward passes) + (1 - 1/k) x median(the others)``; with k = 1 the median."""
    every = TRAM_OPTIONS[name][1].get("radius_every", 1)
    measuring = [seconds for seconds, forward in samples if forward == 3]
    between = [seconds for seconds, forward in samples if forward == 2]
    if every == 1 or not measuring or not between:
        return 1e3 * statistics.median(seconds for seconds, _ in samples), every == 1
    return 1e3 * (statistics.median(measuring) / every + statistics.median(between) * (1 - 1 / every)), True


def step_ms(samples: list[tuple[float, int]], mean_backward: float) -> tuple[float, bool]:
    """(ms per step, whether every kind of step was seen). A method that mixes SAM steps (2
    backward passes) and base steps (1) gets ``share x median(SAM steps) + (1 - share) x
    median(base steps)`` with ``share = mean_backward - 1``, its expected share of SAM steps: a
    median over the mixture would be one kind's time. Fixed-cost methods: the median."""
    kinds: dict[int, list[float]] = {}
    for seconds, backward in samples:
        kinds.setdefault(backward, []).append(seconds)
    if mean_backward in (1.0, 2.0) or len(kinds) == 1:
        everything = [seconds for seconds, _ in samples]
        return 1e3 * statistics.median(everything), len(kinds) == 1 or mean_backward in (1.0, 2.0)
    share = mean_backward - 1.0
    return 1e3 * (share * statistics.median(kinds[2]) + (1 - share) * statistics.median(kinds[1])), True


def bound_for(mid: str, ms: dict[str, float], reference: str, nograd_ms: float) -> tuple[float | None, bool]:
    """(bound in ms, whether the 10% target applies to this method). The cheaper variants' bound is
    their expected passes: ``b x base + (f - b) x no-grad forward`` (no 10% target: theirs is
    :data:`CHEAP_TARGET` x base)."""
    f, b = mean_passes(mid)
    if mid in TRAM_OPTIONS:
        options = TRAM_OPTIONS[mid][1]
        share = options.get("radius_batch_fraction", 1.0) / options.get("radius_every", 1)
        # The target applies to radius_every alone (the "TRAM with radius_every: 4").
        return ms["sam"] + share * nograd_ms, set(options) == {"radius_every"}
    if mid in SAM_FAMILY:
        return 2.0 * ms[reference], True
    if mid in TRAM_FAMILY:
        return ms["sam"] + nograd_ms, True
    if mid in ("sgd", "adam"):
        return None, False
    return b * ms[reference] + (f - b) * nograd_ms, False


def report(console: Console, wl: Workload, device: torch.device, times: dict[str, list[tuple[float, int]]],
           nograd: list[float], bookkeeping: tuple[dict[str, list[float]], tuple[int, int]],
           rows: list[dict[str, Any]]) -> int:
    """Print the workload's table; append one row per method to ``rows`` (the --json output)."""
    total = len(nograd) + 1
    measured = {mid: tram_option_ms(mid, ts) if mid in TRAM_OPTIONS else step_ms(ts, mean_passes(mid, total)[1])
                for mid, ts in times.items()}
    ms = {mid: value for mid, (value, _) in measured.items()}
    nograd_ms = 1e3 * statistics.median(nograd)
    ref = ms[wl.reference]
    parts, (differs, elements) = bookkeeping
    book = {part: 1e3 * statistics.median(ts) for part, ts in parts.items()}
    wrapper_share, e_norm_share = book["wrapper"] / book["pass"], book["e_norm"] / book["pass"]
    fused_share = book["fused"] / book["pass"]
    table = Table(title=f"{wl.name} on {device.type}: base {wl.reference} {ref:.2f} ms/step, "
                        f"no-grad forward {nograd_ms:.2f} ms; SAM bookkeeping: first_step + restore "
                        f"{book['wrapper']:.2f} ms = {100 * wrapper_share:.0f}%, recorded ||e|| "
                        f"{book['e_norm']:.2f} ms = {100 * e_norm_share:.0f}% of one forward+backward "
                        f"({book['pass']:.2f} ms; first_step + restore repeated on warm cache "
                        f"{100 * book['wrapper_warm'] / book['pass']:.0f}%; with fused_perturbation=True "
                        f"{100 * fused_share:.0f}%, its w + e differing from the default's on {differs} of "
                        f"{elements} weights); "
                        f"SAM/{wl.reference} {ms['sam'] / ref:.2f}x (medians of {len(nograd)} rounds)")
    for col in ("method", "passes f/b", "ms/step", "to base", "to SAM", "bound ms", "to bound", "within target?"):
        table.add_column(col, justify="left" if col == "method" else "right")
    misses = 0
    for mid in MEASURED_IDS:
        f, b = mean_passes(mid, total)
        bound, targeted = bound_for(mid, ms, wl.reference, nograd_ms)
        plain_ref = mid if mid in ("sgd", "adam") else wl.reference
        if mid in EFFICIENT_METHOD_IDS:
            ok = ms[mid] <= CHEAP_TARGET * ms[plain_ref]
            verdict = f"{'yes' if ok else 'no'} ({CHEAP_TARGET}x)"
        elif bound is None:
            verdict = "-"
        else:
            ok = ms[mid] <= (1 + TOLERANCE) * bound
            verdict = ("yes" if ok else "NO") if targeted else ("(yes)" if ok else "(no)")
            misses += int(targeted and not ok)
        seen_all = measured[mid][1]
        table.add_row(mid, f"{f:.3g}/{b:.3g}", f"{ms[mid]:.2f}" + ("" if seen_all else "*"),
                      f"{ms[mid] / ms[plain_ref]:.2f}", f"{ms[mid] / ms['sam']:.2f}",
                      "-" if bound is None else f"{bound:.2f}", "-" if bound is None else f"{ms[mid] / bound:.2f}",
                      verdict)
        rows.append({"workload": wl.name, "device": device.type, "method": mid, "forward": f, "backward": b,
                     "ms_per_step": ms[mid], "ratio_to_base": ms[mid] / ms[plain_ref],
                     "ratio_to_sam": ms[mid] / ms["sam"], "bound_ms": bound,
                     "bookkeeping_share": wrapper_share + e_norm_share, "wrapper_share": wrapper_share,
                     "e_norm_share": e_norm_share, "fused_share": fused_share, "fused_differs": differs,
                     "fused_elements": elements, "rounds": len(nograd)})
    console.print(table)
    if not all(seen for _, seen in measured.values()):
        console.print("* only one kind of step fell in the timed rounds (raise --rounds): that kind's median")
    return misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller batches, fewer rounds (a few seconds)")
    parser.add_argument("--device", choices=("cpu", "cuda", "all"), default="all",
                        help="'all' = CPU, plus CUDA when available (default)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 9; quick 2)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed rounds first (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1: steadier timings)")
    parser.add_argument("--models", nargs="+", choices=("cnn", "transformer", "mlp"), default=None,
                        help="time only these models (default: all three)")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write every row (ms/step, ratios, passes) to this JSON file")
    args = parser.parse_args(argv)
    rounds = args.rounds if args.rounds is not None else (2 if args.quick else 9)
    warmup = args.warmup if args.warmup is not None else 1
    if rounds < 1 or warmup < 0 or args.threads < 1:
        parser.error("--rounds and --threads must be >= 1, --warmup >= 0")
    if args.json is not None and not args.json.parent.is_dir():
        # Checked before the minute of timing, not after it.
        parser.error(f"--json {args.json}: directory {args.json.parent} does not exist")
    torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] if args.device in ("cpu", "all") else []
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    elif args.device == "cuda":
        parser.error("--device cuda: no CUDA device is available")
    console = Console()
    if args.quick:
        console.print("--quick: a smoke run (small batches, few rounds); its ratios, shares and target verdicts "
                      "are not measurements")
    misses = 0
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for device in devices:
        for wl in workloads(args.quick):
            if args.models is not None and wl.name.split()[0] not in args.models:
                continue
            times, nograd = measure(wl, device, warmup, rounds)
            bookkeeping = measure_bookkeeping(wl, device, warmup, rounds)
            misses += report(console, wl, device, times, nograd, bookkeeping, rows)
    console.print(f"targets: SAM family <= {1 + TOLERANCE:.1f} x (2 x base); TRAM <= {1 + TOLERANCE:.1f} x "
                  f"(SAM + no-grad forward), with radius_every k <= {1 + TOLERANCE:.1f} x (SAM + forward / k); "
                  f"misses: {misses}; "
                  f"{time.perf_counter() - started:.0f} s, {torch.get_num_threads()} CPU thread(s)")
    if args.json is not None:
        meta = {"command": "PYTHONPATH=. python benchmarks/step_cost.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                "threads": torch.get_num_threads(), "rounds": rounds, "warmup": warmup, "quick": args.quick,
                "load_average_1min": os.getloadavg()[0], "cpu_count": os.cpu_count()}
        args.json.write_text(json.dumps({**meta, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
