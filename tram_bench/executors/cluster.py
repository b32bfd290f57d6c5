"""Cluster executors with the local executor's contract: submit run specs, get run outcomes back.

We do not schedule anything ourselves. Ray places each run as a task with its CPU/GPU share (Ray
sets ``CUDA_VISIBLE_DEVICES`` per task, retries tasks whose worker died) on one box or a multi-node
cluster; submitit turns the grid into Slurm job arrays of at most ``max_array_size`` cells each (a
cluster refuses an array beyond its ``MaxArraySize``). Workers only write run directories under
the results directory, which must therefore be on a filesystem every node sees; the single collector
ingests them afterwards.
"""

from __future__ import annotations

import contextlib
import io
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from tram_bench.executors.base import ExecutionReport, Finished, Reporter, RunOutcome, Started, drive
from tram_bench.executors.slurm_defaults import DEFAULT_MAX_ARRAY_SIZE
from tram_bench.suite.spec import RunSpec
from tram_bench.train.loop import run_cell


class MissingExtra(RuntimeError):
    """An optional extra (ray, slurm) is not installed; one-line message naming the pip command."""


class SubmissionError(RuntimeError):
    """The scheduler refused the grid before any of it was submitted (``sbatch`` rejected the first array,
    submitit refused a parameter, ``sbatch`` is missing, Ray could not start or join a cluster): one line
    naming what was refused and the reason."""


@dataclass
class SlurmReport(ExecutionReport):
    """The outcomes of the arrays that were submitted; ``submission_error`` (one line) when a later array was
    refused, after the earlier ones finished: its cells and those of the arrays after it stay pending."""

    submission_error: str | None = None
    unsubmitted: int = 0


@dataclass
class Resources:
    """What one run asks of the scheduler. Fractional GPUs pack several small runs on one GPU (Ray)."""

    cpus: float = 1.0
    gpus: float = 0.0
    mem_gb: float | None = None
    timeout_min: int = 24 * 60
    partition: str | None = None


def _run_payload(spec_json: dict[str, Any], results: str, device: str, threads: int,
                 trackers: tuple[str, ...] = ()) -> RunOutcome:
    """The body of one remote run (module-level so Ray and submitit can pickle it by reference)."""
    import torch

    # Use exactly the CPUs the scheduler granted: oversubscribed threads slow every run on the node.
    torch.set_num_threads(threads)
    record = run_cell(RunSpec.from_json(spec_json), Path(results), device=device, trackers=trackers)
    return RunOutcome.of_record(record)


# ------------------------------------------------------------------------------------------------ Ray
# Seconds to wait for a TCP connection to an explicit cluster address before ray.init: against an
# address where nothing listens, ray.init itself retries for minutes before it gives up.
RAY_CONNECT_TIMEOUT_S = 10.0


