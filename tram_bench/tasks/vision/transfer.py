"""Cross-dataset transfer from ImageNet with ViT-B/16 (the paper's Table 3): CIFAR-100, Stanford Cars, Flowers.

Hub copies, splits and columns as in hub-schemas.md §1:

* ``vit-cifar100``: ``uoft-cs/cifar100``, ``train`` 50,000 / ``test`` 10,000, image ``img``, label ``fine_label``.
* ``vit-cars``: ``tanganke/stanford_cars`` read through ``data_files`` (``data/train-*.parquet``,
  ``data/test-*.parquet``) so the seven corrupted test copies are not downloaded; image ``image``, label ``label``.
* ``vit-flowers``: ``dpdl-benchmark/oxford_flowers102``, the official ``train`` / ``validation`` / ``test``
  partition (1,020 / 1,020 / 6,149); image ``image``, label ``label``. We train on ``train`` only (whether the
  paper's "default partition" meant train or train + validation is not stated).

In-domain validation (selection, and the curves): Flowers uses its ``validation`` split; CIFAR-100 and Cars have
none, so ``val_fraction`` of ``train`` (default 10 %, class-stratified, fixed seed) is held out and the model
trains on the rest. The paper reports the final model, so this only costs training data; set it small to stay
closer to the paper. Metrics: top-1 accuracy on ``test`` (the domain is the dataset's short name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tram_bench.tasks.params import check_fraction
from tram_bench.tasks.vision.hub_images import HubImageSource
from tram_bench.tasks.vision.hub_task import HubImageTask, HubParams, IndexedSplit, carve


@dataclass
class TransferParams(HubParams):
    """``val_fraction``: share of ``train`` held out for validation when the dataset has no validation split."""

    val_fraction: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fraction("val_fraction", self.val_fraction)


@dataclass
class Cifar100Params(TransferParams):
    dataset_path: str = "uoft-cs/cifar100"


@dataclass
class CarsParams(TransferParams):
    dataset_path: str = "tanganke/stanford_cars"


@dataclass
class FlowersParams(TransferParams):
    dataset_path: str = "dpdl-benchmark/oxford_flowers102"


class TransferTask(HubImageTask):
    domain: ClassVar[str]
    image_column: ClassVar[str] = "image"
    label_column: ClassVar[str] = "label"
    data_files: ClassVar[dict[str, str] | None] = None
    val_split: ClassVar[str | None] = None  # None: carve val_fraction out of train
    train_rows: ClassVar[int]  # the hub copy's ``train`` split (hub-schemas.md §1); training uses at most these

    @classmethod
    def documented_train_rows(cls, params) -> int:
        return cls.train_rows

    def source(self) -> HubImageSource:
        p = self.params
        return HubImageSource(
            path=p.dataset_path,
            image_column=self.image_column,
            label_column=self.label_column,
            revision=p.revision,
            data_files=self.data_files,
        )

    def build_splits(self) -> tuple[IndexedSplit, list[IndexedSplit]]:
        train = self.decoded("train")
        test = self.decoded("test")
        rows = np.arange(len(train))
        if self.val_split is None:
            f = self.params.val_fraction
            parts = carve(train.labels, rows, {"train": 1.0 - f, "val": f}, 0)
            val_set = IndexedSplit(self.domain, "val", True, train, parts["val"])
            train_rows = parts["train"]
        else:
            val = self.decoded(self.val_split)
            val_rows = carve(val.labels, np.arange(len(val)), {"all": 1.0}, 1)["all"]
            val_set = IndexedSplit(self.domain, "val", True, val, val_rows)
            train_rows = carve(train.labels, rows, {"all": 1.0}, 2)["all"]
        if len(test.label_names) != len(train.label_names):
            raise ValueError(
                f"task {self.id}: train has {len(train.label_names)} classes but test has {len(test.label_names)}"
            )
        test_rows = carve(test.labels, np.arange(len(test)), {"all": 1.0}, 3)["all"]
        train_set = IndexedSplit(self.domain, "train", True, train, train_rows)
        return train_set, [val_set, IndexedSplit(self.domain, "test", True, test, test_rows)]


class ViTCifar100Task(TransferTask):
    id = "vit-cifar100"
    Params = Cifar100Params
    domain = "cifar100"
    image_column = "img"
    train_rows = 50_000
    label_column = "fine_label"
    description = "ViT-B/16 (ImageNet) fine-tuned on CIFAR-100 (paper Table 3)."


class ViTCarsTask(TransferTask):
    id = "vit-cars"
    Params = CarsParams
    domain = "cars"
    data_files = {"train": "data/train-*.parquet", "test": "data/test-*.parquet"}
    train_rows = 8_144
    description = "ViT-B/16 (ImageNet) fine-tuned on Stanford Cars (paper Table 3)."


class ViTFlowersTask(TransferTask):
    id = "vit-flowers"
    Params = FlowersParams
    domain = "flowers"
    val_split = "validation"
    train_rows = 1_020
    description = "ViT-B/16 (ImageNet) fine-tuned on Oxford Flowers-102 (paper Table 3)."
