"""Generated data in the paper tier's hub schemas, so a rehearsal reads it through the tasks' real loaders.

Each ``write_*`` function lays out one dataset folder the way its hub repository is laid out (file names, configs,
columns and feature types of shared/research/hub-schemas.md), which the task accepts as its local copy
(``dataset_path``, ``mnli`` / ``xnli``). Contents are random: images are uniform noise, texts are words of
:func:`.checkpoints.random_words`, so their token ids are uniform over the checkpoint's vocabulary. Sizes are the
least that every split of the task needs to be non-empty; what reaches the model is at real size anyway (images
are resized to the checkpoint's resolution by the loaders, texts fill the suite's sequence length).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tram_bench.train.rehearsal.checkpoints import random_words

CIFAR100_FINE, CIFAR100_COARSE = 100, 20
CARS_CLASSES, FLOWERS_CLASSES, OFFICE_HOME_CLASSES = 196, 102, 65
PACS_LABELS = ("dog", "elephant", "giraffe", "guitar", "horse", "house", "person")
PACS_DOMAINS = ("art_painting", "cartoon", "photo", "sketch")
OFFICE_HOME_DOMAINS = ("Art", "Clipart", "Product", "Real World")
NLI_LABELS = ("entailment", "neutral", "contradiction")
XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")


def _images(rng: np.random.Generator, n: int, width: int, height: int) -> list:
    from PIL import Image

    return [Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8), "RGB") for _ in range(n)]


def _parquet(path: Path, columns: dict, features) -> None:
    from datasets import Dataset

    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(columns, features=features).to_parquet(str(path))


def _class_labels(n: int, prefix: str) -> list[str]:
    return [f"{prefix} {i:03d}" for i in range(n)]


def write_cifar100(root: Path, per_class: int = 10) -> Path:
    """``uoft-cs/cifar100``: ``cifar100/{train,test}-*.parquet``, columns img (32x32) / fine_label / coarse_label."""
    from datasets import ClassLabel, Features, Image

    features = Features({"img": Image(), "fine_label": ClassLabel(names=_class_labels(CIFAR100_FINE, "fine")),
                         "coarse_label": ClassLabel(names=_class_labels(CIFAR100_COARSE, "coarse"))})
    rng = np.random.default_rng(100)
    for split, k in {"train": per_class, "test": 1}.items():
        labels = [c for _ in range(k) for c in range(CIFAR100_FINE)]
        columns = {"img": _images(rng, len(labels), 32, 32), "fine_label": labels,
                   "coarse_label": [c % CIFAR100_COARSE for c in labels]}
        _parquet(root / "cifar100" / f"{split}-00000-of-00001.parquet", columns, features)
    return root


def _image_label_splits(root: Path, classes: int, splits: dict[str, int], seed: int) -> Path:
    from datasets import ClassLabel, Features, Image

    features = Features({"image": Image(), "label": ClassLabel(names=_class_labels(classes, "class"))})
    rng = np.random.default_rng(seed)
    for split, k in splits.items():
        labels = [c for _ in range(k) for c in range(classes)]
        columns = {"image": _images(rng, len(labels), 40, 30), "label": labels}
        _parquet(root / "data" / f"{split}-00000-of-00001.parquet", columns, features)
    return root


def write_cars(root: Path) -> Path:
    """``tanganke/stanford_cars``: ``data/{train,test}-*.parquet``, columns image / label (196 classes)."""
    return _image_label_splits(root, CARS_CLASSES, {"train": 10, "test": 1}, seed=196)


def write_flowers(root: Path) -> Path:
    """``dpdl-benchmark/oxford_flowers102``: ``data/{train,validation,test}-*.parquet``, image / label (102)."""
    return _image_label_splits(root, FLOWERS_CLASSES, {"train": 1, "validation": 1, "test": 1}, seed=102)


def _write_domains(root: Path, domains: tuple[str, ...], names: list[str], per_class: int, seed: int) -> Path:
    from datasets import ClassLabel, Features, Image, Value

    features = Features({"image": Image(), "domain": Value("string"), "label": ClassLabel(names=names)})
    rng = np.random.default_rng(seed)
    rows = [(d, c) for d in domains for c in range(len(names)) for _ in range(per_class)]
    columns = {"image": _images(rng, len(rows), 40, 30), "domain": [d for d, _ in rows], "label": [c for _, c in rows]}
    _parquet(root / "data" / "train-00000-of-00001.parquet", columns, features)
    return root


def write_pacs(root: Path) -> Path:
    """``flwrlabs/pacs``: one ``train`` split with image / domain / label (7 classes, 4 domains)."""
    return _write_domains(root, PACS_DOMAINS, list(PACS_LABELS), per_class=10, seed=7)


def write_office_home(root: Path) -> Path:
    """``flwrlabs/office-home``: one ``train`` split with image / domain / label (65 classes, 4 domains)."""
    return _write_domains(root, OFFICE_HOME_DOMAINS, _class_labels(OFFICE_HOME_CLASSES, "object"), per_class=10,
                          seed=65)


def write_m2d2(root: Path, configs: list[str], vocab_size: int, words_per_line: int, lines: dict[str, int]) -> Path:
    """``machelreid/m2d2`` extracted: ``<config>/{train,valid,test}.txt``, one example per line.

    ``lines``: lines per file, keyed ``train`` / ``valid`` / ``test``."""
    rng = np.random.default_rng(2022)
    for config in configs:
        (root / config).mkdir(parents=True, exist_ok=True)
        for name, n in lines.items():
            text = "\n".join(random_words(rng, vocab_size, words_per_line) for _ in range(n))
            (root / config / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
    return root


def _nli_columns(rng: np.random.Generator, n: int, vocab_size: int, words: tuple[int, int]) -> dict[str, list]:
    # Ids from 4: XLM-R's ids 0-3 are its special tokens.
    return {"premise": [random_words(rng, vocab_size, words[0], low=4) for _ in range(n)],
            "hypothesis": [random_words(rng, vocab_size, words[1], low=4) for _ in range(n)],
            "label": [i % len(NLI_LABELS) for i in range(n)]}


def write_mnli(root: Path, vocab_size: int, rows: int, words: tuple[int, int]) -> Path:
    """``nyu-mll/multi_nli``: README ``configs`` (default) and ``data/train-*.parquet`` in the hub's features."""
    from datasets import ClassLabel, Features, Value

    string = Value("string")
    features = Features({
        "promptID": Value("int32"), "pairID": string, "premise": string, "premise_binary_parse": string,
        "premise_parse": string, "hypothesis": string, "hypothesis_binary_parse": string, "hypothesis_parse": string,
        "genre": string, "label": ClassLabel(names=list(NLI_LABELS)),
    })
    rng = np.random.default_rng(392702)
    columns = _nli_columns(rng, rows, vocab_size, words)
    blank = [""] * rows
    columns.update(promptID=list(range(rows)), pairID=[f"{i}e" for i in range(rows)], premise_binary_parse=blank,
                   premise_parse=blank, hypothesis_binary_parse=blank, hypothesis_parse=blank, genre=["fiction"] * rows)
    _parquet(root / "data" / "train-00000-of-00001.parquet", {k: columns[k] for k in features}, features)
    (root / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n---\n",
        encoding="utf-8")
    return root


def write_xnli(root: Path, vocab_size: int, rows: int, words: tuple[int, int]) -> Path:
    """``facebook/xnli``: one config per language, ``<lang>/{validation,test}-*.parquet``, premise / hypothesis /
    label."""
    from datasets import ClassLabel, Features, Value

    features = Features({"premise": Value("string"), "hypothesis": Value("string"),
                         "label": ClassLabel(names=list(NLI_LABELS))})
    rng = np.random.default_rng(5010)
    configs = []
    for lang in XNLI_LANGUAGES:
        for split in ("validation", "test"):
            _parquet(root / lang / f"{split}-00000-of-00001.parquet", _nli_columns(rng, rows, vocab_size, words),
                     features)
        configs.append(f"- config_name: {lang}\n  data_files:\n  - split: validation\n    path: {lang}/validation-*\n"
                       f"  - split: test\n    path: {lang}/test-*\n")
    (root / "README.md").write_text("---\nconfigs:\n" + "".join(configs) + "---\n", encoding="utf-8")
    return root
