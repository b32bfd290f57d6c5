"""What a run needs from its process, made ready before the run's clocks start.

A worker's first run would otherwise pay for importing its task's and method's modules, for torch's
lazy import of ``torch._dynamo`` on the first optimizer it builds (seconds), and on a GPU for
creating the CUDA context and the cuBLAS handle: one-off costs of the process that would land in
the setup and wall time of whichever cell happened to run first. The fork server of the local
executor preloads the same modules, once per grid.

On an H200 (tests/train/test_run_cost.py's small cell, three runs in one fresh process) this took
the first run's wall time from 0.96 s to 0.30 s against 0.01-0.02 s for the next ones; what is left
is CUDA's loading of each kernel on its first use, which only running the kernels would move.
"""

from __future__ import annotations

import importlib
from typing import Iterable

from tram_bench.suite.spec import RunSpec
from tram_bench.train.quiet import silence_progress_bars

# torch._dynamo: imported lazily by torch.optim.Optimizer.__init__ (about 2 s on one core).
TORCH_MODULES = ("torch", "torch.optim", "torch._dynamo")
HARNESS_MODULES = ("tram_bench.train.loop", "tram_bench.methods.passes")


def run_modules(specs: Iterable[RunSpec]) -> list[str]:
    """Module names to import for ``specs``: torch's, the harness's, then each task's and method's
    (resolved through the registries without importing them), without repeats, in that order."""
    from tram_bench.methods.registry import METHODS
    from tram_bench.tasks.registry import TASKS

    modules = [*TORCH_MODULES, *HARNESS_MODULES]
    for spec in specs:
        for registry, key in ((TASKS, spec.task), (METHODS, spec.method)):
            target = registry.target(key)
            if target:
                modules.append(target.split(":")[0])
    return list(dict.fromkeys(modules))


def prepare_process(spec: RunSpec, device: str) -> None:
    """Import :func:`run_modules` of one run and, on a CUDA ``device``, create the CUDA context (a
    no-op when this process already did both). Raises what the import or the device raises;
    ``run_cell`` ignores it, because the run itself fails the same way and records it.

    Third-party progress bars are turned off first (:mod:`tram_bench.train.quiet`), and again once the
    run's modules are imported (a library some task module imports reads its switch then)."""
    silence_progress_bars()
    for name in run_modules([spec]):
        importlib.import_module(name)
    silence_progress_bars()
    if str(device).startswith("cuda"):
        import torch

        # The context, then the cuBLAS handle and workspace (created by the first matrix product).
        a = torch.ones(8, 8, device=device, requires_grad=True)
        (a @ a).sum().backward()
