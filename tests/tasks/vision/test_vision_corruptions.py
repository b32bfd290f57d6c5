"""Corruption domains: exact definitions, and severities that grow in effect on real digit images."""

from __future__ import annotations

import pytest
import torch

from tram_bench.tasks.vision import corruptions as cr
from tram_bench.tasks.vision import digits_data as dd


def test_rotation_turns_counter_clockwise_about_the_centre():
    x = torch.zeros(1, 9, 9)
    x[0, 0, 4] = 1.0  # top centre
    out = cr.rotate(x, 90.0)
    expected = torch.zeros(1, 9, 9)
    expected[0, 4, 0] = 1.0  # left centre
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(cr.rotate(x, 0.0), x, atol=1e-6)


def test_blur_kernel_is_a_normalised_gaussian():
    k = cr.gaussian_kernel(1.0).double()
    assert k.numel() == 7 and abs(float(k.sum()) - 1.0) < 1e-6
    r = torch.arange(-3, 4, dtype=torch.float64)
    g = torch.exp(-0.5 * r**2)
    assert torch.allclose(k, g / g.sum(), atol=1e-7)
    # a constant image keeps its value where the kernel does not reach the (zero) border
    flat = torch.full((1, 12, 12), 0.5)
    assert torch.allclose(cr.gaussian_blur(flat, 1.0)[0, 3:9, 3:9], torch.full((6, 6), 0.5), atol=1e-6)


def test_invert_is_a_blend_toward_the_negative():
    x = torch.tensor([[[0.0, 0.25, 1.0]]])
    assert torch.equal(cr.corrupt(x, "invert", 5), 1.0 - x)
    a = cr.INVERT_AMOUNT[0]
    expected = (1 - a) * x.double() + a * (1 - x.double())
    assert torch.allclose(cr.corrupt(x, "invert", 1).double(), expected, atol=1e-7)


def test_noise_is_reproducible_from_the_generator_and_clamped():
    x = dd.load_dataset("uci").images[:20]
    a = cr.corrupt(x, "noise", 3, torch.Generator().manual_seed(5))
    b = cr.corrupt(x, "noise", 3, torch.Generator().manual_seed(5))
    c = cr.corrupt(x, "noise", 3, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0


@pytest.mark.parametrize("name,severity", [("fog", 1), ("rot", 0), ("rot", 6), ("blur", 2.0), ("noise", True)])
def test_bad_corruptions_are_refused(name, severity):
    with pytest.raises(ValueError, match="corruption"):
        cr.corrupt(torch.zeros(1, 8, 8), name, severity)


def _test_images():
    data = dd.load_dataset("uci")
    return data.subset(dd.role_splits("uci", "target")["test"])


@pytest.mark.parametrize("name", cr.CORRUPTIONS)
def test_pixel_distance_grows_with_severity(name):
    test = _test_images()
    distances = []
    for severity in range(1, cr.MAX_SEVERITY + 1):
        out = cr.corrupt(test.images, name, severity, torch.Generator().manual_seed(0))
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
        accuracy(cr.corrupt(test.images, name, s, torch.Generator().manual_seed(0)))
        for s in range(1, cr.MAX_SEVERITY + 1)
    ]
    assert all(b <= a for a, b in zip(accs, accs[1:])), accs
    assert accs[-1] < accs[0] - 0.15, accs  # the strongest level really hurts
