"""A small CNN for the digit tasks, pre-trained by tram-bench itself on the *other* digit dataset.

The fine-tuning runs start from this pre-trained body (with a fresh head), as the paper's runs start from
ImageNet weights. Pretraining uses only the other dataset's ``pretrain`` split, which is disjoint from the images
of its out-of-domain test (:mod:`.digits_data`), so OOD accuracy measures how much of the pre-trained knowledge
survives fine-tuning ("stay close to the pre-trained model").

Pretraining is seeded and deterministic for a given machine and thread count, runs in a few seconds on a
CPU, and is stored once under ``<cache>/vision-pretrain/<hash of CNNPretrainConfig>/``; every run then loads the
stored weights. Changing any config field (bump ``PRETRAIN_VERSION`` when the code changes) gives a new entry.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tram_bench.tasks.vision.digits_data import (
    ALIGNMENT_VERSION,
    DATASETS,
    NUM_CLASSES,
    load_dataset,
    role_splits,
    to_grid,
)
from tram_bench.util.files import atomic_write_json, cached

PRETRAIN_VERSION = "1"
WEIGHTS_FILE = "weights.pt"


class SmallCNN(nn.Module):
    """Three 3x3 conv + BatchNorm + ReLU layers (2 max-pools), global average pool, linear head.

    Input ``[N, 1, S, S]`` with S >= 4; about 57 k parameters at ``width=32``.
    """

    def __init__(self, width: int = 32, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        c1, c2 = width, 2 * width
        self.body = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1, bias=False),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1, bias=False),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c2, c2, 3, padding=1, bias=False),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(c2, num_classes)

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.body(pixels)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(pixels))


def cnn_pixels(images01: torch.Tensor) -> torch.Tensor:
    """[0, 1] intensities -> the small CNN's input range [-1, 1]."""
    return images01 * 2.0 - 1.0


@dataclass(frozen=True)
class CNNPretrainConfig:
    """Everything that determines the pre-trained weights (the cache key)."""

    source: str
    image_size: int = 16
    width: int = 32
    epochs: int = 15
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    # Use only the first ``limit`` images of the pretrain split (tests); None = all of it.
    limit: int | None = None
    version: str = PRETRAIN_VERSION
    data_version: str = ALIGNMENT_VERSION

    def __post_init__(self) -> None:
        if self.source not in DATASETS:
            raise ValueError(f"CNN pretraining source must be one of {', '.join(DATASETS)}, got {self.source!r}")
        for name in ("image_size", "width", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (4 if name == "image_size" else 1):
                raise ValueError(f"CNN pretraining {name} must be a positive integer, got {value!r}")


def pretraining_data(config: CNNPretrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_dataset(config.source)
    index = role_splits(config.source, "source")["pretrain"]
    if config.limit is not None:
        index = index[: config.limit]
    part = data.subset(index)
    return cnn_pixels(to_grid(part.images, config.image_size)), part.labels


def pretrain_small_cnn(config: CNNPretrainConfig, out_dir: Path) -> None:
    """Train a SmallCNN on the source's pretrain split and write its weights and a short report."""
    x, y = pretraining_data(config)
    with torch.random.fork_rng(devices=[]):
        # Default layer init draws from the global generator: seed it, and leave the caller's state untouched.
        torch.manual_seed(config.seed)
        model = SmallCNN(width=config.width)
    g = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    model.train()
    losses = []
    for _ in range(config.epochs):
        perm = torch.randperm(x.shape[0], generator=g)
        total, count = 0.0, 0
        for i in range(0, x.shape[0], config.batch_size):
            idx = perm[i : i + config.batch_size]
            if idx.numel() < 2:  # BatchNorm needs more than one example per channel
                continue
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
            count += idx.numel()
        losses.append(total / max(count, 1))
    model.eval()
    with torch.no_grad():
        accuracy = float((model(x).argmax(-1) == y).float().mean())
    torch.save(model.state_dict(), out_dir / WEIGHTS_FILE)
    atomic_write_json(
        out_dir / "report.json",
        {"examples": int(x.shape[0]), "epoch_loss": losses, "pretrain_accuracy": accuracy},
    )


def pretrained_cnn_dir(config: CNNPretrainConfig) -> Path:
    """The cache directory holding the pre-trained weights, building them on first use."""

    def build(out_dir: Path) -> None:
        pretrain_small_cnn(config, out_dir)

    return cached("vision-pretrain", asdict(config), build)


def load_pretrained_cnn(config: CNNPretrainConfig) -> SmallCNN:
    with torch.random.fork_rng(devices=[]):  # the throw-away init must not move the caller's generator
        model = SmallCNN(width=config.width)
    state = torch.load(pretrained_cnn_dir(config) / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model


def pretrain_report(config: CNNPretrainConfig) -> dict:
    return json.loads((pretrained_cnn_dir(config) / "report.json").read_text())
