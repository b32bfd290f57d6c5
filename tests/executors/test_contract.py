"""One contract for every executor: the same grid gives the same records, one per cell.

Ray runs on a local instance with two *logical* GPUs (``num_gpus=2`` on a CPU machine): each run asks
for one GPU, so Ray must hand each concurrent run its own ``CUDA_VISIBLE_DEVICES``. submitit runs its
job array with the ``local`` backend (subprocesses) exactly as it would on Slurm.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tram_bench.executors.cluster import Resources, run_ray, run_slurm
from tram_bench.executors.local import execute
from tram_bench.suite.load import expand, load_suite

SUITE = Path(__file__).resolve().parents[1] / "fixtures/suites/synthetic.yaml"


def _specs():
    return expand(load_suite(SUITE, ["seeds=[0]"]))


def _metrics(results: Path) -> dict[str, list]:
    out = {}
    for d in (results / "runs").iterdir():
        rec = json.loads((d / "record.json").read_text())
        out[d.name] = sorted((m["checkpoint"], m["domain"], m["split"], m["metric"], m["value"])
                             for m in rec["metrics"])
    return out


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    results = tmp_path_factory.mktemp("local")
    report = execute(_specs(), results, workers=2, threads=1)
    assert report.count("ok") == 3
    return results


def test_local_executor_contract(local_reference):
    assert len(_metrics(local_reference)) == 3


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_executor_contract_and_gpu_assignment(ray_cluster, tmp_path, local_reference):
    specs = _specs()
    # one logical GPU per run -> at most two at once, each with its own device id
    report = run_ray(specs, tmp_path, resources=Resources(cpus=1, gpus=1))
    assert report.count("ok") == 3 and not report.interrupted
    assert _metrics(tmp_path) == _metrics(local_reference)
    for d in (tmp_path / "runs").iterdir():
        visible = json.loads((d / "record.json").read_text())["provenance"]["cuda_visible_devices"]
        assert visible in {"0", "1"}
    # resubmitting nothing schedules nothing
    assert run_ray([], tmp_path).outcomes == []


@pytest.mark.slow
def test_submitit_executor_contract(tmp_path, local_reference):
    pytest.importorskip("submitit")
    report = run_slurm(_specs(), tmp_path, cluster="local", resources=Resources(cpus=1, timeout_min=10))
    assert report.count("ok") == 3, [o.error for o in report.outcomes]
    assert _metrics(tmp_path) == _metrics(local_reference)
    # logs live beside the run directories
    assert any((tmp_path / "slurm").iterdir())
