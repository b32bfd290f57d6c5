"""Cluster executors with the local executor's contract: submit run specs, get run outcomes back.

We do not schedule anything ourselves. Ray places each run as a task with its CPU/GPU share (Ray
sets ``CUDA_VISIBLE_DEVICES`` per task, retries tasks whose worker died) on one box or a multi-node
cluster; submitit turns the grid into one Slurm job array. Workers only write run directories under
the results directory, which must therefore be on a filesystem every node sees; the single collector
ingests them afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tram_bench.executors.local import ExecutionReport, Reporter, RunOutcome
from tram_bench.suite.spec import RunSpec
from tram_bench.train.loop import run_cell


class MissingExtra(RuntimeError):
    """An optional extra (ray, slurm) is not installed; one-line message naming the pip command."""


@dataclass
class Resources:
    """What one run asks of the scheduler. Fractional GPUs pack several small runs on one GPU (Ray)."""

    cpus: float = 1.0
    gpus: float = 0.0
    mem_gb: float | None = None
    timeout_min: int = 24 * 60
    partition: str | None = None


def _run_payload(spec_json: dict[str, Any], results: str, device: str, threads: int) -> dict[str, Any]:
    """The body of one remote run (module-level so Ray and submitit can pickle it by reference)."""
    import torch

    # Use exactly the CPUs the scheduler granted: oversubscribed threads slow every run on the node.
    torch.set_num_threads(threads)
    record = run_cell(RunSpec.from_json(spec_json), Path(results), device=device)
    return {"run_id": record["run_id"], "status": record["status"], "error": record.get("error"),
            "wall_time_s": record.get("wall_time_s", 0.0)}


# ------------------------------------------------------------------------------------------------ Ray
def run_ray(specs: list[RunSpec], results: Path, *, device: str = "cpu", resources: Resources | None = None,
            address: str | None = None, max_retries: int = 2, reporter: Reporter | None = None,
            init_kwargs: dict[str, Any] | None = None) -> ExecutionReport:
    """Run each spec as a Ray task. ``address=None`` starts (or joins) a local Ray instance;
    ``address="auto"`` or ``"ray://host:10001"`` joins an existing cluster (e.g. inside a Slurm allocation).

    ``max_retries`` re-executes a run whose worker process or node died (Ray's system-failure retries);
    a run that raises is already recorded as failed by ``run_cell`` and is not retried.
    """
    try:
        import ray
    except ImportError:
        raise MissingExtra("the ray executor needs Ray: pip install 'tram-bench[ray]'") from None
    reporter = reporter or Reporter()
    resources = resources or Resources()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, **(init_kwargs or {}))
    remote = ray.remote(_run_payload).options(num_cpus=resources.cpus, num_gpus=resources.gpus,
                                              max_retries=max_retries, retry_exceptions=False)
    report = ExecutionReport()
    reporter.grid_start(len(specs))
    threads = max(1, int(resources.cpus))
    pending = {remote.remote(s.to_json(), str(Path(results).resolve()), device, threads): s for s in specs}
    for slot, spec in enumerate(pending.values()):
        reporter.run_start(spec, slot)
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            spec = pending.pop(done[0])
            try:
                outcome = RunOutcome(**ray.get(done[0]))
            except Exception as exc:  # noqa: BLE001 - the worker was lost beyond its retries
                outcome = RunOutcome(spec.run_id, "lost", f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            report.outcomes.append(outcome)
            reporter.run_end(spec, outcome)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        report.interrupted = True
    finally:
        reporter.grid_end()
    return report


# ---------------------------------------------------------------------------------------------- Slurm
def run_slurm(specs: list[RunSpec], results: Path, *, device: str = "cpu", resources: Resources | None = None,
              cluster: str | None = None, max_parallel: int = 64, reporter: Reporter | None = None,
              extra_parameters: dict[str, Any] | None = None) -> ExecutionReport:
    """Submit the grid as one Slurm job array through submitit and wait for it.

    ``cluster=None`` lets submitit pick Slurm when available; ``"local"`` runs the array as local
    subprocesses and ``"debug"`` in this process (both used by the tests). Logs go to
    ``results/slurm/<job id>/``, beside the run directories.
    """
    try:
        import submitit
    except ImportError:
        raise MissingExtra("the slurm executor needs submitit: pip install 'tram-bench[slurm]'") from None
    reporter = reporter or Reporter()
    resources = resources or Resources()
    results = Path(results).resolve()
    executor = submitit.AutoExecutor(folder=str(results / "slurm" / "%j"), cluster=cluster)
    params: dict[str, Any] = {
        "timeout_min": resources.timeout_min,
        "cpus_per_task": max(1, int(resources.cpus)),
        "slurm_array_parallelism": max_parallel,
        "name": "tram-bench",
    }
    if resources.gpus:
        params["gpus_per_node"] = max(1, int(resources.gpus))
    if resources.mem_gb:
        params["mem_gb"] = resources.mem_gb
    if resources.partition:
        params["slurm_partition"] = resources.partition
    params.update(extra_parameters or {})
    executor.update_parameters(**params)
    report = ExecutionReport()
    reporter.grid_start(len(specs))
    try:
        n = len(specs)
        jobs = executor.map_array(_run_payload, [s.to_json() for s in specs], [str(results)] * n, [device] * n,
                                  [max(1, int(resources.cpus))] * n)
        for slot, (spec, job) in enumerate(zip(specs, jobs)):
            reporter.run_start(spec, slot)
        for spec, job in zip(specs, jobs):
            try:
                outcome = RunOutcome(**job.result())
            except Exception as exc:  # noqa: BLE001 - job killed, node failure, timeout
                outcome = RunOutcome(spec.run_id, "lost", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            report.outcomes.append(outcome)
            reporter.run_end(spec, outcome)
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        reporter.grid_end()
    return report
