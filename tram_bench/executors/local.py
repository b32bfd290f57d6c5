"""The local executor: run pending cells sequentially, or in N worker processes.

Workers only write run directories (``tram_bench.train.rundir``); the collector ingests them later.
CPU cores are split between workers (``torch.set_num_threads``); on a CUDA machine each worker owns
one GPU through ``CUDA_VISIBLE_DEVICES``. A worker that dies (OOM killer, SIGKILL) leaves its run
without a ``done`` marker, so that run is simply pending on the next ``tram-bench run``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
from pathlib import Path
from typing import Any, Callable, Iterator

from tram_bench.executors.base import ExecutionReport, Finished, Reporter, RunOutcome, Started, drive
from tram_bench.suite.spec import RunSpec
from tram_bench.train.loop import ResultsWriteError, run_cell
from tram_bench.train.preload import run_modules


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def threads_per_run(workers: int, threads: int | None) -> int:
    """Torch threads each run gets: ``--threads``, else the cores split between the requested workers
    (a sequential run keeps torch's default, every core). It depends on the request, never on how many
    cells are still pending, so resuming a grid does not change its cells' arithmetic."""
    if threads:
        return threads
    if workers > 1:
        return max(1, available_cores() // workers)
    import torch

    return torch.get_num_threads()


def run_sequential(specs: list[RunSpec], results: Path, device: str, reporter: Reporter,
                   threads: int | None = None, trackers: tuple[str, ...] = ()) -> ExecutionReport:
    import torch

    def one_by_one() -> Iterator[Started | Finished]:
        for spec in specs:
            yield Started(spec, 0)
            record = run_cell(spec, results, device=device, progress=reporter.run_step, trackers=trackers)
            yield Finished(spec, RunOutcome.of_record(record))

    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return drive(one_by_one(), len(specs), reporter, ExecutionReport())
    finally:
        torch.set_num_threads(previous_threads)


def _worker_main(slot: int, gpu: str | None, threads: int, device: str, results: str,
                 tasks: Any, events: Any, trackers: tuple[str, ...] = ()) -> None:
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    import signal

    import torch

    # The parent handles Ctrl-C and terminates workers; a worker must not die half-way on SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    while True:
        item = tasks.get()
        if item is None:
            return
        spec = RunSpec.from_json(item)
        events.put(("start", slot, item))
        try:
            record = run_cell(spec, Path(results), device=device, trackers=trackers)
        except ResultsWriteError as exc:
            events.put(("fatal", slot, str(exc)))
            return
        events.put(("end", slot, RunOutcome.of_record(record)))


def run_parallel(specs: list[RunSpec], results: Path, device: str, workers: int, reporter: Reporter,
                 threads: int | None = None, gpus: list[str] | None = None,
                 on_worker_start: Callable[[int, int], None] | None = None,
                 trackers: tuple[str, ...] = ()) -> ExecutionReport:
    """Run ``specs`` in ``workers`` processes (one GPU each when ``gpus`` is given).

    On the CPU with one thread per worker, workers are forked from this process, which has already
    imported torch: a worker starts in milliseconds instead of re-importing torch (seconds), which matters
    for grids of short runs. GPU workers must not inherit a CUDA-initialised parent, and multi-threaded
    CPU workers must not inherit its OpenMP thread pool (a forked child that runs parallel kernels on
    it can hang), so both come from a fork server that imports torch and the grid's task and method
    modules once, before any CUDA call or parallel kernel.
    """
    threads = threads or max(1, available_cores() // workers)
    if gpus or threads > 1:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(run_modules(specs))
    else:
        ctx = mp.get_context("fork")
    tasks, events = ctx.Queue(), ctx.Queue()
    for spec in specs:
        tasks.put(spec.to_json())
    for _ in range(workers):
        tasks.put(None)
    procs = []
    for slot in range(workers):
        gpu = gpus[slot] if gpus else None
        p = ctx.Process(target=_worker_main, args=(slot, gpu, threads, device, str(results), tasks, events, trackers),
                        daemon=True, name=f"tram-bench-worker-{slot}")
        p.start()
        procs.append(p)
        if on_worker_start is not None:
            on_worker_start(slot, p.pid)
    fatal: list[str] = []
    by_id = {s.run_id: s for s in specs}

    def from_workers() -> Iterator[Started | Finished]:
        in_flight: dict[int, RunSpec] = {}
        finished = 0
        while finished < len(specs):
            try:
                kind, slot, payload = events.get(timeout=0.5)
            except queue.Empty:
                for slot, p in enumerate(procs):
                    if not p.is_alive() and slot in in_flight:
                        spec = in_flight.pop(slot)
                        finished += 1
                        yield Finished(spec, RunOutcome.lost(spec.run_id, f"worker {slot} died (exit code {p.exitcode})"))
                if not any(p.is_alive() for p in procs):
                    return  # everything left in the queue is pending; it runs next time
                continue
            if kind == "fatal":
                fatal.append(payload)
                return
            if kind == "start":
                spec = by_id[payload["run_id"]]  # the parent's own typed cell: no second decoding
                in_flight[slot] = spec
                yield Started(spec, slot)
            else:
                spec = in_flight.pop(slot, None) or by_id[payload.run_id]
                finished += 1
                yield Finished(spec, payload)

    report = ExecutionReport()
    try:
        drive(from_workers(), len(specs), reporter, report)
    finally:
        for p in procs:
            if p.is_alive() and (report.interrupted or fatal):
                p.terminate()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    if fatal:
        raise ResultsWriteError(fatal[0])
    return report


def visible_gpus() -> list[str]:
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g for g in env.split(",") if g.strip()]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001
        return []


def execute(specs: list[RunSpec], results: Path, *, workers: int = 1, device: str = "cpu",
            reporter: Reporter | None = None, threads: int | None = None,
            trackers: tuple[str, ...] = ()) -> ExecutionReport:
    """Run ``specs`` (already filtered to the pending ones) and write their run directories.
    ``trackers`` mirror each run into those experiment trackers (``tram_bench.train.tracking``).

    ``device="cuda"`` with ``workers`` > 1 runs one worker per visible GPU (at most ``workers``).
    """
    reporter = reporter or Reporter()
    if not specs:
        return ExecutionReport()
    if device.startswith("cuda") and workers > 1:
        gpus = visible_gpus()[:workers]
        if not gpus:
            raise RuntimeError("--device cuda with --workers > 1, but no GPU is visible")
        return run_parallel(specs, results, "cuda", len(gpus), reporter, threads=threads, gpus=gpus,
                            trackers=trackers)
    if workers > 1:
        # Threads from the requested worker count: two pending cells under --workers 2 on 2 cores still
        # run with one thread each, as they would have in the full grid.
        return run_parallel(specs, results, device, min(workers, len(specs)), reporter,
                            threads=threads_per_run(workers, threads), trackers=trackers)
    return run_sequential(specs, results, device, reporter, threads=threads, trackers=trackers)
