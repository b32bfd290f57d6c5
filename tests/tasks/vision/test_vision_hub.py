"""Paper-tier loaders on tiny offline stand-ins in the real hub schemas, with a tiny random ViT."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("datasets")

from tram_bench.methods.base import InputNoise  # noqa: E402
from tram_bench.tasks.registry import TASKS  # noqa: E402
from tram_bench.tasks.vision import hub_images  # noqa: E402
from tram_bench.tasks.vision.domain_generalization import OfficeHomeTask, PACSTask  # noqa: E402
from tram_bench.tasks.vision.transfer import ViTCarsTask, ViTCifar100Task, ViTFlowersTask  # noqa: E402


@pytest.fixture(autouse=True)
def _offline_datasets(hf_datasets_cache):
    return hf_datasets_cache


def _task(hub_fixtures, cls, data: str, seed: int = 0, vit: str = "tiny-vit", **params):
    return cls(dict(dataset_path=hub_fixtures(data), model_path=hub_fixtures(vit), **params), seed=seed)


CASES = [
    # task class, fixture, extra params, [(eval key, size, in_domain)], train size, classes
    (ViTCifar100Task, "cifar100", {}, [("cifar100/val", 100, True), ("cifar100/test", 100, True)], 100, 100),
    (ViTCarsTask, "cars", {}, [("cars/val", 196, True), ("cars/test", 196, True)], 196, 196),
    (ViTFlowersTask, "flowers", {}, [("flowers/val", 102, True), ("flowers/test", 102, True)], 102, 102),
    (
        PACSTask,
        "pacs",
        {},
        [
            ("art-painting+cartoon+photo/val", 7, True),
            ("art-painting+cartoon+photo/test", 7, True),
            ("sketch/test", 21, False),
        ],
        49,
        7,
    ),
    (
        OfficeHomeTask,
        "office-home",
        {"val_fraction": 0.3, "test_fraction": 0.3},
        [("art+clipart+product/val", 65, True), ("art+clipart+product/test", 65, True), ("real-world/test", 65, False)],
        65,
        65,
    ),
]


@pytest.mark.parametrize("cls,data,params,evals,n_train,n_classes", CASES, ids=[c[1] for c in CASES])
def test_loader_splits_batches_and_model(hub_fixtures, cls, data, params, evals, n_train, n_classes):
    task = _task(hub_fixtures, cls, data, **params)
    assert TASKS.get(cls.id) is cls
    assert [(e.key, e.size, e.in_domain) for e in task.eval_sets()] == evals
    assert task.num_train_examples() == n_train and len(task.label_names) == n_classes
    batch = next(task.train_batches(8, torch.Generator().manual_seed(0)))
    assert batch["pixels"].shape == (8, 3, 32, 32) and batch["pixels"].dtype == torch.float32
    assert float(batch["pixels"].min()) >= -1.0 and float(batch["pixels"].max()) <= 1.0
    model = task.build_model().eval()
    out = task.objective(model, batch)
    assert out.logits.shape == (8, n_classes) and out.count == 8
    assert task.representation(model, batch).shape == (8, 32)


def test_carved_validation_is_disjoint_and_stratified(hub_fixtures):
    task = _task(hub_fixtures, ViTCarsTask, "cars")
    train_rows, val = task._train.index, task._evals[0]
    assert val.data is task._train.data  # carved out of `train`
    assert not set(train_rows.tolist()) & set(val.index.tolist())
    assert np.bincount(val.data.labels[val.index], minlength=196).tolist() == [1] * 196


def test_dg_split_keeps_target_domains_out_of_training(hub_fixtures):
    task = _task(hub_fixtures, PACSTask, "pacs", target_domains=["sketch", "photo"])
    domains = np.asarray(task._train.data.domains)
    assert set(domains[task._train.index]) == {"art_painting", "cartoon"}
    keys = [e.key for e in task.eval_sets()]
    assert keys == ["art-painting+cartoon/val", "art-painting+cartoon/test", "sketch/test", "photo/test"]
    for e in task._evals[:2]:
        assert set(domains[e.index]) <= {"art_painting", "cartoon"}
        assert not set(e.index.tolist()) & set(task._train.index.tolist())


def _processor(path):
    import transformers

    cls = getattr(transformers, "ViTImageProcessorPil", None) or transformers.ViTImageProcessor
    return cls.from_pretrained(path)


def _dataset_rows(path, split, rows):
    import datasets

    ds = datasets.load_dataset(path, split=split)
    return [ds[int(r)]["image" if "image" in ds.column_names else "img"].convert("RGB") for r in rows]


def test_pixels_equal_the_image_processor_output_after_a_pil_resize(hub_fixtures):
    # Flowers images (30x24, one grey) are resized with PIL at decode time, as the processor does.
    task = _task(hub_fixtures, ViTFlowersTask, "flowers")
    test_set = task._evals[1]
    ours = next(iter(task.eval_sets()[1].batches()))["pixels"][:6]
    images = _dataset_rows(hub_fixtures("flowers"), "test", test_set.index[:6])
    theirs = _processor(hub_fixtures("tiny-vit"))(images=images, return_tensors="pt")["pixel_values"]
    assert torch.allclose(ours, theirs.float(), atol=1e-6)


def test_upsampled_pixels_match_the_image_processor(hub_fixtures):
    # CIFAR-100 stays 32x32 on disk and is upsampled to the model's 64 on the device.
    task = _task(hub_fixtures, ViTCifar100Task, "cifar100", vit="tiny-vit-64")
    assert task._train.data.stored_size == 32 and task.image_size == 64
    test_set = task._evals[1]
    ours = next(iter(task.eval_sets()[1].batches()))["pixels"][:6]
    images = _dataset_rows(hub_fixtures("cifar100"), "test", test_set.index[:6])
    theirs = _processor(hub_fixtures("tiny-vit-64"))(images=images, return_tensors="pt")["pixel_values"]
    # PIL resamples in fixed point and rounds to uint8: within one grey level (2/255 on [-1, 1]), rarely off.
    assert ours.shape == theirs.shape == (6, 3, 64, 64)
    diff = (ours - theirs.float()).abs()
    assert float(diff.max()) < 2.5 / 255 and float(diff.mean()) < 1.0 / 255


def test_flip_augmentation_mirrors_some_training_images(hub_fixtures):
    plain = _task(hub_fixtures, ViTCifar100Task, "cifar100", augment="none")
    flipped = _task(hub_fixtures, ViTCifar100Task, "cifar100", augment="flip")
    a = next(plain.train_batches(32, torch.Generator().manual_seed(1)))
    b = next(flipped.train_batches(32, torch.Generator().manual_seed(1)))
    assert torch.equal(a["labels"], b["labels"])  # same order: the permutation is drawn first
    same = [torch.equal(x, y) for x, y in zip(a["pixels"], b["pixels"])]
    mirrored = [torch.equal(x.flip(-1), y) for x, y in zip(a["pixels"], b["pixels"])]
    assert all(s or m for s, m in zip(same, mirrored))
    assert 0 < sum(mirrored) < 32
    again = next(flipped.train_batches(32, torch.Generator().manual_seed(1)))
    assert torch.equal(again["pixels"], b["pixels"])


def test_decoded_images_are_cached(hub_fixtures, monkeypatch, tmp_path):
    monkeypatch.setenv("TRAM_BENCH_CACHE", str(tmp_path))
    calls = []
    original = hub_images.decode_split
    monkeypatch.setattr(hub_images, "decode_split", lambda *a: calls.append(a[0].split) or original(*a))
    _task(hub_fixtures, ViTFlowersTask, "flowers")
    assert len(calls) == 3  # train, validation, test
    _task(hub_fixtures, ViTFlowersTask, "flowers", seed=5)
    assert len(calls) == 3
    assert len(list((tmp_path / "vision-decoded").iterdir())) >= 3


def test_head_is_seeded_and_the_body_is_the_checkpoint(hub_fixtures):
    from transformers import ViTModel

    task = _task(hub_fixtures, PACSTask, "pacs")
    a, b = task.build_model(), task.build_model()
    c = _task(hub_fixtures, PACSTask, "pacs", seed=1).build_model()
    assert torch.equal(a.model.classifier.weight, b.model.classifier.weight)
    assert not torch.equal(a.model.classifier.weight, c.model.classifier.weight)
    assert torch.equal(a.model.classifier.bias, torch.zeros(7))
    body = ViTModel.from_pretrained(hub_fixtures("tiny-vit"), add_pooling_layer=False)
    ours = a.model.vit.embeddings.patch_embeddings.projection.weight
    assert torch.equal(ours, body.embeddings.patch_embeddings.projection.weight)
    assert a.model.config.id2label[0] == "dog"


def test_vit_objective_under_bf16_autocast_and_noise(hub_fixtures):
    task = _task(hub_fixtures, ViTFlowersTask, "flowers")
    model = task.build_model().train()
    batch = next(task.train_batches(4, torch.Generator().manual_seed(0)))
    clean = batch["pixels"].clone()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = task.objective(model, batch, InputNoise(sigma=0.1, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(batch["pixels"], clean)
    assert out.loss.dtype == torch.float32 and torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


def test_model_and_processor_sizes_must_agree(hub_fixtures, tmp_path):
    vit = tmp_path / "mismatched-vit"
    shutil.copytree(hub_fixtures("tiny-vit-64"), vit)
    config = json.loads((vit / "preprocessor_config.json").read_text())
    config["size"] = {"height": 32, "width": 32}
    (vit / "preprocessor_config.json").write_text(json.dumps(config))
    task = ViTFlowersTask(dict(dataset_path=hub_fixtures("flowers"), model_path=str(vit)), seed=0)
    with pytest.raises(ValueError, match="expects 64px images but its image processor resizes to 32px"):
        task.build_model()


@pytest.mark.parametrize(
    "cls,data,params,needle",
    [
        (ViTCifar100Task, "cifar100", {"augment": "mixup"}, "params.augment"),
        (ViTCifar100Task, "cifar100", {"val_fraction": 1.5}, "params.val_fraction"),
        (ViTCifar100Task, "cifar100", {"train_size": 10**6}, "params.train_size must be at most"),
        (PACSTask, "pacs", {"target_domains": ["mountains"]}, "params.target_domains"),
        (PACSTask, "pacs", {"target_domains": list(PACSTask.domains)}, "leaves at least one source domain"),
        (PACSTask, "pacs", {"val_fraction": 0.5, "test_fraction": 0.5}, "params.val_fraction"),
        (PACSTask, "pacs", {"resolution": 224}, "unknown param 'resolution'"),
    ],
)
def test_bad_params_raise_one_line_errors(hub_fixtures, cls, data, params, needle):
    with pytest.raises(ValueError) as info:
        _task(hub_fixtures, cls, data, **params)
    assert needle in str(info.value) and cls.id in str(info.value) and "\n" not in str(info.value)


def test_missing_columns_are_named(hub_fixtures):
    source = hub_images.HubImageSource(path=hub_fixtures("flowers"), image_column="img", label_column="label")
    with pytest.raises(ValueError, match="has no column 'img'"):
        source.load("train")
