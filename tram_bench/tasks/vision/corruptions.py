"""Corruption domains of grey images in [0, 1], written in torch (torchvision is not needed).

Each family has severities 1..5 (ImageNet-C / MNIST-C convention) with magnitudes fixed below, so a domain
name such as ``uci-rot-2`` always means the same images. Corruptions act on the dataset grid (8x8 for the
digits), before the model's resampling, so a domain is the same for every backbone.

* ``rot``: rotation counter-clockwise about the image centre by 10/20/30/45/60 degrees (bilinear, zero fill).
* ``noise``: additive Gaussian noise, sigma 0.1..0.5 of the [0, 1] range, clamped to [0, 1].
* ``blur``: Gaussian blur, sigma 0.45..1.0 grid pixels (zero padding: the background is 0). One pixel of the
  8x8 grid is an eighth of the digit, so the scale is short.
* ``invert``: the image blended toward its negative, x -> (1 - a) x + a (1 - x), a = 0.1/0.2/0.3/0.6/1.0.
  Levels 1-3 keep the polarity with contrast 1 - 2a on a grey background; level 4 is a faint negative and
  level 5 the full negative (a = 0.5, a blank image, is skipped). A model trained on white-on-black digits
  is near chance from level 4 on.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CORRUPTIONS = ("rot", "noise", "blur", "invert")
MAX_SEVERITY = 5
ROTATION_DEGREES = (10.0, 20.0, 30.0, 45.0, 60.0)
NOISE_SIGMA = (0.1, 0.2, 0.3, 0.4, 0.5)
BLUR_SIGMA = (0.45, 0.55, 0.7, 0.85, 1.0)
INVERT_AMOUNT = (0.1, 0.2, 0.3, 0.6, 1.0)


def check_corruption(name: str, severity: int) -> None:
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r} (expected one of {', '.join(CORRUPTIONS)})")
    if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= MAX_SEVERITY:
        raise ValueError(f"corruption severity must be an integer in 1..{MAX_SEVERITY}, got {severity!r}")


def corrupt(images: torch.Tensor, name: str, severity: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A corrupted copy of ``images`` ``[N, H, W]`` in [0, 1]; ``generator`` drives the noise family."""
    check_corruption(name, severity)
    x = images.to(torch.float32)
    level = severity - 1
    if name == "rot":
        return rotate(x, ROTATION_DEGREES[level])
    if name == "noise":
        z = torch.randn(x.shape, generator=generator, dtype=torch.float32)
        return (x + NOISE_SIGMA[level] * z).clamp(0.0, 1.0)
    if name == "blur":
        return gaussian_blur(x, BLUR_SIGMA[level])
    a = INVERT_AMOUNT[level]
    return (1.0 - a) * x + a * (1.0 - x)


def rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate ``[N, H, W]`` about the centre (bilinear sampling, zeros outside the image)."""
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    # affine_grid maps output coordinates to input coordinates, so the inverse rotation goes in theta.
    theta = torch.tensor([[c, -s, 0.0], [s, c, 0.0]], dtype=torch.float32).expand(images.shape[0], 2, 3)
    x = images[:, None]
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, 0]


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised 1-D Gaussian with radius ceil(3 sigma)."""
    radius = max(1, math.ceil(3.0 * sigma))
    r = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (r / sigma) ** 2)
    return (k / k.sum()).to(torch.float32)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[N, H, W]`` with zero padding."""
    k = gaussian_kernel(sigma)
    radius = (k.numel() - 1) // 2
    x = images[:, None]
    x = F.conv2d(x, k.view(1, 1, 1, -1), padding=(0, radius))
    x = F.conv2d(x, k.view(1, 1, -1, 1), padding=(radius, 0))
    return x[:, 0]