def check_reachable(address: str | None, timeout_s: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """Raise OSError (one line) unless something accepts a TCP connection at an explicit ``host:port``
    address (``ray://host:port`` included) within ``timeout_s`` seconds. ``None``, ``"auto"``,
    ``"local"`` and addresses without a numeric port are left to ``ray.init``, which reports them itself."""
    if address is None or address in ("auto", "local"):
        return
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise OSError(f"nothing accepted a connection at {host}:{port} within {timeout_s:g} s "
                      f"({exc.strerror or exc})") from None


def run_ray(specs: list[RunSpec], results: Path, *, device: str = "cpu", resources: Resources | None = None,
            address: str | None = None, max_retries: int = 2, reporter: Reporter | None = None,
            init_kwargs: dict[str, Any] | None = None,
            connect_timeout_s: float = RAY_CONNECT_TIMEOUT_S, trackers: tuple[str, ...] = ()) -> ExecutionReport:
    """Run each spec as a Ray task. ``address=None`` starts (or joins) a local Ray instance;
    ``address="auto"`` or ``"ray://host:10001"`` joins an existing cluster (e.g. inside a Slurm allocation).
    An explicit ``host:port`` must accept a TCP connection within ``connect_timeout_s`` seconds
    (:func:`check_reachable`) before ``ray.init`` is called.

    ``max_retries`` re-executes a run whose worker process or node died (Ray's system-failure retries);
    a run that raises is already recorded as failed by ``run_cell`` and is not retried. Raises
    :class:`SubmissionError` (one line) when Ray cannot start or join the cluster.
    """
    try:
        import ray
    except ImportError:
        raise MissingExtra("the ray executor needs Ray: pip install 'tram-bench[ray]'") from None
    reporter = reporter or Reporter()
    resources = resources or Resources()
    if not ray.is_initialized():
        with _submission(f"ray: could not start or join a cluster (address {address!r})"):
            check_reachable(address, connect_timeout_s)
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **(init_kwargs or {}))
    remote = ray.remote(_run_payload).options(num_cpus=resources.cpus, num_gpus=resources.gpus,
                                              max_retries=max_retries, retry_exceptions=False)
    threads = max(1, int(resources.cpus))
    pending: dict[Any, RunSpec] = {}

    def submit_and_wait() -> Iterator[Started | Finished]:
        for s in specs:
            pending[remote.remote(s.to_json(), str(Path(results).resolve()), device, threads, trackers)] = s
        for slot, spec in enumerate(pending.values()):
            yield Started(spec, slot)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            spec = pending.pop(done[0])
            try:
                outcome = ray.get(done[0])
            except Exception as exc:  # noqa: BLE001 - the worker was lost beyond its retries
                outcome = RunOutcome.lost(spec.run_id, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            yield Finished(spec, outcome)

    def cancel() -> None:
        for ref in pending:
            ray.cancel(ref, force=True)

    return drive(submit_and_wait(), len(specs), reporter, ExecutionReport(), on_interrupt=cancel)


# ---------------------------------------------------------------------------------------------- Slurm
def run_slurm(specs: list[RunSpec], results: Path, *, device: str = "cpu", resources: Resources | None = None,
              cluster: str | None = None, max_parallel: int = 64, reporter: Reporter | None = None,
              extra_parameters: dict[str, Any] | None = None,
              max_array_size: int = DEFAULT_MAX_ARRAY_SIZE, trackers: tuple[str, ...] = ()) -> SlurmReport:
    """Submit the grid as Slurm job arrays through submitit and wait for them.

    The specs are split, in order, into arrays of at most ``max_array_size`` cells (``sbatch`` rejects an
    array larger than the cluster's ``MaxArraySize``); each array runs at most ``max_parallel`` cells at
    once. ``cluster=None`` lets submitit pick Slurm when available; ``"local"`` runs the arrays as local
    subprocesses and ``"debug"`` in this process (both used by the tests). Logs go to
    ``results/slurm/<job id>/``, beside the run directories.

    Raises :class:`SubmissionError` when nothing could be submitted (a refused parameter, or ``sbatch``
    rejecting the first array). When a later array is refused, the arrays already submitted are waited
    for and the report carries ``submission_error`` and the number of cells left unsubmitted (pending).
    Raises ValueError for ``max_array_size < 1``.
    """
    if max_array_size < 1:
        raise ValueError(f"max_array_size must be >= 1, got {max_array_size}")
    try:
        import submitit
    except ImportError:
        raise MissingExtra("the slurm executor needs submitit: pip install 'tram-bench[slurm]'") from None
    reporter = reporter or Reporter()
    resources = resources or Resources()
    results = Path(results).resolve()
    cpus = max(1, int(resources.cpus))
    params: dict[str, Any] = {
        "timeout_min": resources.timeout_min,
        "cpus_per_task": cpus,
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
    with _submission("slurm: the executor could not be set up"):
        executor = submitit.AutoExecutor(folder=str(results / "slurm" / "%j"), cluster=cluster)
        executor.update_parameters(**params)
    chunks = [specs[i:i + max_array_size] for i in range(0, len(specs), max_array_size)]
    report = SlurmReport()

    def submit_and_wait() -> Iterator[Started | Finished]:
        submitted: list[tuple[RunSpec, Any]] = []
        for number, chunk in enumerate(chunks, start=1):
            before = _entries(results / "slurm")
            try:
                with _submission(f"slurm: job array {number} of {len(chunks)} ({len(chunk)} cells) was not submitted"):
                    n = len(chunk)
                    jobs = executor.map_array(_run_payload, [s.to_json() for s in chunk], [str(results)] * n,
                                              [device] * n, [cpus] * n, [trackers] * n)
            except SubmissionError as exc:
                _remove_new_files(results / "slurm", before)
                if not submitted:
                    raise
                report.submission_error = f"{exc}; its cells and those after it were not run (pending)"
                report.unsubmitted = len(specs) - len(submitted)
                break
            for spec, job in zip(chunk, jobs):
                yield Started(spec, len(submitted))
                submitted.append((spec, job))
        for spec, job in submitted:
            try:
                outcome = job.result()
            except Exception as exc:  # noqa: BLE001 - job killed, node failure, timeout
                outcome = RunOutcome.lost(spec.run_id, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            yield Finished(spec, outcome)

    return drive(submit_and_wait(), len(specs), reporter, report)


def _entries(folder: Path) -> set[Path] | None:
    """The entries of ``folder``, or None when it does not exist."""
    return set(folder.iterdir()) if folder.is_dir() else None


def _remove_new_files(folder: Path, before: set[Path] | None) -> None:
    """Delete what a refused ``map_array`` left in ``folder`` (submitit pickles the calls and writes the
    sbatch script before ``sbatch`` refuses them), and the folder itself if the attempt created it."""
    if not folder.is_dir():
        return
    for entry in set(folder.iterdir()) - (before or set()):
        if entry.is_file():
            entry.unlink()
    if before is None and not any(folder.iterdir()):
        folder.rmdir()


@contextlib.contextmanager
def _submission(what: str):
    """Turn a refusal by the scheduler (``sbatch``, submitit, ``ray.init``) into one :class:`SubmissionError` line,
    ``WHAT: reason``. submitit prints ``sbatch``'s whole stderr before raising; it is captured here and its
    first error line reported."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            yield
    except (RuntimeError, OSError, ValueError) as exc:
        if isinstance(exc, MissingExtra):
            raise
        lines = [ln.strip() for ln in (str(exc) + "\n" + captured.getvalue()).splitlines() if ln.strip()]
        reason = next((ln for ln in lines if "error" in ln.lower()), lines[0] if lines else type(exc).__name__)
        raise SubmissionError(f"{what}: {reason[:300]}") from None
