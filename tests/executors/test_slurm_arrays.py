"""Slurm arrays stay within the cluster's limit, and a refused submission is one line, never a traceback.

Issue 14 item 8: a grid with more pending cells than the cluster's ``MaxArraySize`` went out as one array,
which ``sbatch`` rejects, and the error escaped as a traceback. Splitting is checked on submitit's ``debug``
backend with ``map_array`` replaced by a recorder (no run trains); refusals with a fake ``sbatch`` on PATH
(submitit's real Slurm code path) and with a recorder that refuses the second array.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tram_bench.cli import main
from tram_bench.executors.cluster import SubmissionError, run_slurm
from tram_bench.suite.load import expand, load_suite

submitit = pytest.importorskip("submitit")

SUITE = Path(__file__).resolve().parents[1] / "fixtures/suites/synthetic.yaml"
SBATCH_ERROR = "sbatch: error: Batch job submission failed: Invalid job array specification"


def _specs(seeds: str = "[0, 1]"):
    return expand(load_suite(SUITE, [f"seeds={seeds}"]))


class _FinishedJob:
    def __init__(self, spec_json: dict) -> None:
        self.spec_json = spec_json

    def result(self):
        from tram_bench.executors.base import RunOutcome
        from tram_bench.suite.spec import RunSpec

        return RunOutcome(RunSpec.from_json(self.spec_json).run_id, "ok")


@pytest.fixture
def arrays(monkeypatch):
    """Replace submitit's ``map_array``: record each array's size; ``refuse`` = the 1-based arrays to refuse."""
    sizes: list[int] = []
    refuse: set[int] = set()

    def map_array(self, fn, spec_jsons, *rest):
        sizes.append(len(spec_jsons))
        if len(sizes) in refuse:
            raise submitit.core.utils.FailedJobError(
                "sbatch: error: QOSMaxSubmitJobPerUserLimit\nsbatch: error: Batch job submission failed")
        return [_FinishedJob(s) for s in spec_jsons]

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", map_array)
    return sizes, refuse


def test_pending_cells_are_split_into_arrays_of_at_most_max_array_size(tmp_path, arrays):
    sizes, _ = arrays
    specs = _specs()  # 3 methods x 2 seeds
    report = run_slurm(specs, tmp_path, cluster="debug", max_array_size=4)
    assert sizes == [4, 2]
    assert [o.run_id for o in report.outcomes] == [s.run_id for s in specs]
    assert report.count("ok") == 6 and report.submission_error is None


def test_the_default_limit_is_one_array_for_a_small_grid_and_max_array_size_one_gives_one_per_cell(tmp_path, arrays):
    sizes, _ = arrays
    run_slurm(_specs(), tmp_path, cluster="debug")
    run_slurm(_specs(), tmp_path, cluster="debug", max_array_size=1)
    assert sizes == [6] + [1] * 6


def test_max_array_size_below_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="max_array_size must be >= 1, got 0"):
        run_slurm(_specs(), tmp_path, cluster="debug", max_array_size=0)


def test_a_later_array_refused_keeps_the_earlier_runs_and_reports_the_rest_pending(tmp_path, arrays):
    sizes, refuse = arrays
    refuse.add(2)
    report = run_slurm(_specs(), tmp_path, cluster="debug", max_array_size=2)
    assert sizes == [2, 2]  # the third array is not attempted
    assert report.count("ok") == 2 and report.unsubmitted == 4
    assert report.submission_error.startswith("slurm: job array 2 of 3 (2 cells) was not submitted: sbatch: error: "
                                              "QOSMaxSubmitJobPerUserLimit")
    assert "\n" not in report.submission_error


def test_the_first_array_refused_raises_one_line(tmp_path, arrays):
    _, refuse = arrays
    refuse.add(1)
    with pytest.raises(SubmissionError) as info:
        run_slurm(_specs(), tmp_path, cluster="debug", max_array_size=4)
    assert str(info.value) == ("slurm: job array 1 of 2 (4 cells) was not submitted: "
                               "sbatch: error: QOSMaxSubmitJobPerUserLimit")


def _fake_slurm(bin_dir: Path) -> None:
    """``srun`` (submitit checks that it exists) and an ``sbatch`` that refuses every job as sbatch does."""
    bin_dir.mkdir()
    for name, body in (("srun", "exit 0"), ("sbatch", f"echo '{SBATCH_ERROR}' >&2\nexit 1")):
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_sbatch_rejection_through_the_cli_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    _fake_slurm(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    results = tmp_path / "results"
    code = main(["run", str(SUITE), "-O", "seeds=[0]", "--executor", "slurm", "--slurm-cluster", "slurm",
                 "--max-array-size", "2", "--results", str(results), "--quiet", "--no-collect"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip().splitlines() == [
        f"tram-bench: error: slurm: job array 1 of 2 (2 cells) was not submitted: {SBATCH_ERROR}"]
    assert not (results / "runs").exists()
    # submitit pickled the calls and wrote the sbatch script before sbatch refused them: nothing is left.
    assert not (results / "slurm").exists(), sorted(p.name for p in (results / "slurm").iterdir())


def test_a_refused_array_leaves_no_submitit_files_beside_earlier_ones(tmp_path):
    from tram_bench.executors.cluster import _remove_new_files

    folder = tmp_path / "slurm"
    folder.mkdir()
    (folder / "123").mkdir()  # an earlier array's job folder
    (folder / "earlier.pkl").write_bytes(b"")
    before = set(folder.iterdir())
    (folder / "refused.pkl").write_bytes(b"")
    (folder / ".submission_file_x.sh").write_text("#!/bin/sh\n")
    _remove_new_files(folder, before)
    assert set(folder.iterdir()) == before


def test_max_array_size_flag_reaches_the_executor(tmp_path, arrays, capsys):
    sizes, _ = arrays
    code = main(["run", str(SUITE), "-O", "seeds=[0, 1]", "--executor", "slurm", "--slurm-cluster", "debug",
                 "--max-array-size", "5", "--results", str(tmp_path / "r"), "--quiet", "--no-collect"])
    assert code == 0, capsys.readouterr().err
    assert sizes == [5, 1]


def test_a_later_refusal_through_the_cli_exits_1_with_one_line(tmp_path, arrays, capsys):
    _, refuse = arrays
    refuse.add(2)
    code = main(["run", str(SUITE), "-O", "seeds=[0, 1]", "--executor", "slurm", "--slurm-cluster", "debug",
                 "--max-array-size", "3", "--results", str(tmp_path / "r"), "--quiet", "--no-collect"])
    err = capsys.readouterr().err
    assert code == 1
    assert [line for line in err.splitlines() if line.strip()] == [
        "tram-bench: error: slurm: job array 2 of 2 (3 cells) was not submitted: sbatch: error: "
        "QOSMaxSubmitJobPerUserLimit; its cells and those after it were not run (pending)"]
