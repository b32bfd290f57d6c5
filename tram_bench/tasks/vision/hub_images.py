"""Hub image datasets (paper tier): load with ``datasets.load_dataset``, decode once, cache as uint8 arrays.

A :class:`HubImageSource` names one dataset as the research notes (hub-schemas.md) give it: hub id, data
files, image / label / domain columns (every dataset used here loads with its default config).
``dataset_path`` may be a hub id or a local directory in the same layout (tests use tiny parquet fixtures in
the real schema), and ``revision`` pins a hub commit.

Decoding (PIL -> RGB -> resize) costs minutes on Cars or Flowers, so each split is decoded once into
``<cache>/vision-decoded/<hash>/`` (``images.npy`` uint8 ``[N, 3, s, s]``, ``labels.npy``, ``meta.json``) and
memory-mapped by later runs. The key holds the source, the split, the stored size and the ``datasets``
fingerprint of the loaded split (so a changed local fixture is re-decoded).

Stored size: images that all share one square size no larger than the model resolution (CIFAR-100, 32x32) are
kept as they are and upsampled on the device at batch time (bilinear, as the image processor's PIL bilinear);
anything else is resized with PIL to the model resolution at decode time, exactly as the image processor does
(direct resize to ``size x size``, no crop).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tram_bench.util.files import atomic_write_json, cached, package_dir

DECODE_VERSION = "1"


@dataclass(frozen=True)
class HubImageSource:
    """Where one dataset lives and which columns hold what."""

    path: str
    image_column: str
    label_column: str
    revision: str | None = None
    data_files: dict[str, str] | None = None
    domain_column: str | None = None

    def load(self, split: str):
        """One split as a ``datasets.Dataset`` (images not decoded yet)."""
        package_dir("datasets")  # a one-line MissingAssetPackage if absent
        import datasets

        kwargs: dict[str, Any] = {"split": split}
        if self.revision is not None:
            kwargs["revision"] = self.revision
        if self.data_files is not None:
            kwargs["data_files"] = dict(self.data_files)
        ds = datasets.load_dataset(self.path, **kwargs)
        wanted = (self.image_column, self.label_column, self.domain_column)
        missing = [c for c in wanted if c and c not in ds.column_names]
        if missing:
            columns = ", ".join(ds.column_names)
            raise ValueError(f"dataset {self.path!r} split {split!r} has no column {missing[0]!r} (columns: {columns})")
        return ds


@dataclass(frozen=True)
class DecodedImages:
    """uint8 images ``[N, 3, s, s]`` (numpy, possibly memory-mapped), int64 labels, optional domain strings."""

    images: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    domains: list[str] | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def stored_size(self) -> int:
        return int(self.images.shape[-1])


def _pil_rgb(image: Any):
    from PIL import Image

    if not isinstance(image, Image.Image):  # a {"bytes", "path"} dict when decoding is off, or an array
        image = Image.fromarray(np.asarray(image))
    return image.convert("RGB")


def choose_stored_size(sizes: set[tuple[int, int]], size: int) -> int:
    """Keep a common native square size <= ``size``; otherwise resize to ``size`` at decode time."""
    if len(sizes) == 1:
        (w, h), = sizes
        if w == h and w <= size:
            return w
    return size


def decode_split(ds, source: HubImageSource, size: int, resample: int) -> DecodedImages:
    """Decode every image of ``ds`` to RGB uint8 at the stored size (see module docstring)."""
    from PIL import Image

    sizes = set()
    for row in ds.select_columns([source.image_column]):
        image = row[source.image_column]
        # A PIL image knows its size from the file header: no pixel decoding in this first pass.
        sizes.add(image.size if isinstance(image, Image.Image) else _pil_rgb(image).size)
        if len(sizes) > 1:
            break
    stored = choose_stored_size(sizes, size)
    images = np.zeros((len(ds), 3, stored, stored), dtype=np.uint8)
    for i, row in enumerate(ds.select_columns([source.image_column])):
        img = _pil_rgb(row[source.image_column])
        if img.size != (stored, stored):
            img = img.resize((stored, stored), resample=resample)
        images[i] = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)
    labels = np.asarray(ds[source.label_column], dtype=np.int64)
    feature = ds.features[source.label_column]
    names = list(getattr(feature, "names", None) or [])
    if not names:
        names = [str(i) for i in range(int(labels.max()) + 1 if labels.size else 0)]
    domains = list(ds[source.domain_column]) if source.domain_column else None
    return DecodedImages(images, labels, names, domains)


@dataclass(frozen=True)
class DecodeKey:
    source: dict
    split: str
    size: int
    resample: int
    fingerprint: str | None
    version: str = DECODE_VERSION


def load_decoded(source: HubImageSource, split: str, size: int, resample: int) -> DecodedImages:
    """The decoded split from the cache, decoding it on first use."""
    ds = source.load(split)
    key = DecodeKey(asdict(source), split, size, resample, getattr(ds, "_fingerprint", None))

    def build(out: Path) -> None:
        decoded = decode_split(ds, source, size, resample)
        np.save(out / "images.npy", decoded.images)
        np.save(out / "labels.npy", decoded.labels)
        atomic_write_json(out / "meta.json", {"label_names": decoded.label_names, "domains": decoded.domains})

    d = cached("vision-decoded", asdict(key), build)
    meta = json.loads((d / "meta.json").read_text())
    return DecodedImages(
        images=np.load(d / "images.npy", mmap_mode="r"),
        labels=np.load(d / "labels.npy"),
        label_names=meta["label_names"],
        domains=meta["domains"],
    )


@dataclass(frozen=True)
class Normalization:
    """What the model's image processor does after resizing: pixel * rescale, then (x - mean) / std."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    rescale: float
    size: int
    resample: int


def to_model_pixels(batch_uint8: torch.Tensor, norm: Normalization, size: int) -> torch.Tensor:
    """uint8 ``[N, 3, s, s]`` on the device -> normalised float ``[N, 3, size, size]``."""
    x = batch_uint8.to(torch.float32)
    if x.shape[-1] != size:
        # Upsampling only (see choose_stored_size): bilinear without antialias is PIL's bilinear up-scaling.
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    mean = torch.tensor(norm.mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(norm.std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return (x * norm.rescale - mean) / std
