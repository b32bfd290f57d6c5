"""The small CNN's pretraining: built once per config, reused, invalidated by any config change."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tram_bench.tasks.vision import digits_data as dd
from tram_bench.tasks.vision import small_cnn as sc

TINY = sc.CNNPretrainConfig(source="uci", image_size=8, width=4, epochs=1, batch_size=32, limit=64)


@pytest.fixture
def private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TRAM_BENCH_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture
def build_counter(monkeypatch):
    calls = []
    original = sc.pretrain_small_cnn

    def counting(config, out_dir):
        calls.append(config)
        original(config, out_dir)

    monkeypatch.setattr(sc, "pretrain_small_cnn", counting)
    return calls


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_second_load_reuses_the_cached_weights(private_cache, build_counter):
    first = sc.load_pretrained_cnn(TINY)
    second = sc.load_pretrained_cnn(TINY)
    assert len(build_counter) == 1
    assert _same_weights(first, second)
    assert sc.pretrained_cnn_dir(TINY).parent == private_cache / "vision-pretrain"


@pytest.mark.parametrize("change", [{"epochs": 2}, {"seed": 1}, {"version": "changed"}, {"limit": 65}])
def test_any_config_change_rebuilds(private_cache, build_counter, change):
    sc.load_pretrained_cnn(TINY)
    changed = dataclasses.replace(TINY, **change)
    sc.load_pretrained_cnn(changed)
    assert len(build_counter) == 2
    assert sc.pretrained_cnn_dir(changed) != sc.pretrained_cnn_dir(TINY)


def test_pretraining_is_deterministic(monkeypatch, tmp_path):
    monkeypatch.setenv("TRAM_BENCH_CACHE", str(tmp_path / "a"))
    a = sc.load_pretrained_cnn(TINY)
    monkeypatch.setenv("TRAM_BENCH_CACHE", str(tmp_path / "b"))
    b = sc.load_pretrained_cnn(TINY)
    assert _same_weights(a, b)


def test_pretraining_does_not_touch_the_global_generator(private_cache):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    sc.load_pretrained_cnn(TINY)
    assert torch.equal(torch.rand(3), expected)


def test_pretrained_cnn_recognises_held_out_images_of_its_source(private_cache):
    config = sc.CNNPretrainConfig(source="uci", image_size=8, width=8, epochs=4)
    model = sc.load_pretrained_cnn(config).eval()
    report = sc.pretrain_report(config)
    assert report["examples"] == dd.role_splits("uci", "source")["pretrain"].numel()
    data = dd.load_dataset("uci").subset(dd.role_splits("uci", "source")["ood"])
    with torch.no_grad():
        predicted = model(sc.cnn_pixels(dd.to_grid(data.images, 8))).argmax(-1)
    assert float((predicted == data.labels).double().mean()) > 0.6  # chance is 0.1


def test_cnn_shapes_and_pixel_range():
    model = sc.SmallCNN(width=8)
    x = torch.rand(5, 1, 16, 16)
    assert model.features(x).shape == (5, 16) and model(x).shape == (5, 10)
    assert torch.equal(sc.cnn_pixels(torch.tensor([0.0, 0.5, 1.0])), torch.tensor([-1.0, 0.0, 1.0]))


@pytest.mark.parametrize("bad", [{"source": "usps"}, {"image_size": 2}, {"epochs": 0}, {"width": 1.5}])
def test_bad_pretraining_config_is_refused(bad):
    fields = {"source": "uci", **bad}
    with pytest.raises(ValueError, match="CNN pretraining"):
        sc.CNNPretrainConfig(**fields)


def test_pretraining_runs_single_threaded_whatever_the_caller_uses(monkeypatch, tmp_path):
    """A sequential run has every core, a worker of --workers 2 one: the shared cached weights must not
    depend on which of them built the asset, so the build always runs with one torch thread."""
    seen = []
    original = sc.pretrain_small_cnn

    def spying(config, out_dir):
        seen.append(torch.get_num_threads())
        original(config, out_dir)

    monkeypatch.setattr(sc, "pretrain_small_cnn", spying)
    previous = torch.get_num_threads()
    weights = []
    try:
        for threads in (2, 1):
            torch.set_num_threads(threads)
            monkeypatch.setenv("TRAM_BENCH_CACHE", str(tmp_path / f"t{threads}"))
            weights.append(sc.load_pretrained_cnn(TINY))
            assert torch.get_num_threads() == threads  # the caller's setting is restored
    finally:
        torch.set_num_threads(previous)
    assert seen == [1, 1]
    assert _same_weights(*weights)
