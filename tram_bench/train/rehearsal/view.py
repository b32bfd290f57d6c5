"""The terminal side of ``tram-bench rehearse``: run the rehearsal, print one row per cell as it finishes, save
the measurements for ``plan --cost``, and the exit status (0: every cell ran or was projected; 1: a cell failed,
each failure one line on stderr naming the cell)."""

from __future__ import annotations

import sys
import time
from typing import Sequence

from tram_bench.train.rehearsal.run import RehearsalRow, rehearse

ATTENTION_NOTE = ("saved activations are counted with the attention implementation shown, on this device; on a "
                  "GPU, fused attention (flash / memory-efficient sdpa) keeps less than the CPU's math path")
MIB = 2**20
# Torch threads of a CPU rehearsal unless --threads says otherwise. One, because a rehearsal measures memory and
# the code path, not speed, and because on a shared machine two threads that wait for each other at every
# kernel's barrier are the slow case: ViT-B/16's bf16 step at batch 2 took 17-21 s with two threads against 3.5-4 s
# with one, on 2 cores at load 10 (nice 15).
CPU_THREADS = 1


def _cells(row: RehearsalRow) -> list[str]:
    def num(x, fmt):
        return "-" if x is None else format(x, fmt)

    passes = "-" if row.forward is None else f"{row.forward:g}/{row.backward:g}"
    act = None if row.activation_bytes_per_example is None else row.activation_bytes_per_example / MIB
    return [row.cell, row.architecture, row.input, row.precision,
            "-" if row.parameters is None else f"{row.parameters / 1e6:.1f}M", row.attention, passes,
            num(row.step_time_s, ".2f"), num(row.peak_memory_mb, ",.0f"), num(act, ",.1f"), f"{row.seconds:.0f}"]


COLUMNS = ("cell", "architecture", "input", "precision", "params", "attention", "fwd/bwd", "step s", "peak MiB",
           "saved MiB/example", "wall s")


def rehearse_command(suite: str, specs: Sequence, *, steps: int, batch_size: int, device: str, tiny: bool,
                     threads: int | None = None) -> int:
    """Run :func:`~tram_bench.train.rehearsal.run.rehearse` on ``specs`` and print its table (see module
    docstring). A full-size rehearsal saves each cell's measurements under the suite's name as the cell finishes
    (:func:`~tram_bench.train.rehearsal.measurements.add_measurement`). ``threads``: torch's CPU
    threads (default: :data:`CPU_THREADS` on a CPU, torch's own setting on CUDA)."""
    from rich.console import Console
    from rich.text import Text

    from tram_bench.train.rehearsal.measurements import add_measurement, measurements_path

    console = Console(soft_wrap=True)
    started = time.perf_counter()
    if threads is None and device == "cpu":
        threads = CPU_THREADS
    console.print(Text(f"{suite}: rehearsing {steps} steps of batch {batch_size} per cell on {device}"
                       + (f" with {threads} thread{'s' * (threads > 1)}" if threads else "")
                       + (" (tiny architectures)" if tiny else "") + f"; {ATTENTION_NOTE}"))

    # Resolved now: while it runs, the rehearsal points the asset cache at a private folder it removes.
    target = measurements_path(suite)
    saved_to = []

    def show(row: RehearsalRow) -> None:
        if row.measurement is not None and not tiny:
            saved_to[:] = [add_measurement(target, row.measurement)]  # now: a long rehearsal may be stopped
        if row.error:
            print(f"rehearse: cell {row.cell}: {row.error}", file=sys.stderr, flush=True)
        elif row.projection is not None:
            console.print(Text(f"{row.cell}: skipped, weights and optimizer state alone project to "
                               f"{row.projection.total / 2**30:.1f} GiB at batch {batch_size} (more than this "
                               f"machine can hold): "
                               + ", ".join(f"{k} {v / 2**30:.1f}" for k, v in row.projection.parts().items() if v)))
        else:
            console.print(Text(" | ".join(_cells(row))))

    console.print(Text(" | ".join(COLUMNS)))
    rows = rehearse(specs, steps=steps, batch_size=batch_size, device=device, tiny=tiny, threads=threads,
                    on_row=show)
    failed = [r for r in rows if r.error]
    if saved_to:
        console.print(Text(f"measurements saved for plan --cost: {saved_to[0]}"))
    minutes = (time.perf_counter() - started) / 60
    console.print(Text(f"{suite}: {len(rows) - len(failed)} of {len(rows)} cells ok "
                       f"({sum(r.projection is not None for r in rows)} projected only) in {minutes:.1f} min"))
    return 1 if failed else 0
