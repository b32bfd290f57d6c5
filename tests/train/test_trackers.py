"""The tracker contract (issue 17, item 2), without any tracker library: names of mirrored values, the final
summary, a failing tracker that costs the run nothing, and ``--tracker`` checked before anything is written.
(The read-back of real trackers' files is tests/train/test_tracker_readback.py.)"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tram_bench.cli import main
from tram_bench.train.rundir import Cost, EvalRow, MetricRow, RunRecord, Status, TrainResult, TrainRow
from tram_bench.train.tracking import choices
from tram_bench.train.tracking.contract import FinalSummary, TrackedRun, final_summary, row_scalars
from tram_bench.train.tracking.mirror import MirroredLog
from tram_bench.train.tracking.mlflow_filestore import flat_params, mlflow_key

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "tests/fixtures/suites/synthetic.yaml"
SPEC = {"run_id": "abc123", "suite": "s", "task": "synthetic", "label": "", "method": "tram-prev", "seed": 2,
        "hparams": {"betas": [0.9, 0.99], "eps": 1e-8}, "train": {"lr": 0.05, "max_grad_norm": None}}


def test_a_train_row_gives_every_numeric_field_under_train():
    row = TrainRow(7, 0.5, 0.01, 3, 2, False, {"divergence": 0.25, "perturbation_norm": 0.125})
    step, scalars = row_scalars(row)
    assert step == 7
    assert scalars == {"train/loss": 0.5, "train/lr": 0.01, "train/forward": 3.0, "train/backward": 2.0,
                       "train/skipped": 0.0, "train/divergence": 0.25, "train/perturbation_norm": 0.125}


def test_an_eval_row_is_named_by_domain_split_and_metric():
    row = EvalRow(4, "mnist", "val", "accuracy", 0.75)
    assert row_scalars(row) == (4, {"eval/mnist/val/accuracy": 0.75})


def test_final_summary_names_metrics_cost_and_times_and_never_steps_back():
    result = TrainResult(steps=6, selected_step=3, setup_time_s=0.25, train_time_s=1.5, eval_time_s=0.5,
                         analysis_time_s=0.0, selection=None, cost=Cost(forward=18, backward=12, tokens_per_s=None),
                         metrics=(MetricRow("selected", "uci", "test", "accuracy", 0.9, False, True),))
    record = _record(Status.OK, wall_time_s=2.5, result=result)
    summary = final_summary(record, last_step=8)  # the last mirrored step is later than the steps: kept
    assert summary == FinalSummary("ok", 8, {
        "final/selected/uci/test/accuracy": 0.9, "cost/forward": 18.0, "cost/backward": 12.0,
        "time/wall_time_s": 2.5, "time/setup_time_s": 0.25, "time/train_time_s": 1.5, "time/eval_time_s": 0.5,
        "time/analysis_time_s": 0.0, "time/asset_time_s": 0.125, "run/steps": 6.0, "run/selected_step": 3.0})
    assert final_summary(record, last_step=2).step == 6
    failed = _record(Status.FAILED, wall_time_s=1.0, error="ValueError: boom")
    assert final_summary(failed, last_step=4) == FinalSummary(
        "failed", 4, {"time/wall_time_s": 1.0, "time/asset_time_s": 0.125}, "ValueError: boom")


def _record(status: Status, **kw) -> RunRecord:
    return RunRecord(run_id="abc123", spec=SPEC, status=status, started_at="", finished_at="", asset_time_s=0.125,
                     provenance={}, **kw)


def test_run_name_reads_as_the_grid_and_keeps_four_parts():
    run = TrackedRun.of({**SPEC, "label": "uci/to/mnist"})
    assert run.name == "uci_to_mnist/tram-prev/seed2/abc123"
    assert TrackedRun.of(SPEC).task_label == "synthetic" and TrackedRun.of(SPEC).config == SPEC


def test_mlflow_params_are_the_spec_flattened_and_keys_are_ones_mlflow_accepts():
    assert flat_params(SPEC)["hparams.betas"] == "[0.9, 0.99]"
    assert flat_params(SPEC)["train.max_grad_norm"] == "null"
    assert flat_params(SPEC)["method"] == "tram-prev"
    assert mlflow_key("eval/mnist-c[fog]/val/loss") == "eval/mnist-c_fog_/val/loss"


def _train(step: int) -> TrainRow:
    return TrainRow(step, 1.0, 0.5, 1, 1, False)


_train_scalars = {"train/loss": 1.0, "train/lr": 0.5, "train/forward": 1.0, "train/backward": 1.0,
                  "train/skipped": 0.0}


class _Recorder:
    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple] = []
        self.fail_on = fail_on

    def log(self, step, scalars):
        if self.fail_on == "log":
            raise RuntimeError("disk\nfull")
        self.calls.append(("log", step, dict(scalars)))

    def finish(self, summary):
        self.calls.append(("finish", summary))


def test_rows_reach_each_tracker_as_they_are_appended_and_a_failing_one_is_dropped(capsys):
    good, bad = _Recorder(), _Recorder(fail_on="log")
    log = MirroredLog(trackers={"good": good, "bad": bad}, run_id="abc123")
    log.append(_train(1))
    log.lanes["good"].queued[-1][1].result(timeout=10)  # live: logged by the tracker's thread right away
    assert good.calls == [("log", 1, _train_scalars)]
    log.append(EvalRow(1, "d", "val", "loss", 0.5))
    log.finish(_record(Status.OK, wall_time_s=1.0))
    assert [c[0] for c in good.calls] == ["log", "log", "finish"] and good.calls[-1][1].step == 1
    assert bad.calls == [] and log.trackers == {}
    assert list(log) == [_train(1), EvalRow(1, "d", "val", "loss", 0.5)]
    err = capsys.readouterr().err.splitlines()
    assert err == ["tram-bench: warning: tracker bad failed to log run abc123 (disk full); the run goes on without it"]


def test_a_slow_tracker_does_not_hold_up_the_loop_and_gets_every_row_in_order():
    import threading

    release = threading.Event()

    class Slow(_Recorder):
        def log(self, step, scalars):
            release.wait(60)  # a tracker stuck on its service (W&B waits for its process on a busy machine)
            self.calls.append(("log", step, threading.current_thread() is threading.main_thread()))

    slow = Slow()
    log = MirroredLog(trackers={"slow": slow}, run_id="abc123")
    for step in range(1, 21):
        log.append(_train(step))
    # Every append returned while the tracker was still stuck on the first row: the loop never waits for it.
    assert not [c for c in slow.calls if c[0] == "log"]
    release.set()
    log.finish(_record(Status.OK, wall_time_s=1.0))
    assert [c[1] for c in slow.calls[:-1]] == list(range(1, 21)) and not any(c[2] for c in slow.calls[:-1])
    assert slow.calls[-1][0] == "finish"


def test_a_tracker_that_cannot_open_leaves_a_plain_log(monkeypatch, tmp_path, capsys):
    def refuse(name, results, run):
        raise OSError(f"cannot open {name}")

    monkeypatch.setattr("tram_bench.train.tracking.mirror.open_tracker", refuse)
    log = MirroredLog.open(["wandb", "wandb"], tmp_path, SPEC)
    log.append(_train(1))
    log.finish(_record(Status.OK, wall_time_s=1.0))  # the tracker opens on its thread: wait for it
    assert log.trackers == {} and len(log) == 1
    assert capsys.readouterr().err.count("tracker wandb failed to open run abc123 (cannot open wandb)") == 1


def test_a_tracker_opens_on_its_thread_while_the_run_sets_up_and_gets_the_rows_appended_meanwhile(monkeypatch,
                                                                                                   tmp_path):
    import threading

    release = threading.Event()
    recorder = _Recorder()
    threads = []

    class Recording(_Recorder):
        def log(self, step, scalars):
            threads.append(threading.current_thread())
            recorder.log(step, scalars)

        def finish(self, summary):
            threads.append(threading.current_thread())
            recorder.finish(summary)

    def slow_open(name, results, run):
        release.wait(10)  # opening a tracker (W&B's service, MLflow's run) takes a while
        threads.append(threading.current_thread())
        return Recording()

    monkeypatch.setattr("tram_bench.train.tracking.mirror.open_tracker", slow_open)
    log = MirroredLog.open(["wandb"], tmp_path, SPEC)
    assert not threads and log.trackers == {}  # open returned while the tracker was still opening
    for step in (1, 2):
        log.append(_train(step))
    release.set()
    log.finish(_record(Status.OK, wall_time_s=1.0))
    assert [c[:2] for c in recorder.calls] == [("log", 1), ("log", 2), ("finish", recorder.calls[-1][1])]
    # open, every row and finish on one thread, not the run's (trackio keeps its current run per thread)
    assert len(set(threads)) == 1 and threads[0] is not threading.main_thread()


def test_rows_go_to_a_tracker_in_batches_and_the_first_at_once(monkeypatch):
    import threading

    from tram_bench.train.tracking import mirror

    handed = []
    submit = mirror._Lane.submit
    monkeypatch.setattr(mirror._Lane, "submit", lambda lane, what, *a: (handed.append(what), submit(lane, what, *a)))
    first = threading.Event()

    class Recorder(_Recorder):
        def log(self, step, scalars):
            super().log(step, scalars)
            first.set()

    recorder = Recorder()
    monkeypatch.setattr(mirror, "BATCH_SECS", 3600.0)
    log = MirroredLog(trackers={"r": recorder}, run_id="abc123")
    for step in range(1, 51):
        log.append(_train(step))
    assert first.wait(10) and [c[1] for c in recorder.calls] == [1]  # live from the first row
    assert handed == ["log"] and len(log.lanes["r"].pending) == 49  # the rest wait: no thread woken per row
    monkeypatch.setattr(mirror, "BATCH_SECS", 0.0)  # the interval has passed: the next row takes all along
    log.append(_train(51))
    assert handed == ["log", "log"] and not log.lanes["r"].pending
    log.finish(_record(Status.OK, wall_time_s=1.0))
    assert [c[1] for c in recorder.calls[:-1]] == list(range(1, 52)) and recorder.calls[-1][0] == "finish"
    assert handed == ["log", "log", "finish"]


def test_unknown_tracker_names_are_refused_and_repeats_open_once():
    assert choices.unique(["wandb", "tensorboard", "wandb"]) == ("wandb", "tensorboard")
    with pytest.raises(ValueError, match="unknown tracker 'neptune'"):
        choices.unique(["neptune"])


@pytest.mark.parametrize("name", choices.NAMES)
def test_a_missing_tracker_is_one_line_naming_its_extra_exit_2_and_nothing_written(name, monkeypatch, tmp_path,
                                                                                  capsys):
    monkeypatch.setitem(sys.modules, choices.KINDS[name].module, None)  # import finds nothing
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(SUITE), "--results", str(tmp_path / "r"), "--tracker", name]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == [f"tram-bench: error: --tracker {name} needs the {choices.KINDS[name].distribution} package, which "
                   f"is not installed: pip install 'tram-bench[tracking-{name}]'"]
    assert os.listdir(tmp_path) == []


def test_an_unknown_tracker_flag_is_one_line_exit_2(tmp_path, capsys):
    assert main(["run", str(SUITE), "--results", str(tmp_path / "r"), "--tracker", "neptune"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "argument --tracker: invalid choice: 'neptune'" in err[0]
    assert not (tmp_path / "r").exists()


def test_every_tracker_extra_is_declared_and_the_dev_extra_installs_them_all():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    dev = " ".join(extras["dev"])
    for kind in choices.KINDS.values():
        assert any(dep.startswith(kind.distribution) for dep in extras[kind.extra]), kind
        assert kind.distribution in dev, kind


def _tensorboard_runs(results: Path) -> set[str]:
    """Run ids whose TensorBoard directory holds exactly one event file."""
    events = list((results / "trackers/tensorboard").glob("*/*/*/*/events.out.tfevents.*"))
    assert len(events) == len({e.parent for e in events}), events
    return {e.parent.name for e in events}


@pytest.mark.parametrize("how", ["sequential", "forked workers", "slurm array (submitit debug)"])
def test_every_executor_hands_the_trackers_to_its_runs(how, tmp_path):
    from tram_bench.executors.cluster import run_slurm
    from tram_bench.executors.local import execute
    from tram_bench.suite.load import expand, load_suite

    specs = [s for s in expand(load_suite(SUITE, ["seeds=[0]", "tasks.0.train.steps=2", "tasks.0.train.eval_every=2"])) if s.method != "tram-prev"]
    if how == "slurm array (submitit debug)":
        report = run_slurm(specs, tmp_path, cluster="debug", trackers=("tensorboard",))
    else:
        report = execute(specs, tmp_path, workers=1 if how == "sequential" else 2, threads=1,
                         trackers=("tensorboard",))
    assert report.count("ok") == len(specs) == 2
    assert _tensorboard_runs(tmp_path) == {s.run_id for s in specs}
