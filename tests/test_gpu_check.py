"""benchmarks/gpu_check.py: the CPU smoke run CI can do, its failure rows and exit codes, its suite settings."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gc():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_script(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def check_quick_run(gc, device: str, tmp_path: Path) -> None:
    out = tmp_path / "gpu_check.json"
    r = run_script("--device", device, "--quick", "--out", str(out))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["finished"] and result["failed"] == 0
    names = [c["name"] for c in result["checks"]]
    want = [f"methods/{m}" for m in gc.BUILTIN_METHOD_IDS]
    for arch in gc.PAPER_ARCHS:
        want += [f"{arch.name}/build"] + [f"{arch.name}/{m}" for m in gc.QUICK_ARCH_METHODS]
    assert names == want + ["workers"]
    assert all(c["status"] == "PASS" for c in result["checks"])
    env = result["environment"]
    assert env["torch"] == torch.__version__ and env["device"] == device and env["device_name"]
    # Versions and the device are printed first; the table ends the output.
    assert r.stdout.startswith(f"torch {torch.__version__}, CUDA {torch.version.cuda}")
    assert f"{len(want) + 1} passed, 0 failed" in r.stdout


@pytest.mark.slow  # about 20 s of CPU (36 s wall on the shared 2-core machine)
def test_quick_cpu_run_passes_every_check_and_writes_json(gc, tmp_path):
    check_quick_run(gc, "cpu", tmp_path)


@pytest.mark.gpu
def test_quick_cuda_run_passes_every_check(gc, tmp_path):
    check_quick_run(gc, "cuda", tmp_path)


@pytest.fixture
def keep_threads():
    before = torch.get_num_threads()  # main() sets one CPU thread for --device cpu
    yield
    torch.set_num_threads(before)


def test_a_failing_check_is_a_row_and_the_exit_status_is_1(gc, monkeypatch, tmp_path, capsys, keep_threads):
    monkeypatch.setattr(gc, "BUILTIN_METHOD_IDS", ("sgd", "no-such-method"))
    monkeypatch.setattr(gc, "PAPER_ARCHS", (gc.PaperArch("gpt2", "x", "x", 2, "fp32", "adam", 8),))
    monkeypatch.setattr(gc, "BUILDERS", {"gpt2": lambda *a: (_ for _ in ()).throw(OSError("disk full\nmore"))})

    def no_workers(device, workers):
        raise gc.CheckFailed("tram-bench run exited 1: ModuleNotFoundError: No module named 'omegaconf'")

    monkeypatch.setattr(gc, "workers_check", no_workers)
    out = tmp_path / "r.json"
    assert gc.main(["--device", "cpu", "--quick", "--out", str(out)]) == 1
    rows = {c["name"]: c for c in json.loads(out.read_text())["checks"]}
    assert rows["methods/sgd"]["status"] == "PASS"
    assert rows["methods/no-such-method"]["status"] == "FAIL"
    assert "no-such-method" in rows["methods/no-such-method"]["detail"]
    assert rows["gpt2/build"] == {**rows["gpt2/build"], "status": "FAIL", "detail": "OSError: disk full"}
    assert rows["workers"]["detail"].endswith("No module named 'omegaconf'")
    assert "1 passed, 3 failed" in capsys.readouterr().out


def test_a_wrong_step_fails_its_method_row(gc, monkeypatch):
    # A method whose step reports other passes than it declares must not pass.
    monkeypatch.setattr(gc.METHODS.get("sam"), "passes", (3, 2))
    with pytest.raises(gc.CheckFailed, match=r"fp32 cnn: step reported 2/2 passes, the method declares 3/2"):
        gc.method_precisions("sam", torch.device("cpu"), quick=True)


def test_bad_flags_are_one_line_and_exit_2(gc, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cases = [(["--device", "cuda"], "--device cuda: no CUDA device is available"),
             (["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
             (["--device", "cpu", "--workers", "0"], "--workers must be >= 1, got 0"),
             (["--device", "cpu", "--out", str(tmp_path / "no" / "r.json")], "does not exist")]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exc:
            gc.main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("gpu_check.py: error:") and message in err


def test_paper_archs_match_the_paper_suites(gc):
    from tram_bench.suite.load import expand, load_suite

    for arch in gc.PAPER_ARCHS:
        specs = [s for s in expand(load_suite(ROOT / arch.suite, [])) if s.method != "zero-shot"]
        assert specs, arch.suite
        for s in specs:
            assert (s.train.batch_size, s.train.precision, s.hparams.base) == \
                (arch.batch_size, arch.precision, arch.base), (arch.name, s.task, s.method)
            params = s.doc.task_params
            checkpoint = params.get("model_path") or params.get("model")
            assert checkpoint == arch.checkpoint
            length = params.get("block_size") or params.get("max_length") or gc.arch_config(arch, False)["image_size"]
            assert length == arch.length


def test_bounds_fail_a_row_only_when_enforced_and_targeted(gc):
    vit = gc.PAPER_ARCHS[0]
    ms = {"sgd": 50.0, "sam": 105.0, "tram-prev": 130.0, "trpo": 200.0}

    def judged(mid: str, enforce: bool):
        row = gc.CheckResult(f"vit-b16/{mid}", "PASS", 0.0, "", {"ms_per_step": ms[mid], "peak_gib": 1.5})
        gc.judge_bound(row, mid, ms, vit, nograd=10.0, enforce=enforce)
        return row

    # SAM: 105 ms <= 1.1 x (2 x 50 ms); TRAM-prev: 130 ms > 1.1 x (SAM 105 + forward 10 = 115 ms).
    assert judged("sam", True).status == "PASS"
    row = judged("tram-prev", True)
    assert (row.status, row.detail) == ("FAIL", "130.0 ms/step, 2.60x base, peak 1.5 GiB, bound 115.0 ms: over")
    assert row.measurements["within_bound"] is False
    row = judged("tram-prev", False)
    assert (row.status, row.detail) == ("PASS", "130.0 ms/step, 2.60x base, peak 1.5 GiB, (bound 115.0 ms: over)")
    # TRPO's bound (one base step + one no-grad forward) is for information: never a failure.
    assert judged("trpo", True).status == "PASS"
