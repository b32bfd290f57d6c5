"""Offline stand-ins for the paper tier: MultiNLI / XNLI dataset repositories in the hub layout (README
``configs`` + parquet with the hub's features) built from the JSON rows in tests/fixtures/xling/nli,
and a tiny XLM-R (config, weights, fast tokenizer) saved with ``save_pretrained``."""

from __future__ import annotations

import json
from pathlib import Path

from xling_support import FIXTURES

NLI_FIXTURES = FIXTURES / "nli"
LABELS = ["entailment", "neutral", "contradiction"]


def _label_feature():
    from datasets import ClassLabel

    return ClassLabel(names=LABELS)


def write_mnli_repo(root: Path) -> Path:
    """``nyu-mll/multi_nli`` layout: one ``default`` config with three splits."""
    from datasets import Dataset, Features, Value

    rows = json.loads((NLI_FIXTURES / "mnli.json").read_text(encoding="utf-8"))
    string = Value("string")
    features = Features({
        "promptID": Value("int32"), "pairID": string, "premise": string, "premise_binary_parse": string,
        "premise_parse": string, "hypothesis": string, "hypothesis_binary_parse": string, "hypothesis_parse": string,
        "genre": string, "label": _label_feature(),
    })
    (root / "data").mkdir(parents=True, exist_ok=True)
    splits = [k for k in rows if not k.startswith("_")]
    for split in splits:
        cols = {name: [] for name in features}
        for r in rows[split]:
            for name in features:
                cols[name].append(r.get(name, ""))
        Dataset.from_dict(cols, features=features).to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    files = "".join(f"  - split: {s}\n    path: data/{s}-*\n" for s in splits)
    (root / "README.md").write_text(f"---\nconfigs:\n- config_name: default\n  data_files:\n{files}---\n", encoding="utf-8")
    return root


def write_xnli_repo(root: Path, drop_column: str | None = None, label_names: list[str] | None = None) -> Path:
    """``facebook/xnli`` layout: one config per language, ``<lang>/<split>-00000-of-00001.parquet``."""
    from datasets import ClassLabel, Dataset, Features, Value

    rows = json.loads((NLI_FIXTURES / "xnli.json").read_text(encoding="utf-8"))
    features = {"premise": Value("string"), "hypothesis": Value("string"),
                "label": ClassLabel(names=label_names) if label_names else _label_feature()}
    if drop_column:
        features.pop(drop_column)
    configs = []
    for lang, splits in rows.items():
        if lang.startswith("_"):
            continue
        (root / lang).mkdir(parents=True, exist_ok=True)
        for split, items in splits.items():
            cols = {name: [r[name] for r in items] for name in features}
            Dataset.from_dict(cols, features=Features(features)).to_parquet(str(root / lang / f"{split}-00000-of-00001.parquet"))
        files = "".join(f"  - split: {s}\n    path: {lang}/{s}-*\n" for s in splits)
        configs.append(f"- config_name: {lang}\n  data_files:\n{files}")
    (root / "README.md").write_text("---\nconfigs:\n" + "".join(configs) + "---\n", encoding="utf-8")
    return root


def fixture_rows(name: str) -> dict:
    return json.loads((NLI_FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def write_tiny_xlmr(root: Path) -> Path:
    """A 1-layer XLM-R (hidden 16) whose word-level tokenizer covers every fixture word."""
    import re

    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaForMaskedLM

    words: set[str] = set()
    for name in ("mnli", "xnli"):
        text = json.dumps(fixture_rows(name), ensure_ascii=False).lower()
        words |= set(re.findall(r"\w+|[^\w\s]", text))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for w in sorted(words):
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                            unk_token="<unk>", cls_token="<s>", sep_token="</s>").save_pretrained(str(root))
    cfg = XLMRobertaConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=32, max_position_embeddings=64, pad_token_id=1, bos_token_id=0,
                           eos_token_id=2, type_vocab_size=1)
    g = torch.Generator().manual_seed(0)
    model = XLMRobertaForMaskedLM(cfg)
    with torch.no_grad():  # deterministic weights, independent of the global RNG
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    model.save_pretrained(str(root))
    return root
