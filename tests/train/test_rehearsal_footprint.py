"""The memory accounting of ``plan --cost`` (tram_bench/train/rehearsal/footprint.py) against measured runs.

Each probe (footprint_probe.py) runs one method for three steps on an MLP of 9M parameters, in a fresh
interpreter whose allocator maps every block of 64 KiB or more on its own (``MALLOC_MMAP_THRESHOLD_``), so that
freed tensors leave the resident set at once and the peak RSS growth follows the live tensors. The process's
own overhead (thread pools, kernels' workspaces) is common to every method of one base optimizer, so the check
is on differences: what a method adds over its base optimizer must be what the projection says it adds,
within a quarter of one copy of the weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tram_bench.train.rehearsal.footprint import method_footprint, project_memory

PROBE = Path(__file__).with_name("footprint_probe.py")

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="peak RSS is read from Linux's /proc (not Linux)")


def _probe(method: str) -> dict:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(PROBE), method], capture_output=True, text=True, env=env, timeout=120,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _projected(method: str, probe: dict) -> float:
    hparams = None if method == "sgd" else {"base": "adam"}
    return project_memory(method_footprint(method, hparams), parameters=probe["parameters"],
                          batch_size=probe["batch"], activation_bytes_per_example=probe["activations"],
                          logits_per_example=100).total


@pytest.fixture(scope="module")
def adam():
    return _probe("adam")


@pytest.mark.parametrize("method", ["sam", "tram-prev", "trpo", "r3f"])
def test_what_a_method_adds_over_adam_is_projected(method, adam):
    run = _probe(method)
    weights = run["parameters"] * 4
    measured = run["peak"] - adam["peak"]
    projected = _projected(method, run) - _projected("adam", adam)
    assert abs(measured - projected) <= 0.25 * weights, (method, measured / weights, projected / weights)


def test_adam_over_sgd_is_its_second_state_and_its_update_temporary(adam):
    sgd = _probe("sgd")
    weights = sgd["parameters"] * 4
    measured = adam["peak"] - sgd["peak"]
    projected = _projected("adam", adam) - _projected("sgd", sgd)
    # One more state tensor, and Adam's denominator where SGD's peak held the (small) activations.
    assert abs(projected - (2 * weights - sgd["activations"] * sgd["batch"])) < 0.01 * weights
    assert abs(measured - projected) <= 0.25 * weights, (measured / weights, projected / weights)
