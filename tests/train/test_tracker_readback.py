"""``tram-bench run --tracker ...`` (issue 17, item 2): each tracker's own reader finds every metrics.jsonl row,
the config and the final metrics of the run, and a rerun of a pending run replaces its tracker run.

One grid of one TRAM-prev run (it logs d and ||e||) runs through the real command line with all four
trackers; then its ``done`` marker is removed (a killed run) and it runs again. The same run without
trackers gives the same run directory: trackers change nothing but their own files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import tracker_readers

from tram_bench.cli import main
from tram_bench.train import rundir

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "tests/fixtures/suites/synthetic.yaml"
ARGS = ["-O", "seeds=[0]", "--only", "tram-prev", "--quiet", "--no-collect"]
TRACKERS = ("tensorboard", "mlflow", "trackio", "wandb")
FINAL_PREFIXES = ("final/", "cost/", "time/", "run/")

pytestmark = pytest.mark.slow  # four trackers' imports (mlflow's alone takes seconds) and three runs


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("trackers")
    with pytest.MonkeyPatch.context() as mp:
        # trackio reads TRACKIO_DIR once per process (the adapter sets it); W&B's own debug log goes to its cache.
        mp.setenv("TRACKIO_DIR", str((root / "tracked/trackers/trackio").resolve()))
        mp.setenv("WANDB_CACHE_DIR", str(root / "wandb-cache"))
        mp.setenv("WANDB_CONFIG_DIR", str(root / "wandb-config"))
        mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        assert main(["run", str(SUITE), "--results", str(root / "plain"), *ARGS]) == 0
        tracked = ["run", str(SUITE), "--results", str(root / "tracked"), *ARGS]
        for name in TRACKERS:
            tracked += ["--tracker", name]
        assert main(tracked) == 0
        (run_dir,) = rundir.runs_root(root / "tracked").iterdir()
        first_attempt = (run_dir / rundir.METRICS).read_text()
        (run_dir / rundir.DONE).unlink()  # the run was killed: pending, and it runs again from scratch
        assert main(tracked) == 0
        yield root, run_dir, first_attempt


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / rundir.METRICS).read_text().splitlines()]


def _expected(run_dir: Path) -> tuple[dict[str, dict[int, float]], dict[str, float], dict]:
    """(series by name and step, final values by name, record) written out by hand from the run directory."""
    series: dict[str, dict[int, float]] = {}
    for row in _rows(run_dir):
        if row["kind"] == "train":
            for key in ("loss", "lr", "forward", "backward", "skipped", "divergence", "perturbation_norm"):
                series.setdefault(f"train/{key}", {})[row["step"]] = float(row[key])
        else:
            name = f"eval/{row['domain']}/{row['split']}/{row['metric']}"
            series.setdefault(name, {})[row["step"]] = row["value"]
    record = json.loads((run_dir / rundir.RECORD).read_text())  # by hand: the file, not the record type
    final = {f"final/{m['checkpoint']}/{m['domain']}/{m['split']}/{m['metric']}": m["value"] for m in record["metrics"]}
    final.update({f"cost/{k}": float(v) for k, v in record["cost"].items() if v is not None})
    final.update({f"time/{k}": record[k] for k in ("wall_time_s", "train_time_s", "eval_time_s")})
    final.update({"run/steps": record["steps"], "run/selected_step": record["selected_step"]})
    return series, final, record


def _same(got: dict, want: dict, rel: float) -> None:
    missing = sorted(set(want) - set(got))
    assert not missing, missing
    for key, value in want.items():
        if isinstance(value, dict):
            _same(got[key], value, rel)
        else:
            assert math.isclose(got[key], value, rel_tol=rel, abs_tol=1e-12), (key, got[key], value)


def _check(readback: tracker_readers.Readback, run_dir: Path, rel: float = 1e-12) -> None:
    series, final, record = _expected(run_dir)
    assert {"train/divergence", "train/perturbation_norm", "eval/train-domain/val/loss"} <= set(series)
    assert set(readback.series) == set(series)
    _same(readback.series, series, rel)
    _same({k: v for k, v in readback.final.items() if k.startswith(FINAL_PREFIXES)}, final, rel)
    assert readback.config == record["spec"] == json.loads((run_dir / rundir.SPEC).read_text())


def test_trackers_change_nothing_in_the_run_directory(grid):
    root, run_dir, first_attempt = grid
    (plain,) = rundir.runs_root(root / "plain").iterdir()
    assert plain.name == run_dir.name  # the tracker choice is not part of the run id
    assert (plain / rundir.METRICS).read_text() == (run_dir / rundir.METRICS).read_text() == first_attempt
    assert (plain / rundir.SPEC).read_text() == (run_dir / rundir.SPEC).read_text()
    mine, theirs = rundir.read_record(run_dir), rundir.read_record(plain)
    assert mine.metrics == theirs.metrics and mine.status == "ok"
    assert sorted(p.name for p in (root / "tracked/trackers").iterdir()) == sorted(TRACKERS)


def test_tensorboard_event_files_hold_the_run(grid):
    root, run_dir, _ = grid
    spec = json.loads((run_dir / rundir.SPEC).read_text())
    logdir = root / "tracked/trackers/tensorboard" / spec["task"] / "tram-prev" / "seed0" / run_dir.name
    events = list(logdir.glob("events.out.tfevents.*"))
    assert len(events) == 1, events  # the killed attempt's file is gone
    readback = tracker_readers.tensorboard(logdir, final_step=rundir.read_record(run_dir).result.steps)
    _check(readback, run_dir, rel=1e-6)  # TensorBoard stores scalars as float32
    assert readback.final["status"] == "ok"


def test_mlflow_file_store_holds_the_run(grid):
    root, run_dir, _ = grid
    readback, run = tracker_readers.mlflow(root / "tracked/trackers/mlflow/mlruns", "synthetic-test", run_dir.name)
    # MLflow's params are the spec flattened; the full spec is the artifact spec.json.
    spec = rundir.read_record(run_dir).spec
    assert run.data.params["hparams.divergence"] == spec["hparams"]["divergence"] == "kl"
    assert run.data.params["hparams.betas"] == json.dumps(spec["hparams"]["betas"])
    assert run.data.params["train.lr"] == json.dumps(spec["train"]["lr"])
    assert run.info.status == "FINISHED" and run.info.run_name.endswith(f"/tram-prev/seed0/{run_dir.name}")
    _check(readback, run_dir)
    assert readback.final["status"] == "ok"


def test_trackio_local_store_holds_the_run(grid):
    root, run_dir, _ = grid
    assert (root / "tracked/trackers/trackio/synthetic-test.db").is_file()
    name = f"synthetic/tram-prev/seed0/{run_dir.name}"
    readback, names = tracker_readers.trackio("synthetic-test", name)
    assert names == [name]  # the killed attempt's run was replaced
    _check(readback, run_dir)
    assert readback.final["run/ok"] == 1.0


def test_wandb_offline_run_holds_the_run(grid):
    root, run_dir, _ = grid
    (offline,) = (root / "tracked/trackers/wandb/wandb").glob(f"offline-run-*-{run_dir.name}")
    readback, run = tracker_readers.wandb(offline)
    assert run.run_id == run_dir.name and run.project == "synthetic-test"
    _check(readback, run_dir)
    assert readback.final["status"] == "ok"
