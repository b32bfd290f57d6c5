"""ViT-B/16 (paper tier) through transformers, with a new seeded head and the image processor's normalisation.

``model_path`` is a hub id (default ``google/vit-base-patch16-224``, ImageNet-21k then ImageNet-1k; hub-schemas
§1.4 explains the choice) or a local directory holding ``config.json`` + weights + ``preprocessor_config.json``
(tests save a tiny randomly initialised ViT there). The new K-way head replaces the pretrained classifier and is
drawn the way transformers initialises a ViT linear layer (truncated normal, std ``initializer_range``, zero bias)
from a generator seeded with the run's data seed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tram_bench.tasks.vision.hub_images import Normalization
from tram_bench.util.files import package_dir

DEFAULT_VIT = "google/vit-base-patch16-224"


def _require_transformers() -> None:
    package_dir("transformers")  # a one-line MissingAssetPackage if absent


def load_normalization(model_path: str, revision: str | None = None) -> Normalization:
    """Mean, std, rescale factor, size and resample filter of the model's image processor."""
    _require_transformers()
    import transformers

    # transformers 5 names the PIL/numpy processor ViTImageProcessorPil; 4.x calls that one ViTImageProcessor.
    cls = getattr(transformers, "ViTImageProcessorPil", None) or transformers.ViTImageProcessor
    kwargs: dict[str, Any] = {} if revision is None else {"revision": revision}
    proc = cls.from_pretrained(model_path, **kwargs)
    size = proc.size
    side = size["height"] if "height" in size else size["shortest_edge"]
    if "width" in size and size["width"] != side:
        raise ValueError(f"image processor of {model_path!r} resizes to a non-square {size}; expected a square size")
    mean = tuple(float(v) for v in proc.image_mean)
    std = tuple(float(v) for v in proc.image_std)
    rescale = float(proc.rescale_factor) if proc.do_rescale else 1.0
    if not proc.do_normalize:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return Normalization(mean=mean, std=std, rescale=rescale, size=int(side), resample=int(proc.resample))


class ViTClassifier(nn.Module):
    """``ViTForImageClassification`` with ``forward(pixels) -> logits`` and ``features(pixels) -> [N, hidden]``."""

    def __init__(self, model_path: str, label_names: list[str], head_seed: int, revision: str | None = None) -> None:
        super().__init__()
        _require_transformers()
        from transformers import ViTForImageClassification

        kwargs: dict[str, Any] = {} if revision is None else {"revision": revision}
        with torch.random.fork_rng(devices=[]):  # the discarded head init must not move the caller's generator
            model = ViTForImageClassification.from_pretrained(
                model_path,
                num_labels=len(label_names),
                id2label=dict(enumerate(label_names)),
                label2id={name: i for i, name in enumerate(label_names)},
                ignore_mismatched_sizes=True,
                **kwargs,
            )
        self.model = model.float()
        init_vit_head_(self.model.classifier, self.model.config.initializer_range, head_seed)

    @property
    def image_size(self) -> int:
        return int(self.model.config.image_size)

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """The [CLS] token after the final LayerNorm: exactly what the classifier reads."""
        return self.model.vit(pixel_values=pixels).last_hidden_state[:, 0]

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixels).logits


def init_vit_head_(layer: nn.Linear, std: float, seed: int) -> nn.Linear:
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        w = torch.empty(layer.weight.shape, dtype=torch.float32)
        # transformers' ViT init: trunc_normal_ with its default cut at +-2 (absolute, not in std units).
        nn.init.trunc_normal_(w, mean=0.0, std=std, generator=g)
        layer.weight.copy_(w)
        if layer.bias is not None:
            layer.bias.zero_()
    return layer
