"""Corruption domains: each equals its torchvision functional, and severities that grow in effect on real digit images."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from tram_bench.tasks.vision import corruptions as cr
from tram_bench.tasks.vision import digits_data as dd


def test_rotation_turns_counter_clockwise_about_the_centre():
    x = torch.zeros(1, 9, 9)
    x[0, 0, 4] = 1.0  # top centre
    out = cr.corrupt(x, "rot", cr.MAX_SEVERITY, seed=0)  # 60 degrees: the dot moves left and down
    ys, xs = torch.nonzero(out[0] > 0.05, as_tuple=True)
    assert float(xs.float().mean()) < 4 and float(ys.float().mean()) > 0


def _by_hand(x: torch.Tensor, name: str, level: int, seed: int) -> torch.Tensor:
    """The torchvision functional each family is defined as, called directly on ``[N, 1, H, W]``."""
    x = x[:, None]
    if name == "rot":
        out = TF.rotate(x, cr.ROTATION_DEGREES[level], interpolation=InterpolationMode.BILINEAR, fill=[0.0])
    elif name == "noise":
        torch.manual_seed(seed)
        out = TF.gaussian_noise(x, sigma=cr.NOISE_SIGMA[level], clip=True)
    elif name == "blur":
        s = cr.BLUR_SIGMA[level]
        k = 2 * math.ceil(3 * s) + 1
        out = TF.gaussian_blur(x, kernel_size=[k, k], sigma=[s, s])
    else:
        a = cr.INVERT_AMOUNT[level]
        out = (1 - a) * x + a * TF.invert(x)
    return out[:, 0]


@pytest.mark.parametrize("name", cr.CORRUPTIONS)
@pytest.mark.parametrize("severity", range(1, cr.MAX_SEVERITY + 1))
def test_each_corruption_equals_the_torchvision_functional(name, severity):
    x = dd.load_dataset("uci").images[:50].float()
    with torch.random.fork_rng(devices=[]):
        expected = _by_hand(x, name, severity - 1, seed=1234)
    assert torch.equal(cr.corrupt(x, name, severity, seed=1234), expected)


def test_full_inversion_is_the_negative():
    x = torch.tensor([[[0.0, 0.25, 1.0]]])
    assert torch.equal(cr.corrupt(x, "invert", 5, seed=0), 1.0 - x)


def test_noise_is_reproducible_from_the_seed_clipped_and_leaves_the_global_generator_alone():
    x = dd.load_dataset("uci").images[:20]
    torch.manual_seed(99)
    before = torch.random.get_rng_state()
    a = cr.corrupt(x, "noise", 3, seed=5)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = cr.corrupt(x, "noise", 3, seed=5)
    c = cr.corrupt(x, "noise", 3, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0


def test_domain_seed_is_a_stable_function_of_the_name():
    # A fixed value: Python's hash() of a str changes per process (PYTHONHASHSEED), this must not.
    assert cr.domain_seed("uci-noise-2") == cr.domain_seed("uci-noise-2")
    assert cr.domain_seed("uci-noise-2") != cr.domain_seed("uci-noise-3")
    code = "from tram_bench.tasks.vision.corruptions import domain_seed; print(domain_seed('uci-noise-2'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "random"})
    assert int(out.stdout) == cr.domain_seed("uci-noise-2")


@pytest.mark.parametrize("name,severity", [("fog", 1), ("rot", 0), ("rot", 6), ("blur", 2.0), ("noise", True)])
def test_bad_corruptions_are_refused(name, severity):
    with pytest.raises(ValueError, match="corruption"):
        cr.corrupt(torch.zeros(1, 8, 8), name, severity, seed=0)


def _test_images():
    data = dd.load_dataset("uci")
    return data.subset(dd.role_splits("uci", "target")["test"])


@pytest.mark.parametrize("name", cr.CORRUPTIONS)
def test_pixel_distance_grows_with_severity(name):
    test = _test_images()
    distances = []
    for severity in range(1, cr.MAX_SEVERITY + 1):
        out = cr.corrupt(test.images, name, severity, seed=0)
        distances.append(float((out.double() - test.images.double()).flatten(1).norm(dim=1).mean()))
    assert all(b > a for a, b in zip(distances, distances[1:])), distances


@pytest.mark.parametrize("name", cr.CORRUPTIONS)
def test_accuracy_of_a_fixed_model_does_not_rise_with_severity(name):
    # The fixed model: nearest class mean (float64) fitted on the UCI train split, no training randomness.
    data = dd.load_dataset("uci")
    train = data.subset(dd.role_splits("uci", "target")["train"])
    means = torch.stack([train.images[train.labels == c].double().mean(0) for c in range(10)]).flatten(1)
    test = _test_images()

    def accuracy(images: torch.Tensor) -> float:
        predicted = torch.cdist(images.double().flatten(1), means).argmin(1)
        return float((predicted == test.labels).double().mean())

    accs = [
        accuracy(cr.corrupt(test.images, name, s, seed=0))
        for s in range(1, cr.MAX_SEVERITY + 1)
    ]
    assert all(b <= a for a, b in zip(accs, accs[1:])), accs
    assert accs[-1] < accs[0] - 0.15, accs  # the strongest level really hurts
