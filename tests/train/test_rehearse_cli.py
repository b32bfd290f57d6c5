"""``tram-bench rehearse`` (a tiny real-schema cell in seconds) and ``tram-bench plan --cost``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tram_bench.cli import main
from tram_bench.train.rehearsal.measurements import Measurement, load_measurements, measurements_path, save_measurements

ROOT = Path(__file__).resolve().parents[2]
VISION = str(ROOT / "suites" / "paper" / "vision.yaml")
VIT = "google/vit-base-patch16-224"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A private asset cache and working directory: nothing may land in ~/.cache/tram-bench or ./results."""
    monkeypatch.setenv("TRAM_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_tiny_rehearsal_runs_one_real_schema_cell_and_writes_nothing(isolated, capsys):
    import torch

    threads = torch.get_num_threads()
    code = main(["rehearse", VISION, "--tiny", "--only", "vit-flowers/tram-prev/0", "--steps", "1",
                 "--batch-size", "2", "--device", "cpu"])
    out = capsys.readouterr()
    assert code == 0, out.err
    # One torch thread on a CPU by default (view.CPU_THREADS), and the caller's setting back afterwards.
    assert "per cell on cpu with 1 thread (tiny architectures)" in out.out.splitlines()[0]
    assert torch.get_num_threads() == threads
    row = next(line for line in out.out.splitlines() if line.startswith("vit-flowers/tram-prev"))
    cells = [c.strip() for c in row.split("|")]
    assert cells[1:4] == [VIT, "224x224 px", "bf16"]
    assert cells[6] == "3/2"  # TRAM's passes, counted by the training loop
    assert float(cells[9].replace(",", "")) > 0  # saved activations per example
    assert "1 of 1 cells ok" in out.out
    # No results directory, and no cache entry: decoded images and token caches stayed in the rehearsal's temp
    # folder, and tiny sizes are not the suite's, so no measurements were saved.
    assert list(isolated.iterdir()) == []
    assert not measurements_path("paper-vision").exists()


def test_a_failing_cell_is_one_line_naming_it(isolated, capsys):
    code = main(["rehearse", VISION, "--tiny", "--only", "vit-cars/sgd/0", "-O",
                 "tasks.1.params.model_path=org/unknown-vit"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == ["rehearse: cell vit-cars/sgd: KeyError: \"no configuration known for checkpoint 'org/unknown-vit' "
                   f"(known: {VIT}, openai-community/gpt2, openai-community/gpt2-xl, FacebookAI/xlm-roberta-base)\""]


@pytest.mark.parametrize("checkpoint,memory_gib", [("openai-community/gpt2-xl", 24), ("openai-community/gpt2", 1)])
def test_a_cell_too_large_for_the_machine_is_skipped_with_its_projection(isolated, capsys, monkeypatch,
                                                                        checkpoint, memory_gib):
    # GPT2-XL (Table 10) under Adam does not fit a 24 GB machine; GPT-2 base does not fit 1 GiB. Neither may be
    # staged: writing GPT2-XL's random weights alone would take 6 GB of disk and minutes.
    from tram_bench.train.rehearsal import run, stages
    from tram_bench.train.rehearsal.checkpoints import parameter_count
    from tram_bench.train.rehearsal.footprint import method_footprint, project_memory

    monkeypatch.setattr(run, "machine_memory_bytes", lambda: memory_gib * 2**30)
    monkeypatch.setattr(stages, "write_checkpoint", lambda *a, **k: pytest.fail("a skipped cell was staged"))
    code = main(["rehearse", str(ROOT / "suites" / "paper" / "lm.yaml"), "--only", "m2d2-s2orc-math/adam/0",
                 "-O", f"tasks.1.params.model_path={checkpoint}"])
    out = capsys.readouterr()
    assert code == 0, out.err
    n = parameter_count(checkpoint)
    states = project_memory(method_footprint("adam", {"base": "adam"}), parameters=n, trainable=n, batch_size=2,
                            activation_bytes_per_example=0)
    # Weights, gradients and Adam's two moments: 16 bytes per parameter, more than 80 % of the machine.
    assert states.total >= 16 * n > run.FIT_SHARE * memory_gib * 2**30
    line = next(line for line in out.out.splitlines() if line.startswith("m2d2-s2orc-math/adam"))
    assert line.startswith(f"m2d2-s2orc-math/adam: skipped, weights and optimizer state alone project to "
                           f"{states.total / 2**30:.1f} GiB at batch 2 (more than this machine can hold): weights "
                           f"{4 * n / 2**30:.1f}")
    assert "1 of 1 cells ok (1 projected only)" in out.out
    assert list(isolated.iterdir()) == [] and not measurements_path("paper-lm").exists()


def _measurement(method: str, hparams: dict, activations: float) -> Measurement:
    return Measurement(architecture=VIT, input="224x224 px", precision="bf16", method=method,
                       hparams=json.dumps(hparams, sort_keys=True), parameters=86_000_000, trainable=86_000_000,
                       activation_bytes_per_example=activations, logits_per_example=102, tokens_per_example=197,
                       attention="sdpa", device="cpu")


def test_plan_cost_projects_memory_flops_and_gpu_hours(isolated, capsys):
    save_measurements("paper-vision", [_measurement("sgd", {"base": "sgd", "momentum": 0.9, "nesterov": False,
                                                            "betas": [0.9, 0.99], "eps": 1e-8}, 70e6)])
    assert load_measurements("paper-vision")  # the file round-trips
    assert main(["plan", VISION, "--only", "vit-flowers/*", "--cost", "--gpu", "A10", "--efficiency", "0.5"]) == 0
    out = capsys.readouterr().out
    sgd = next(line for line in out.splitlines() if line.strip().startswith("vit-flowers/sgd"))
    # Flowers: 200 epochs of 1,020 images at batch 128 = 1,400 steps of (2 + 4) x 86M x 197 tokens x 128.
    flops = 6 * 86e6 * 197 * 128
    hours = 1400 * flops / (125e12 * 0.5) / 3600
    assert f"{flops / 1e12:.1f} TFLOP/step" in sgd and f"{hours:.2f} GPU-h per run x 5" in sgd
    # weights + grads + momentum (3 x 0.32 GiB) + 128 x 70 MB of activations = 9.3 GiB: more than 90% of 24 GB.
    assert "batch 128 bf16: 9.3 GiB" in sgd and "fits" in sgd
    tram = next(line for line in out.splitlines() if line.strip().startswith("vit-flowers/tram-prev"))
    assert "run `tram-bench rehearse` on this suite first" in tram and "batch 128 bf16: >=" in tram
    # Unmeasured: FLOPs from the checkpoint's configuration (ViT-B/16 with Flowers' 102-way head), 3 + 2 passes.
    from tram_bench.train.rehearsal.checkpoints import parameter_count

    assert f"{(2 * 3 + 4 * 2) * parameter_count(VIT, 102) * 197 * 128 / 1e12:.1f} TFLOP/step" in tram
    # Holm over 7 comparisons: 2 / 2**n * 7 < 0.05 needs n = 9 seeds; the suite has 5.
    powered = next(line for line in out.splitlines() if line.startswith("powered:"))
    assert "reach alpha only from 9 seeds per task (this suite has 5)" in powered


def test_plan_cost_says_what_would_make_a_cell_fit(isolated, capsys):
    save_measurements("paper-vision", [_measurement("sgd", {"base": "sgd", "momentum": 0.9, "nesterov": False,
                                                            "betas": [0.9, 0.99], "eps": 1e-8}, 300e6)])
    assert main(["plan", VISION, "--only", "vit-flowers/sgd/*", "--cost", "--tflops", "100", "--memory-gb", "24"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("vit-flowers/sgd"))
    # 128 x 300 MB does not fit 21.6 GiB; 64 examples (20.3 GB) do, so: batch 64 with accumulation 2.
    assert "DOES NOT FIT" in line and "per-device batch 64 with accumulation 2" in line


@pytest.mark.parametrize("argv,needle", [
    (["--gpu", "A10"], "apply to --cost"),
    (["--cost", "--tflops", "100"], "--tflops and --memory-gb go together"),
    (["--cost", "--efficiency", "2"], "--efficiency is a share of the peak FLOPs, at most 1, got 2"),
    (["--cost", "--gpu", "A10", "--tflops", "1", "--memory-gb", "1"], "either --gpu NAME or --tflops"),
    (["--cost", "--gpu", "B300"], "--gpu"),
])
def test_plan_cost_flag_mistakes_are_one_line_exit_2(isolated, capsys, argv, needle):
    assert main(["plan", VISION, *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_each_cell_is_saved_as_it_finishes_and_other_cells_are_kept(isolated, monkeypatch, capsys):
    """A long rehearsal stopped after its first cell keeps that cell's measurements, and a rehearsal of some
    cells (``--only``) replaces their rows and keeps every other cell's."""
    from tram_bench.train.rehearsal import view
    from tram_bench.train.rehearsal.run import RehearsalRow

    sgd_hp = {"base": "sgd"}
    save_measurements("paper-vision", [_measurement("sgd", sgd_hp, 1.0), _measurement("sam", sgd_hp, 2.0)])

    def stopped_after_one(specs, *, on_row, **kwargs):
        # As the real rehearsal does, the asset cache points at a private folder while the cells run.
        monkeypatch.setenv("TRAM_BENCH_CACHE", str(isolated / "private-cache"))
        m = _measurement("sam", sgd_hp, 3.0)
        on_row(RehearsalRow(cell="vit-flowers/sam", architecture=VIT, input="224x224 px", precision="bf16",
                            measurement=m))
        raise KeyboardInterrupt  # the user stops the rehearsal before its next cell

    monkeypatch.setattr(view, "rehearse", stopped_after_one)
    with pytest.raises(KeyboardInterrupt):
        view.rehearse_command("paper-vision", [], steps=2, batch_size=2, device="cpu", tiny=False)
    monkeypatch.setenv("TRAM_BENCH_CACHE", str(isolated / "cache"))  # the user's cache, as before the run
    saved = {m.method: m.activation_bytes_per_example for m in load_measurements("paper-vision").values()}
    assert saved == {"sgd": 1.0, "sam": 3.0}
