"""What the paper-tier image tasks share: decoded hub images, ViT, batches, evaluation sets.

A subclass says which hub dataset it reads (:class:`.hub_images.HubImageSource`) and how its splits become a
training index and evaluation sets (:meth:`HubImageTask.build_splits`). Images are kept as uint8 on the host
(memory-mapped from the decode cache) and become model pixels batch by batch on the device: upsampling if the
stored size is smaller than the model's, the optional training flip, then the image processor's normalisation
(for ViT-B/16: (p / 255 - 0.5) / 0.5, so pixels lie in [-1, 1]).

Augmentation (``augment``): "none", or "flip" = horizontal flip with probability 1/2 per training image, drawn
from the training generator (so all methods see the same flipped batches for a seed). The paper does not say
which augmentation it used.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

import numpy as np
import torch
from torch import nn

from tram_bench.tasks.base import EvalSet, TrainDefaults, shuffled_batches, smallest_known
from tram_bench.tasks.params import as_params, check_choice, check_int, check_text, fail
from tram_bench.tasks.vision.hub_images import (
    DecodedImages,
    HubImageSource,
    Normalization,
    load_decoded,
    to_model_pixels,
)
from tram_bench.tasks.vision.objective import PixelTask
from tram_bench.tasks.vision.vit import DEFAULT_VIT, ViTClassifier, load_normalization

AUGMENTATIONS = ("none", "flip")
EVAL_BATCH = 128
# Fixed seed of every carved split (val from train, in-domain val/test of the DG source domains).
HUB_SPLIT_SEED = 20240118


@dataclass
class HubParams:
    """Parameters shared by the paper-tier image tasks.

    dataset_path / revision: hub id (or local directory in the same layout) and an optional pinned commit.
    model_path / model_revision: the ViT checkpoint (hub id or local directory).
    augment: "none" or "flip" (see module docstring).
    train_size / eval_size: caps on the training set and on every eval set (class-balanced prefixes); None = all.

    Raises ValueError (one line: the key, the allowed values, the value) for a value outside these.
    """

    dataset_path: str = ""
    revision: str | None = None
    model_path: str = DEFAULT_VIT
    model_revision: str | None = None
    augment: str = "flip"
    train_size: int | None = None
    eval_size: int | None = None

    def __post_init__(self) -> None:
        check_text("dataset_path", self.dataset_path)
        check_text("revision", self.revision, optional=True)
        check_text("model_path", self.model_path)
        check_text("model_revision", self.model_revision, optional=True)
        check_choice("augment", self.augment, AUGMENTATIONS)
        check_int("train_size", self.train_size, 1, optional=True)
        check_int("eval_size", self.eval_size, 1, optional=True)


@dataclass(frozen=True)
class IndexedSplit:
    """An evaluation or training set: rows ``index`` of ``data``."""

    domain: str
    split: str
    in_domain: bool
    data: DecodedImages
    index: np.ndarray


class HubImageTask(PixelTask):
    family = "vision"
    tier = "paper"
    version = "1"
    Params: ClassVar[type] = HubParams
    # Table 3 setting (SGD, lr 5e-4, cosine, no warmup, final model); steps come from the suite's epochs.
    train_defaults = TrainDefaults(
        steps=1000, batch_size=64, lr=5e-4, schedule="cosine", selection="final", eval_every=500,
        eval_batch_size=EVAL_BATCH,
    )

    @classmethod
    def documented_train_rows(cls, params: Any) -> int | None:
        """Rows of the default hub copy (``Params``' own ``dataset_path``) that the training set is
        drawn from, as hub-schemas.md documents them; None when unknown."""
        return None

    @classmethod
    def train_examples_bound(cls, params: Any) -> int | None:
        """``train_size``, or the documented row count when ``dataset_path`` is the default copy
        (a local copy or another hub id may differ: then only ``train_size`` bounds it)."""
        default_copy = params.dataset_path == cls.Params.dataset_path
        known = cls.documented_train_rows(params) if default_copy else None
        return smallest_known(params.train_size, known)

    def __init__(self, params: Any, *, seed: int, device: torch.device | str = "cpu") -> None:
        params = as_params(self.Params, params, self.id)  # a mapping is checked by the Params class itself
        super().__init__(params, seed=seed, device=device)
        self.norm: Normalization = load_normalization(params.model_path, params.model_revision)
        self.image_size = self.norm.size
        train, evals = self.build_splits()
        if params.train_size is not None:
            if params.train_size > train.index.size:
                fail(f"task {self.id}: params.train_size", params.train_size, f"at most {train.index.size} (the training set)")
            train = IndexedSplit(train.domain, train.split, True, train.data, train.index[: params.train_size])
        if params.eval_size is not None:
            evals = [IndexedSplit(e.domain, e.split, e.in_domain, e.data, e.index[: params.eval_size]) for e in evals]
        for e in [train, *evals]:
            if e.index.size == 0:
                raise ValueError(f"task {self.id}: the {e.domain}/{e.split} set is empty")
        self._train = train
        self._evals = evals
        self.label_names = list(train.data.label_names)

    # --- provided by each task ---------------------------------------------------------------------
    @abstractmethod
    def source(self) -> HubImageSource:
        """The hub dataset this task reads."""

    @abstractmethod
    def build_splits(self) -> tuple[IndexedSplit, list[IndexedSplit]]:
        """The training set and the evaluation sets (in-domain val and test first, then OOD)."""

    # --- data ------------------------------------------------------------------------------------
    def decoded(self, split: str) -> DecodedImages:
        return load_decoded(self.source(), split, self.image_size, self.norm.resample)

    def _pixels(self, data: DecodedImages, rows: np.ndarray, flip: torch.Tensor | None = None) -> torch.Tensor:
        # Sorted reads are kinder to a memory-mapped file; the order is restored right after.
        order = np.argsort(rows, kind="stable")
        block = np.empty((rows.size, *data.images.shape[1:]), dtype=np.uint8)
        block[order] = data.images[rows[order]]
        x = torch.from_numpy(block).to(self.device, non_blocking=True)
        if flip is not None and bool(flip.any()):
            flip = flip.to(self.device)
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        return to_model_pixels(x, self.norm, self.image_size)

    def _labels(self, data: DecodedImages, rows: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(data.labels[rows])).to(self.device)

    def num_train_examples(self) -> int:
        return int(self._train.index.size)

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
        train = self._train
        for idx in shuffled_batches(self.num_train_examples(), batch_size, generator):
            rows = train.index[idx.numpy()]
            flip = torch.rand(rows.size, generator=generator) < 0.5 if self.params.augment == "flip" else None
            yield {"pixels": self._pixels(train.data, rows, flip), "labels": self._labels(train.data, rows)}

    def _eval_set(self, e: IndexedSplit) -> EvalSet:
        def batches(batch_size: int = EVAL_BATCH) -> Iterator[dict[str, torch.Tensor]]:
            for i in range(0, e.index.size, batch_size):
                rows = e.index[i : i + batch_size]
                yield {"pixels": self._pixels(e.data, rows), "labels": self._labels(e.data, rows)}

        return EvalSet(domain=e.domain, split=e.split, in_domain=e.in_domain, batches=batches, size=int(e.index.size))

    def eval_sets(self) -> list[EvalSet]:
        return [self._eval_set(e) for e in self._evals]

    # --- model -----------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        p = self.params
        model = ViTClassifier(p.model_path, self.label_names, head_seed=self.seed, revision=p.model_revision)
        if model.image_size != self.image_size:
            raise ValueError(
                f"task {self.id}: model {p.model_path!r} expects {model.image_size}px images but its image processor "
                f"resizes to {self.image_size}px"
            )
        return model.to(self.device)



def carve(labels: np.ndarray, rows: np.ndarray, fractions: dict[str, float], salt: int) -> dict[str, np.ndarray]:
    """Stratified fixed split of ``rows`` (indices into ``labels``) by the given fractions."""
    from tram_bench.tasks.vision.splits import stratified_splits

    parts = stratified_splits(torch.from_numpy(labels[rows]), fractions, HUB_SPLIT_SEED + salt)
    return {name: rows[idx.numpy()] for name, idx in parts.items()}
