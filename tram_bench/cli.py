"""The ``tram-bench`` command. Heavy modules (torch, duckdb) are imported inside the commands so that
``tram-bench --help`` and ``tram-bench validate`` stay fast.

Every user mistake ends in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import fnmatch
import os
import sys
from pathlib import Path

EXIT_USAGE = 2


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2."""


class _UsageError(Exception):
    """A command line argparse refused (unknown flag, bad flag value); the message is one full line."""


class _Parser(argparse.ArgumentParser):
    """argparse with the project's error rule: one line (argparse's own adds the usage), exit code 2.
    Abbreviated flags are refused: ``--thread 2`` must not silently mean ``--threads 2``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise _UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


# --------------------------------------------------------------------------------------------- suites
def _load_specs(args) -> tuple[object, list]:
    """(the suite resolved once, its cells that ``--only`` selects); with ``--pilot``, the suite on its
    pilot seeds."""
    from tram_bench.suite.load import pilot_suite, resolve_suite

    suite = resolve_suite(args.suite, args.override or [])
    if getattr(args, "pilot", False):
        suite = pilot_suite(suite)
    specs = list(suite.cells)
    if getattr(args, "only", None):
        specs = [s for s in specs if _matches(s, args.only)]
        if not specs:
            raise UserError(f"--only {args.only!r} matches no cell of {args.suite}")
    return suite, specs


def _matches(spec, pattern: str) -> bool:
    fields = (spec.task_label, spec.method, spec.run_id, f"{spec.task_label}/{spec.method}/{spec.seed}")
    return any(fnmatch.fnmatchcase(f, pattern) for f in fields)


@contextlib.contextmanager
def _results_lock(results: Path):
    """One ``tram-bench run`` per results directory at a time."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / ".run.lock"
    fh = open(path, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise UserError(
                f"results directory {results} is in use by another tram-bench run (pid {holder}); "
                f"wait for it to finish or pass --results DIR"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()


def cmd_validate(args) -> int:
    from tram_bench.suite.train_rules import unknown_size_warnings

    _, specs = _load_specs(args)
    tasks = len({s.task_label for s in specs})
    for line in unknown_size_warnings(specs):
        print(f"warning: {line}", file=sys.stderr)
    print(f"{args.suite}: ok ({len(specs)} cells, {tasks} tasks)")
    return 0


def cmd_plan(args) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from tram_bench.suite.plan import plan_rows
    from tram_bench.train import rundir

    if args.mde is not None and not 0 < args.mde < float("inf"):
        raise UserError(f"--mde must be a positive finite effect in the task's units, got {args.mde}")
    suite, specs = _load_specs(args)
    results = Path(args.results)
    rows = plan_rows(specs, lambda run_id: rundir.status(results, run_id))
    # Every string from the suite is a Text, never markup: "blobs[lr=0.01]" shows as typed.
    table = Table(title=Text(f"{suite.config.suite}: {len(rows)} cells"))
    for col in ("task", "method", "hyperparameters", "seed", "run id", "status"):
        table.add_column(col)
    colour = {rundir.Status.OK: "green", rundir.Status.FAILED: "red", rundir.Status.DIVERGED: "yellow",
              rundir.Status.PENDING: "dim"}
    for r in rows:
        table.add_row(Text(r.task), Text(r.method), Text(r.hparams), str(r.seed), Text(r.run_id),
                      Text(r.status, style=colour.get(r.status, "white")))
    console = Console(soft_wrap=True)
    console.print(table)
    counts = {s: sum(1 for r in rows if r.status == s) for s in (*rundir.FINISHED, rundir.Status.PENDING)}
    console.print(Text(", ".join(f"{v} {k}" for k, v in counts.items())))
    _plan_power(args, suite, results, console)
    if args.cost:
        _plan_cost(args, specs, console, getattr(suite, "design", None))
    elif args.gpu or args.tflops is not None or args.memory_gb is not None or args.efficiency is not None:
        raise UserError("--gpu, --tflops, --memory-gb and --efficiency apply to --cost")
    return 0


def _pilot_store(results: Path) -> Path:
    """Where ``run --pilot`` writes and ``plan`` reads the pilot runs: ``RESULTS/pilot``."""
    return results / "pilot"


def _plan_power(args, suite, results: Path, console) -> None:
    """The power section of ``plan``: per task m, n, the smallest adjusted p, and (from the pilot runs) the
    SD of paired differences and the MDE; then the pilot's conditioning numbers."""
    from rich.text import Text

    from tram_bench.report.earlier_runs import PilotError, pilot_evidence
    from tram_bench.report.power import design_power, power_lines

    design = suite.design  # the whole suite's design, whatever --only shows
    name = suite.config.suite
    try:
        pilot = pilot_evidence(_pilot_store(results), Path("docs") / "results" / name / "pilot", name)
    except PilotError as exc:
        raise UserError(str(exc)) from None
    rows = design_power(design, pilot.sds, args.mde)
    for line in power_lines(design, rows, override=args.mde is not None, source=pilot.source):
        console.print(Text(line))
    for line in pilot.conditioning_lines():
        console.print(Text(line))


def _plan_cost(args, specs, console, design) -> None:
    """The cost section of ``plan --cost`` (tram_bench/train/rehearsal/projection.py): memory, FLOPs, GPU-hours."""
    from rich.text import Text

    from tram_bench.train.rehearsal.gpus import DEFAULT_EFFICIENCY, DEFAULT_GPU, GPUS, custom_gpu
    from tram_bench.train.rehearsal.projection import cost_section

    efficiency = DEFAULT_EFFICIENCY if args.efficiency is None else args.efficiency
    if efficiency > 1:
        raise UserError(f"--efficiency is a share of the peak FLOPs, at most 1, got {efficiency:g}")
    if (args.tflops is None) != (args.memory_gb is None):
        raise UserError("--tflops and --memory-gb go together (a GPU given by its numbers)")
    if args.tflops is not None and args.gpu is not None:
        raise UserError("give either --gpu NAME or --tflops X --memory-gb Y, not both")
    gpu = custom_gpu(args.tflops, args.memory_gb) if args.tflops is not None else GPUS[args.gpu or DEFAULT_GPU]
    try:
        lines = cost_section(specs[0].suite, specs, gpu=gpu, efficiency=efficiency, design=design)
    except ValueError as exc:  # an unreadable measurement file names itself
        raise UserError(str(exc)) from None
    for line in lines:
        console.print(Text(line))


def cmd_rehearse(args) -> int:
    from tram_bench.train.rehearsal.view import rehearse_command

    _, specs = _load_specs(args)
    _check_device(args.device)
    return rehearse_command(specs[0].suite, specs, steps=args.steps, batch_size=args.batch_size,
                            device=args.device, tiny=args.tiny, threads=args.threads)


def cmd_run(args) -> int:
    from tram_bench.executors.progress import make_reporter
    from tram_bench.suite.plan import write_plan_file
    from tram_bench.train import rundir

    resolved, specs = _load_specs(args)
    suite = resolved.config
    # Pilot runs have their own store, so they never mix with the reported runs nor enter a verdict.
    results = _pilot_store(Path(args.results)) if args.pilot else Path(args.results)
    _check_device(args.device)
    trackers = _trackers(args.tracker)
    from tram_bench.train.quiet import silence_progress_bars

    silence_progress_bars()  # before any worker starts, so workers import tqdm and the hub with the bars off
    with _results_lock(results):
        # The plan lists the whole suite even when --only runs a part of it: a run the plan does not list is
        # stale in the report and leaves every statistic.
        write_plan_file(results, suite.suite, suite.path, resolved.cells, resolved.design)
        retry = {rundir.Status.FAILED} if args.retry_failed else set()
        pending = [s for s in specs if (st := rundir.status(results, s.run_id)) == rundir.Status.PENDING or st in retry]
        done = len(specs) - len(pending)
        reporter = make_reporter(quiet=args.quiet)
        print(f"{suite.suite}: {len(specs)} cells, {done} already finished, {len(pending)} to run", flush=True)
        if pending and args.executor == "local" and args.device == "cpu":
            _warn_thread_mismatch(results, resolved.cells, args)
        report = _execute(args, pending, results, reporter, trackers)
        ok, failed, div, lost = (report.count(s) for s in (*rundir.FINISHED, rundir.Status.LOST))
        print(f"{suite.suite}: {ok} ok, {failed} failed, {div} diverged"
              + (f", {lost} lost (worker died; pending next time)" if lost else ""), flush=True)
        if report.interrupted:
            print("interrupted: finished runs are kept; run the same command again to resume", file=sys.stderr)
            return 130
        if failed:
            print("failed runs keep their traceback in results/runs/<run_id>/error.txt; "
                  "rerun them with --retry-failed", file=sys.stderr)
        if not args.no_collect:
            _collect(results, quiet=args.quiet)
        # A Slurm array refused after earlier ones ran: their runs are kept (and collected), the rest is pending.
        refused = getattr(report, "submission_error", None)
        if refused:
            print(f"tram-bench: error: {refused}", file=sys.stderr)
    return 1 if failed or refused else 0


def _warn_thread_mismatch(results: Path, cells, args) -> None:
    """CPU results change with the torch thread count: say so when this invocation would give its runs a
    different count from the grid's finished ones, --only or not (records keep it in provenance.num_threads)."""
    from tram_bench.executors.local import threads_per_run
    from tram_bench.train import rundir

    now = threads_per_run(args.workers, args.threads)
    before: dict[int, int] = {}
    for spec in cells:
        if rundir.status(results, spec.run_id) != rundir.Status.OK:
            continue
        try:
            n = rundir.read_record(rundir.run_path(results, spec.run_id)).provenance["num_threads"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        before[n] = before.get(n, 0) + 1
    other = {n: c for n, c in before.items() if n != now}
    if other:
        used = ", ".join(f"{c} with {n}" for n, c in sorted(other.items()))
        print(f"warning: finished runs of this grid used other torch thread counts ({used}); this run gives "
              f"each run {now}. CPU results depend on it: pass --threads {max(other, key=other.get)} to match them.",
              file=sys.stderr, flush=True)


def _trackers(names: list[str] | None) -> tuple[str, ...]:
    """The ``--tracker`` names, each once. A tracker whose package is not installed is a UserError naming
    the extra to install, raised before anything is written."""
    from tram_bench.train.tracking.choices import MissingTracker, check_installed, unique

    trackers = unique(names or ())
    try:
        check_installed(trackers)
    except MissingTracker as exc:
        raise UserError(str(exc)) from None
    return trackers


def _execute(args, pending, results: Path, reporter, trackers: tuple[str, ...] = ()):
    from tram_bench.executors.cluster import Resources, run_ray, run_slurm
    from tram_bench.executors.local import execute

    if args.executor == "local":
        return execute(pending, results, workers=args.workers, device=args.device, reporter=reporter,
                       threads=args.threads, trackers=trackers)
    if not pending:
        from tram_bench.executors.local import ExecutionReport

        return ExecutionReport()
    resources = Resources(cpus=args.cpus_per_run, gpus=args.gpus_per_run, mem_gb=args.mem_gb,
                          timeout_min=args.timeout_min, partition=args.partition)
    if args.executor == "ray":
        return run_ray(pending, results, device=args.device, resources=resources, address=args.address,
                       reporter=reporter, trackers=trackers)
    return run_slurm(pending, results, device=args.device, resources=resources, cluster=args.slurm_cluster,
                     reporter=reporter, max_array_size=args.max_array_size, trackers=trackers)


def _check_device(device: str) -> None:
    """CUDA must be there for ``--device cuda[:N]`` (the flag's spelling is checked by argparse)."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")


def _collect(results: Path, quiet: bool = False) -> None:
    from tram_bench.store.collector import collect

    stats = collect(results)
    if not quiet:
        print(f"collected into {results / 'tram-bench.duckdb'}: {stats.ingested} new, {stats.updated} updated, "
              f"{stats.skipped} unchanged" + (f", {len(stats.failed_dirs)} unreadable" if stats.failed_dirs else ""))
    for d, reason in stats.failed_dirs:
        print(f"warning: {d}: {reason}", file=sys.stderr)


def cmd_collect(args) -> int:
    _collect(Path(args.results))
    return 0


def _open_db(results: Path):
    from tram_bench.store.query import open_db

    db = results / "tram-bench.duckdb"
    if not db.exists():
        raise UserError(f"no database at {db}; run a suite first (tram-bench run SUITE) or tram-bench collect")
    return open_db(results, read_only=True)


def cmd_report(args) -> int:
    from rich.console import Console

    from tram_bench.report import terminal_report

    con = _open_db(Path(args.results))
    # Lines wrap at the terminal's width (soft_wrap off), so the compact view stays within 80 columns.
    terminal_report(con, Console(), task=args.task, view=args.view)
    return 0


def cmd_claims(args) -> int:
    from rich.console import Console

    from tram_bench.report.claims.render import print_ledger
    from tram_bench.report.terminal import ensure_views

    con = _open_db(Path(args.results))
    try:
        ensure_views(con)
        print_ledger(con, Console())
    finally:
        con.close()
    return 0


def cmd_frontier(args) -> int:
    from tram_bench.report.frontier import FrontierOptions, chart_files, frontier_markdown, load_frontier
    from tram_bench.report.readme_tables import ExportError, load_export
    from tram_bench.report.terminal import ensure_views

    options = FrontierOptions.from_flags(args.bench, args.workload, args.variants, args.references)
    if args.export is not None:
        try:
            con = load_export(Path(args.export))
        except ExportError as exc:
            raise UserError(str(exc)) from None
    else:
        con = _open_db(Path(args.results))
    try:
        if args.export is None:
            ensure_views(con)
        f = load_frontier(con, args.suite, options.step_ratios(), options)
    except ValueError as exc:  # the step-cost file (missing, malformed, or without a task family's workload)
        raise UserError(str(exc)) from None
    finally:
        con.close()
    if not f.points:
        raise UserError(f"suite {args.suite!r}: no configuration with an OOD score in {args.export or args.results}")
    print(frontier_markdown(f.points, f.verdicts))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for files in chart_files(f.points).values():
            for name, svg in files.items():
                (out / name).write_text(svg)
    return 0


def cmd_readme_tables(args) -> int:
    from tram_bench.report.frontier import FrontierOptions
    from tram_bench.report.readme_tables import ExportError, regenerate

    options = FrontierOptions.from_flags(args.bench, args.workload, args.variants, args.references)
    try:
        changed = regenerate(Path(args.readme), [Path(d) for d in args.exports], check=args.check, frontier=options)
    except ExportError as exc:
        raise UserError(str(exc)) from None
    if args.check:
        if changed:
            print(f"{args.readme}: the blocks of suite(s) {', '.join(changed)} differ from the exports; "
                  f"regenerate with: tram-bench readme-tables {' '.join(args.exports)} --readme {args.readme}",
                  file=sys.stderr)
            return 1
        print(f"{args.readme}: results match the exports")
    else:
        print(f"{args.readme}: " + (f"regenerated suite(s) {', '.join(changed)}" if changed else "already up to date"))
    return 0


def cmd_export(args) -> int:
    from tram_bench.store.export import export

    results = Path(args.results)
    _open_db(results).close()
    from tram_bench.store.export import UnknownSuite

    try:
        paths = export(results, Path(args.out or results / "export"), args.format, suite=args.suite)
    except UnknownSuite as exc:
        raise UserError(str(exc)) from None
    for path in paths:
        print(path)
    return 0


def cmd_leaderboard(args) -> int:
    from tram_bench.report import build_site

    results = Path(args.results)
    _open_db(results).close()
    index = build_site(results / "tram-bench.duckdb", Path(args.out), results)
    print(f"leaderboard written: {index} (open it in a browser; works from file://)")
    return 0


def cmd_list(args) -> int:
    from tram_bench.methods.registry import METHODS
    from tram_bench.tasks.registry import TASKS

    if args.what in ("methods", "all"):
        print("methods: " + " ".join(METHODS.ids()))
    if args.what in ("tasks", "all"):
        print("tasks: " + " ".join(TASKS.ids()))
    return 0


# --------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from tram_bench.executors.slurm_defaults import DEFAULT_MAX_ARRAY_SIZE
    from tram_bench.train.tracking.choices import NAMES as TRACKERS
    from tram_bench.util import cliargs

    p = _Parser(
        prog="tram-bench",
        description="Benchmark fine-tuning optimizers (TRAM, SAM family, trust regions) under distribution shift.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def suite_args(sp, only=False):
        sp.add_argument("suite", type=cliargs.nonempty, help="suite YAML file, e.g. suites/vision.yaml")
        sp.add_argument("-O", "--override", action="append", metavar="KEY=VALUE",
                        help="override a suite value by dotted path (repeatable), e.g. -O train.steps=10")
        if only:
            sp.add_argument("--only", metavar="PATTERN", type=cliargs.nonempty,
                            help="glob on task label, method id, run id or task/method/seed")

    def results_arg(sp):
        sp.add_argument("--results", default="results", metavar="DIR", type=cliargs.nonempty,
                        help="results directory (default: results)")

    def frontier_args(sp):
        # None = the defaults of tram_bench.report.frontier (FrontierOptions.from_flags).
        sp.add_argument("--bench", default=None, type=cliargs.nonempty, metavar="FILE",
                        help="step_cost.py --json output for the measured cost axis "
                             "(default: frontier.DEFAULT_BENCH, relative to the working directory)")
        sp.add_argument("--workload", default=None, type=cliargs.nonempty,
                        help="its workload whose ratios to use for every task (default: by the task's family, "
                             "frontier.WORKLOAD_BY_FAMILY)")
        sp.add_argument("--variants", default=None, type=cliargs.nonempty,
                        help="comma-separated configurations tested for equivalence "
                             "(default: frontier.DEFAULT_VARIANTS)")
        sp.add_argument("--references", default=None, type=cliargs.nonempty,
                        help="comma-separated configurations they are compared with "
                             "(default: frontier.DEFAULT_REFERENCES)")

    sp = sub.add_parser("run", help="run the pending cells of a suite, then collect them into DuckDB")
    suite_args(sp, only=True)
    results_arg(sp)
    sp.add_argument("--workers", type=cliargs.int_at_least(1), default=1, help="parallel worker processes (default 1)")
    sp.add_argument("--device", type=cliargs.device, default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    sp.add_argument("--threads", type=cliargs.int_at_least(1), default=None,
                    help="torch threads per worker (default: cores/workers)")
    sp.add_argument("--retry-failed", action="store_true", help="also rerun cells that failed before")
    sp.add_argument("--pilot", action="store_true",
                    help="run the suite's pilot_seeds instead of its seeds, into RESULTS/pilot (their own store: "
                         "pilot runs size the budget in plan and never enter a verdict)")
    sp.add_argument("--executor", choices=("local", "ray", "slurm"), default="local",
                    help="where runs execute: local processes (default), a Ray cluster, or a Slurm job array")
    sp.add_argument("--address", type=cliargs.nonempty, default=None,
                    help="ray: cluster address (default: start or join a local one)")
    sp.add_argument("--cpus-per-run", type=cliargs.number_above(0), default=1.0,
                    help="ray/slurm: CPUs per run (default 1)")
    sp.add_argument("--gpus-per-run", type=cliargs.number_above(0, inclusive=True), default=0.0,
                    help="ray/slurm: GPUs per run; fractional values pack small runs on one GPU under Ray")
    sp.add_argument("--mem-gb", type=cliargs.number_above(0), default=None, help="slurm: memory per run in GB")
    sp.add_argument("--timeout-min", type=cliargs.int_at_least(1), default=24 * 60,
                    help="slurm: time limit per run in minutes")
    sp.add_argument("--partition", type=cliargs.nonempty, default=None, help="slurm: partition")
    sp.add_argument("--max-array-size", type=cliargs.int_at_least(1), default=DEFAULT_MAX_ARRAY_SIZE,
                    help=f"slurm: cells per job array at most (default {DEFAULT_MAX_ARRAY_SIZE}); more pending cells "
                         "are split into several arrays. Keep it within the cluster's MaxArraySize")
    sp.add_argument("--slurm-cluster", default=None, choices=("slurm", "local", "debug"),
                    help="slurm: submitit backend (default: Slurm when available; 'local'/'debug' run without a "
                         "cluster, for testing)")
    sp.add_argument("--no-collect", action="store_true", help="do not ingest into DuckDB afterwards")
    sp.add_argument("--quiet", action="store_true", help="plain one-line-per-run output")
    sp.add_argument("--tracker", action="append", choices=TRACKERS, metavar="NAME",
                    help="mirror each run's metrics, config and final metrics, offline, into RESULTS/trackers/NAME "
                         f"(repeatable): {', '.join(TRACKERS)}; each needs its extra, tram-bench[tracking-NAME]")
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("validate", help="check a suite file; exit 2 with file:line: key: message on errors")
    suite_args(sp)
    sp.set_defaults(func=cmd_validate)

    sp = sub.add_parser("plan", help="show every cell of a suite with its run id and status")
    suite_args(sp, only=True)
    results_arg(sp)
    sp.add_argument("--mde", type=float, default=None, metavar="X",
                    help="effect to plan seeds for, in the task's units (default: each task's delta)")
    from tram_bench.train.rehearsal.gpus import DEFAULT_EFFICIENCY, GPU_NAMES

    sp.add_argument("--cost", action="store_true",
                    help="project memory, FLOPs and GPU-hours per cell (activations from tram-bench rehearse)")
    sp.add_argument("--gpu", choices=GPU_NAMES, default=None, help="--cost: the GPU to project for (default A100-80)")
    sp.add_argument("--tflops", type=cliargs.number_above(0), default=None, metavar="X",
                    help="--cost: a GPU's peak TFLOPs (with --memory-gb, instead of --gpu)")
    sp.add_argument("--memory-gb", type=cliargs.number_above(0), default=None, metavar="Y",
                    help="--cost: that GPU's memory in GB")
    sp.add_argument("--efficiency", type=cliargs.number_above(0), default=None, metavar="E",
                    help=f"--cost: share of the peak FLOPs a run sustains (default {DEFAULT_EFFICIENCY})")
    sp.set_defaults(func=cmd_plan)

    sp = sub.add_parser("rehearse", help="run each distinct cell of a suite for a few steps at real size on "
                                         "generated data (no hub), and measure it for plan --cost")
    suite_args(sp, only=True)
    sp.add_argument("--steps", type=cliargs.int_at_least(1), default=2, help="steps per cell (default 2)")
    sp.add_argument("--batch-size", type=cliargs.int_at_least(1), default=2, help="examples per step (default 2)")
    sp.add_argument("--device", type=cliargs.device, default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    sp.add_argument("--tiny", action="store_true",
                    help="one-layer, width-32 architectures (vocabularies and input sizes real): the code path in "
                         "seconds; measurements are not saved")
    sp.add_argument("--threads", type=cliargs.int_at_least(1), default=None,
                    help="torch CPU threads (default 1 on cpu: a shared machine's cores are not all free)")
    sp.set_defaults(func=cmd_rehearse)

    sp = sub.add_parser("collect", help="ingest finished run directories into results/tram-bench.duckdb")
    results_arg(sp)
    sp.set_defaults(func=cmd_collect)

    sp = sub.add_parser("report", help="print leaderboard tables in the terminal")
    results_arg(sp)
    sp.add_argument("--task", type=cliargs.nonempty, help="only this task (label)")
    view = sp.add_mutually_exclusive_group()
    view.add_argument("--domains", dest="view", action="store_const", const="domains",
                      help="add each task's per-domain table to the compact view")
    view.add_argument("--wide", dest="view", action="store_const", const="wide",
                      help="every table: per-domain, verdict tests, severity, cost, analysis")
    sp.set_defaults(func=cmd_report, view="compact")

    sp = sub.add_parser("claims", help="test the paper's headline claims on the results (tram_bench/report/claims/)")
    results_arg(sp)
    sp.set_defaults(func=cmd_claims)

    sp = sub.add_parser("frontier", help="OOD score against cost per task with its Pareto front, and whether "
                        "cheap methods are equivalent to the references (TOST, Holm)")
    sp.add_argument("suite", help="suite name, e.g. frontier")
    source = sp.add_mutually_exclusive_group()
    source.add_argument("--results", default="results", metavar="DIR", type=cliargs.nonempty,
                        help="results directory (default: results)")
    source.add_argument("--export", default=None, metavar="DIR", type=cliargs.nonempty,
                        help="read a tram-bench export directory instead (e.g. docs/results/frontier)")
    frontier_args(sp)
    sp.add_argument("--out", default=None, type=cliargs.nonempty,
                    help="also write the charts as SVG files into this directory")
    sp.set_defaults(func=cmd_frontier)

    sp = sub.add_parser("readme-tables", help="regenerate the README's result tables, verdicts and claims from "
                                              "committed exports (docs/results/<suite>/)")
    sp.add_argument("exports", nargs="+", type=cliargs.nonempty, metavar="EXPORT_DIR",
                    help="a directory written by tram-bench export --format csv, e.g. docs/results/vision")
    sp.add_argument("--readme", type=cliargs.nonempty, default="README.md",
                    help="file holding the <!-- tram-bench:results SUITE begin/end --> markers, and optionally "
                         "<!-- tram-bench:frontier SUITE begin/end --> ones (default README.md)")
    sp.add_argument("--check", action="store_true",
                    help="only compare; exit 1 when the file or a frontier chart differs from the exports")
    frontier_args(sp)  # for <!-- tram-bench:frontier SUITE begin/end --> blocks, as tram-bench frontier
    sp.set_defaults(func=cmd_readme_tables)

    sp = sub.add_parser("export", help="write the runs and metrics tables as Parquet or CSV")
    results_arg(sp)
    sp.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    sp.add_argument("--out", type=cliargs.nonempty, help="output directory (default: RESULTS/export)")
    sp.add_argument("--suite", type=cliargs.nonempty, default=None, metavar="NAME",
                    help="only this suite's rows (the export committed under docs/results/NAME/)")
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser("leaderboard", help="write the static HTML leaderboard (works from file://)")
    results_arg(sp)
    sp.add_argument("--out", type=cliargs.nonempty, default="leaderboard",
                    help="output directory (default: leaderboard)")
    sp.set_defaults(func=cmd_leaderboard)

    sp = sub.add_parser("list", help="list registered method and task ids")
    sp.add_argument("what", nargs="?", choices=("methods", "tasks", "all"), default="all")
    sp.set_defaults(func=cmd_list)
    return p


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that are the user's to fix (imported lazily: they live in heavy modules)."""
    from tram_bench.executors.cluster import MissingExtra, SubmissionError
    from tram_bench.train.loop import ResultsWriteError
    from tram_bench.util.files import MissingAssetPackage
    from tram_bench.util.registry import RegistryError

    from tram_bench.report.views import StoreSchemaError
    from tram_bench.store.collector import CollectorError
    from tram_bench.store.query import StoreError
    from tram_bench.suite.errors import SuiteInvalid

    return (UserError, RegistryError, MissingAssetPackage, MissingExtra, ResultsWriteError, SuiteInvalid,
            CollectorError, StoreError, SubmissionError, StoreSchemaError)


def main(argv: list[str] | None = None) -> int:
    try:
        # Flags are checked here, before any command reads a suite or writes to the results directory.
        args = build_parser().parse_args(argv)
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # Disk full, read-only or missing paths: say which file, keep every finished run.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"tram-bench: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - mapped below
        if isinstance(exc, _user_errors()):
            for line in str(exc).splitlines() or [type(exc).__name__]:
                print(f"tram-bench: error: {line}" if not _is_located(line) else line, file=sys.stderr)
            return EXIT_USAGE
        raise


def _is_located(line: str) -> bool:
    """Suite errors are already ``file:line: key: message``."""
    head = line.split(":", 2)
    return len(head) == 3 and head[1].strip().isdigit()


if __name__ == "__main__":
    sys.exit(main())
