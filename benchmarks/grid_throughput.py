"""Grid throughput: runs per minute with 1 and 2 local workers, and Ray's scheduling overhead per run.

A CPU grid of small runs of the generated task (a wider MLP so that one run takes about a second) is
run three ways, each into a fresh results directory, side by side in one process:

- 1 worker (sequential, torch using every core), 1 worker with 1 thread, 2 workers x 1 thread;
- target: 2 workers at least 1.7x the runs per minute of 1 worker on 2 cores;
- Ray (``ray.init(num_cpus=W)``, one CPU per run): overhead per run =
  (wall x concurrency - sum of the runs' own wall times) / runs, i.e. the time a worker slot spends
  on dispatch, process start and imports instead of training. ``ray.init`` is timed separately.

    PYTHONPATH=. python benchmarks/grid_throughput.py [--runs 12] [--steps 150] [--no-ray]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SUITE = Path(__file__).resolve().parents[1] / "tests/fixtures/suites/synthetic.yaml"


@dataclass(frozen=True)
class Throughput:
    name: str
    runs: int
    wall: float
    run_time_sum: float
    concurrency: int

    @property
    def runs_per_minute(self) -> float:
        return 60.0 * self.runs / self.wall

    @property
    def overhead_per_run(self) -> float:
        return (self.wall * self.concurrency - self.run_time_sum) / self.runs


def grid(runs: int, steps: int):
    from tram_bench.suite.load import expand, load_suite

    # tasks.0.train (not the suite-wide train:) because the fixture's task entry sets its own budget.
    overrides = [f"seeds={list(range(runs))}", "methods=[{id: sgd}]", f"tasks.0.train.steps={steps}",
                 f"tasks.0.train.eval_every={steps}", "tasks.0.train.warmup_steps=0",
                 "tasks.0.params={dim: 64, hidden: 512, train_size: 1024, eval_size: 512}"]
    return expand(load_suite(SUITE, overrides))


def _run_times(results: Path) -> float:
    return sum(json.loads((d / "record.json").read_text())["wall_time_s"] for d in (results / "runs").iterdir())


def measure_local(specs, workers: int, threads: int | None, name: str) -> Throughput:
    from tram_bench.executors.local import execute

    with tempfile.TemporaryDirectory(prefix="tram-bench-grid-") as tmp:
        t0 = time.perf_counter()
        report = execute(specs, Path(tmp), workers=workers, threads=threads)
        wall = time.perf_counter() - t0
        assert report.count("ok") == len(specs), [o.error for o in report.outcomes]
        return Throughput(name, len(specs), wall, _run_times(Path(tmp)), workers)


def measure_ray(specs, workers: int) -> tuple[Throughput, float]:
    import ray

    from tram_bench.executors.cluster import Resources, run_ray

    t0 = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    init = time.perf_counter() - t0
    try:
        with tempfile.TemporaryDirectory(prefix="tram-bench-ray-") as tmp:
            t0 = time.perf_counter()
            report = run_ray(specs, Path(tmp), resources=Resources(cpus=1))
            wall = time.perf_counter() - t0
            assert report.count("ok") == len(specs), [o.error for o in report.outcomes]
            return Throughput(f"ray, {workers} CPUs x 1 thread", len(specs), wall, _run_times(Path(tmp)),
                              workers), init
    finally:
        ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.table import Table

    from tram_bench.executors.local import available_cores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args(argv)
    specs = grid(args.runs, args.steps)
    cores = available_cores()

    measure_local(specs[:1], 1, None, "warm-up")  # imports and one-time costs out of the numbers
    rows = [
        measure_local(specs, 1, None, f"1 worker x {cores} threads"),
        measure_local(specs, 1, 1, "1 worker x 1 thread"),
        measure_local(specs, 2, 1, "2 workers x 1 thread"),
    ]
    ray_init = None
    if not args.no_ray:
        try:
            ray_row, ray_init = measure_ray(specs, 2)
            rows.append(ray_row)
        except ImportError:
            Console().print("ray not installed: pip install 'tram-bench[ray]' to measure it")

    table = Table(title=f"grid throughput: {args.runs} runs of {args.steps} steps, {cores} cores")
    for col in ("executor", "wall s", "runs/min", "vs 1 worker", "overhead per run s"):
        table.add_column(col, justify="left" if col == "executor" else "right")
    base = rows[0].runs_per_minute
    for r in rows:
        table.add_row(r.name, f"{r.wall:.1f}", f"{r.runs_per_minute:.1f}", f"{r.runs_per_minute / base:.2f}x",
                      f"{r.overhead_per_run:.2f}")
    console = Console(width=120)
    console.print(table)
    speedup = rows[2].runs_per_minute / base
    console.print(f"2 workers vs 1 worker: {speedup:.2f}x (target >= 1.7x: {'met' if speedup >= 1.7 else 'NOT met'})")
    if ray_init is not None:
        console.print(f"ray.init: {ray_init:.1f} s (once per grid)")
    load = os.getloadavg()[0]
    console.print(f"load average (1 min) at the end: {load:.1f}; timings on a shared machine are noisy")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
