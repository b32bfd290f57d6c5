"""Corruption domains of grey images in [0, 1], built from ``torchvision.transforms.v2`` functionals.

Each family has severities 1..5 (ImageNet-C / MNIST-C convention) with magnitudes fixed below, so a domain
name such as ``uci-rot-2`` always means the same images. Corruptions act on the dataset grid (8x8 for the
digits), before the model's resampling, so a domain is the same for every backbone.

* ``rot``: ``v2.functional.rotate`` counter-clockwise about the image centre by 10/20/30/45/60 degrees
  (bilinear, zero fill).
* ``noise``: ``v2.functional.gaussian_noise``, sigma 0.1..0.5 of the [0, 1] range, clipped to [0, 1]. The
  functional draws from torch's global generator, so :func:`corrupt` seeds a forked copy of it with ``seed``
  (the global state outside is left as it was): the same seed gives the same noise on any machine.
* ``blur``: ``v2.functional.gaussian_blur``, sigma 0.5..1.1 grid pixels, kernel side 2 ceil(3 sigma) + 1
  (torchvision pads by reflection). One pixel of the 8x8 grid is an eighth of the digit, so the scale is short.
* ``invert``: the image blended toward ``v2.functional.invert`` (its negative), x -> (1 - a) x + a (1 - x),
  a = 0.1/0.2/0.3/0.6/1.0. Levels 1-3 keep the polarity with contrast 1 - 2a on a grey background; level 4 is a
  faint negative and level 5 the full negative (a = 0.5, a blank image, is skipped). A model trained on
  white-on-black digits is near chance from level 4 on.

Task code derives ``seed`` from the domain name (:func:`domain_seed`, a SHA-256 of the name, never Python's
``hash``), so a domain's images depend on its name only.
"""

from __future__ import annotations

import math

import torch

from tram_bench.util.hashing import derive_seed

CORRUPTIONS = ("rot", "noise", "blur", "invert")
MAX_SEVERITY = 5
ROTATION_DEGREES = (10.0, 20.0, 30.0, 45.0, 60.0)
NOISE_SIGMA = (0.1, 0.2, 0.3, 0.4, 0.5)
BLUR_SIGMA = (0.5, 0.6, 0.75, 0.9, 1.1)
INVERT_AMOUNT = (0.1, 0.2, 0.3, 0.6, 1.0)


def check_corruption(name: str, severity: int) -> None:
    """Raise ValueError (one line) unless ``name`` is in :data:`CORRUPTIONS` and ``severity`` an int in 1..5."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r} (expected one of {', '.join(CORRUPTIONS)})")
    if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= MAX_SEVERITY:
        raise ValueError(f"corruption severity must be an integer in 1..{MAX_SEVERITY}, got {severity!r}")


def domain_seed(domain: str) -> int:
    """The 31-bit noise seed of a corruption domain such as ``uci-noise-2`` (stable across machines)."""
    return derive_seed("vision-corruption", domain)


def blur_kernel_size(sigma: float) -> int:
    """Odd kernel side covering +-3 sigma (at least 3)."""
    return 2 * max(1, math.ceil(3.0 * sigma)) + 1


def corrupt(images: torch.Tensor, name: str, severity: int, *, seed: int) -> torch.Tensor:
    """A corrupted float32 copy of ``images`` ``[N, H, W]`` in [0, 1].

    ``seed`` drives the noise family only (the other families are deterministic). Raises ValueError for an
    unknown family or a severity outside 1..5.
    """
    # Imported here, not at module level: torchvision.transforms pulls in PIL, and importing the vision
    # task package must stay light (the CLI lists tasks without building any data).
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    check_corruption(name, severity)
    x = images.to(torch.float32)[:, None]  # [N, 1, H, W]: torchvision's image layout
    level = severity - 1
    if name == "rot":
        out = TF.rotate(x, ROTATION_DEGREES[level], interpolation=InterpolationMode.BILINEAR, fill=[0.0])
    elif name == "noise":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = TF.gaussian_noise(x, sigma=NOISE_SIGMA[level], clip=True)
    elif name == "blur":
        sigma = BLUR_SIGMA[level]
        k = blur_kernel_size(sigma)
        out = TF.gaussian_blur(x, kernel_size=[k, k], sigma=[sigma, sigma])
    else:
        a = INVERT_AMOUNT[level]
        out = (1.0 - a) * x + a * TF.invert(x)
    return out[:, 0]
