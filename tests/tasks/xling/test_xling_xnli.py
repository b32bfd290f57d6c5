"""Paper tier loaders and task (MultiNLI -> XNLI with XLM-R) on offline fixtures in the hub schemas."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from xling_nli_fixtures import fixture_rows, write_mnli_repo, write_tiny_xlmr, write_xnli_repo
from xling_support import needs_datasets

from tram_bench.methods.base import InputNoise
from tram_bench.tasks.xling.nli_data import NLIDataError, encoded_split, load_split, mnli_train, xnli_split
from tram_bench.tasks.xling.xnli_task import XNLIParams, XNLITask

pytestmark = needs_datasets


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    root = tmp_path_factory.mktemp("nli")
    return {
        "mnli": str(write_mnli_repo(root / "multi_nli")),
        "xnli": str(write_xnli_repo(root / "xnli")),
        "model": str(write_tiny_xlmr(root / "xlmr")),
    }


@pytest.fixture(scope="module")
def task(repos):
    params = XNLIParams(languages=("de", "fr"), model=repos["model"], mnli=repos["mnli"], xnli=repos["xnli"],
                        max_length=24)
    return XNLITask(params, seed=5)


def test_loaders_read_the_hub_schemas(repos):
    train = load_split(mnli_train(repos["mnli"]))
    rows = fixture_rows("mnli")["train"]
    labelled = [r for r in rows if r["label"] >= 0]  # the -1 (no gold label) row is dropped
    assert len(train) == len(labelled) == 11
    assert train["hypothesis"] == [r["hypothesis"] for r in labelled]
    assert train.features["label"].names == ["entailment", "neutral", "contradiction"]
    de = load_split(xnli_split("de", "test", repos["xnli"]))
    assert de["premise"][0] == "Eine Frau liest ein Buch." and de["label"] == [0, 1, 2, 1, 0, 2, 1]
    assert len(load_split(mnli_train(repos["mnli"], limit=4))) == 4


def test_loader_errors_name_the_split(repos, tmp_path):
    with pytest.raises(NLIDataError, match="XNLI has no language 'xx'"):
        xnli_split("xx", "test", repos["xnli"])
    bad = write_xnli_repo(tmp_path / "no-hyp", drop_column="hypothesis")
    with pytest.raises(NLIDataError, match=r"no-hyp\[de/test\]: missing column\(s\) \['hypothesis'\]"):
        load_split(xnli_split("de", "test", str(bad)))
    swapped = write_xnli_repo(tmp_path / "swapped", label_names=["contradiction", "neutral", "entailment"])
    with pytest.raises(NLIDataError, match="label names"):
        load_split(xnli_split("de", "test", str(swapped)))
    with pytest.raises(NLIDataError, match=r"cannot load .*\[de/nosuchsplit\]"):
        load_split(xnli_split("de", "nosuchsplit", repos["xnli"]))


def test_encoded_split_is_the_tokenizer_output_and_is_cached(repos, xling_cache):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(repos["model"])
    spec = xnli_split("fr", "test", repos["xnli"])
    enc = encoded_split(spec, tok, "tiny", max_length=8)
    rows = fixture_rows("xnli")["fr"]["test"]
    want = tok([r["premise"] for r in rows], [r["hypothesis"] for r in rows], truncation="longest_first", max_length=8)
    assert [enc.row(i).tolist() for i in range(len(enc))] == want["input_ids"]
    assert max(len(x) for x in want["input_ids"]) == 8  # truncation happened
    assert enc.labels.tolist() == [r["label"] for r in rows]
    assert len(list((xling_cache / "xling-nli-tokens").iterdir())) >= 1
    again = encoded_split(spec, tok, "tiny", max_length=8)
    assert again.flat.tolist() == enc.flat.tolist()


def test_eval_sets_and_training_data(task):
    got = [(es.domain, es.split, es.in_domain, es.size) for es in task.eval_sets()]
    assert got == [("en", "val", True, 3), ("en", "test", True, 7), ("de", "test", False, 7), ("fr", "test", False, 7)]
    assert task.num_train_examples() == 11
    batches = list(task.train_batches(4, torch.Generator().manual_seed(0)))
    assert len(batches) == 2 and all(b["input_ids"].shape[0] == 4 for b in batches)  # last partial batch dropped


class _AlwaysNeutral(nn.Module):
    def forward(self, input_ids, attention_mask, inputs_embeds=None):
        return torch.tensor([0.0, 1.0, 0.0]).expand(input_ids.shape[0], 3)


def test_per_language_accuracy_by_hand(task):
    rows = fixture_rows("xnli")
    p_neutral = math.e / (math.e + 2)
    for es in task.eval_sets():
        labels = [r["label"] for r in rows[es.domain]["validation" if es.split == "val" else "test"]]
        n1 = sum(y == 1 for y in labels)
        want_acc = n1 / len(labels)
        want_loss = (-n1 * math.log(p_neutral) - (len(labels) - n1) * math.log(1 / (math.e + 2))) / len(labels)
        m = task.evaluate(_AlwaysNeutral(), es)
        assert m["accuracy"] == pytest.approx(want_acc, abs=1e-12), es.key
        assert m["loss"] == pytest.approx(want_loss, rel=1e-6), es.key


def test_model_positions_head_and_noise(task):
    model = task.build_model().eval()
    again = task.build_model()
    torch.testing.assert_close(model.model.classifier.out_proj.weight, again.model.classifier.out_proj.weight, atol=0, rtol=0)
    batch = next(iter(task.eval_sets()[1].batches()))
    assert (batch["attention_mask"] == 0).any()  # padded rows in this batch
    with torch.no_grad():
        own = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        ours = task.objective(model, batch).logits
        zero = task.objective(model, batch, InputNoise(0.0, "normal", torch.Generator().manual_seed(0))).logits
    # our explicit RoBERTa positions equal the ones the model derives from input_ids itself
    torch.testing.assert_close(ours, own, atol=1e-6, rtol=0)
    torch.testing.assert_close(zero, own, atol=1e-6, rtol=0)
    rep = task.representation(model, batch)
    with torch.no_grad():
        cls = model.model.roberta(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state[:, 0]
    torch.testing.assert_close(rep.detach(), cls, atol=1e-6, rtol=0)


def test_params_are_checked():
    with pytest.raises(ValueError, match=r"languages must be a list drawn from ar, .*, got \('en', 'de', 'xx'\)"):
        XNLIParams(languages=("en", "de", "xx"))
    with pytest.raises(ValueError, match="max_train_examples must be an integer >= 1 or null, got 0"):
        XNLIParams(max_train_examples=0)
