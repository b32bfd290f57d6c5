"""Inside a run only tram-bench's own progress shows: transformers' "Loading weights" bar (and the hub's,
datasets' and tqdm's) is off once ``prepare_process`` has run, whether transformers was imported before
(a fork server's preload) or is imported by the run itself."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tram_bench.train.quiet import ENV

pytest.importorskip("transformers")

SCRIPT = textwrap.dedent("""
    import dataclasses, sys
    mode, model_dir = sys.argv[1], sys.argv[2]
    if mode == "before":
        import transformers  # already loaded when the run is prepared
    if mode != "control":
        from tram_bench.suite.spec import CellDoc, typed
        from tram_bench.tasks.base import TrainDefaults
        from tram_bench.train.preload import prepare_process
        train = dataclasses.asdict(TrainDefaults(steps=1, batch_size=8, lr=0.1, eval_every=1))
        prepare_process(typed(CellDoc(suite="q", task="synthetic", task_version="1", task_params={}, train=train,
                                      method="sgd", method_version="1", hparams={}, seed=0, label="q")), "cpu")
    from transformers import GPT2LMHeadModel
    GPT2LMHeadModel.from_pretrained(model_dir)
    from tqdm import tqdm
    for _ in tqdm(range(3), desc="plain tqdm bar"):
        pass
    print("loaded")
""")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from transformers import GPT2Config, GPT2LMHeadModel

    path = tmp_path_factory.mktemp("tiny-gpt2")
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=32, n_positions=16)).save_pretrained(path)
    return path


def _stderr(mode: str, model_dir, env_extra: dict[str, str] | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ENV}
    env.update(env_extra or {})
    p = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(model_dir)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert p.returncode == 0 and "loaded" in p.stdout, p.stderr[-2000:]
    return p.stderr


@pytest.mark.slow  # three fresh processes importing torch and transformers: ~30 s on two busy cores
def test_no_third_party_bar_inside_a_run(tiny_model):
    control = _stderr("control", tiny_model)
    # The control shows that the bars exist in this environment: the test could fail.
    assert "Loading weights" in control and "plain tqdm bar" in control
    # transformers was imported before the run was prepared (a fork server's preload): its bar is off.
    assert "Loading weights" not in _stderr("before", tiny_model)
    # A worker started by `tram-bench run` inherits ENV: every bar is off, plain tqdm's included (tqdm reads
    # TQDM_DISABLE when imported, and tram-bench's own imports load it before any run is prepared).
    err = _stderr("before", tiny_model, ENV)
    assert "Loading weights" not in err and "plain tqdm bar" not in err


def test_tram_bench_run_turns_the_bars_off_before_workers_start(tmp_path, monkeypatch):
    from tram_bench.cli import main

    for key in ENV:
        monkeypatch.setenv(key, "")  # records the original state, restored after the test
        monkeypatch.delenv(key)
    suite = tmp_path / "s.yaml"
    suite.write_text("suite: q\nseeds: [0]\ntasks:\n  - id: synthetic\n    train: {steps: 1, eval_every: 1}\n"
                     "methods:\n  - id: sgd\n")
    assert main(["run", str(suite), "--results", str(tmp_path / "r"), "--workers", "1", "--quiet"]) == 0
    assert all(os.environ.get(k) == v for k, v in ENV.items())
