"""The digit tasks as the training loop and the methods see them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from tram_bench.methods.base import InputNoise
from tram_bench.tasks.registry import TASKS
from tram_bench.tasks.vision import corruptions as cr
from tram_bench.tasks.vision import digits_data as dd
from tram_bench.tasks.vision.digits import DigitsMnistToUciTask, DigitsParams, DigitsUciToMnistTask
from tram_bench.tasks.vision.small_cnn import load_pretrained_cnn

SMALL = {"pretrain_epochs": 1, "eval_size": 40, "severities": [1, 2]}


@pytest.fixture(scope="module")
def task():
    # MNIST -> UCI: its CNN is pre-trained on UCI's pretrain split, the cheaper of the two to build.
    return DigitsMnistToUciTask(dict(SMALL), seed=11)


def _batch(task, n=8, seed=0):
    return next(task.train_batches(n, torch.Generator().manual_seed(seed)))


def test_task_ids_are_registered():
    assert TASKS.get("digits-uci-to-mnist") is DigitsUciToMnistTask
    assert TASKS.get("digits-mnist-to-uci") is DigitsMnistToUciTask


@pytest.mark.parametrize(
    "cls,train,other", [(DigitsUciToMnistTask, "uci", "mnist"), (DigitsMnistToUciTask, "mnist", "uci")]
)
def test_eval_sets_name_every_domain(cls, train, other):
    task = cls(dict(SMALL, corruptions=["rot", "invert"]), seed=0)
    sets = [(e.domain, e.split, e.in_domain, e.size) for e in task.eval_sets()]
    assert sets == [
        (train, "val", True, 40),
        (train, "test", True, 40),
        (other, "test", False, 40),
        (f"{train}-rot-1", "test", False, 40),
        (f"{train}-rot-2", "test", False, 40),
        (f"{train}-invert-1", "test", False, 40),
        (f"{train}-invert-2", "test", False, 40),
    ]
    assert task.num_train_examples() == dd.role_splits(train, "target")["train"].numel()


def test_noise_domain_images_are_drawn_from_the_domain_name(task):
    # MNIST -> UCI's domains mnist-noise-1/2: the task's images are the noise of the seed derived from that
    # domain's name (identical in another build, see the test below); another name's seed gives other images.
    mnist = dd.load_dataset("mnist")
    test_images = mnist.subset(dd.role_splits("mnist", "target")["test"])
    sets = {e.domain: next(iter(e.batches(10_000)))["pixels"] for e in task.eval_sets()}

    def pixels(seed):
        noisy = cr.corrupt(test_images.images, "noise", 1, seed=seed)
        return task._prepare(task._cap(dd.DigitImages(noisy, test_images.labels))).pixels

    assert torch.equal(sets["mnist-noise-1"], pixels(cr.domain_seed("mnist-noise-1")))
    assert not torch.equal(sets["mnist-noise-1"], pixels(cr.domain_seed("mnist-noise-2")))
    assert not torch.equal(sets["mnist-noise-1"], sets["mnist-noise-2"])


def test_data_do_not_depend_on_the_run_seed(task):
    other = DigitsMnistToUciTask(dict(SMALL), seed=12)
    for a, b in zip(task.eval_sets(), other.eval_sets()):
        pa, pb = next(iter(a.batches())), next(iter(b.batches()))
        assert torch.equal(pa["pixels"], pb["pixels"]) and torch.equal(pa["labels"], pb["labels"])
    assert torch.equal(_batch(task)["pixels"], _batch(other)["pixels"])


def test_out_of_domain_images_are_the_held_out_part_of_the_other_dataset(task):
    ood = next(iter(task.eval_sets()[2].batches()))
    uci = dd.load_dataset("uci")
    index = dd.role_splits("uci", "source")["ood"][:40]
    expected = dd.to_grid(uci.images[index], 16) * 2 - 1
    assert torch.equal(ood["pixels"], expected) and torch.equal(ood["labels"], uci.labels[index])


def test_pixels_are_normalised_to_minus_one_one(task):
    pixels = _batch(task, 64)["pixels"]
    assert pixels.shape == (64, 1, 16, 16)
    assert float(pixels.min()) == -1.0 and float(pixels.max()) <= 1.0


def test_one_epoch_of_batches_is_a_seeded_permutation(task):
    n = task.num_train_examples()
    batches = list(task.train_batches(100, torch.Generator().manual_seed(3)))
    again = list(task.train_batches(100, torch.Generator().manual_seed(3)))
    assert len(batches) == n // 100 and all(b["labels"].shape == (100,) for b in batches)
    assert all(torch.equal(x["pixels"], y["pixels"]) for x, y in zip(batches, again))
    rows = torch.cat([b["pixels"].flatten(1) for b in batches])
    assert torch.unique(rows, dim=0).shape[0] > 0.95 * rows.shape[0]  # distinct images (a few digits repeat)


def test_train_size_is_a_class_balanced_prefix():
    small = DigitsMnistToUciTask(dict(SMALL, train_size=100), seed=0)
    labels = torch.cat([b["labels"] for b in small.train_batches(50, torch.Generator().manual_seed(0))])
    assert torch.bincount(labels, minlength=10).tolist() == [10] * 10


def test_model_is_the_pretrained_body_with_a_seeded_head(task):
    a, b = task.build_model(), task.build_model()
    c = DigitsMnistToUciTask(dict(SMALL), seed=99).build_model()
    assert torch.equal(a.head.weight, b.head.weight) and not torch.equal(a.head.weight, c.head.weight)
    pretrained = load_pretrained_cnn(task.cnn_pretrain_config())
    assert task.cnn_pretrain_config().source == "uci"
    body_a, body_p = a.body.state_dict(), pretrained.body.state_dict()
    assert all(torch.equal(body_a[k], body_p[k]) for k in body_p)
    assert not torch.equal(a.head.weight, pretrained.head.weight)


class _Probe(nn.Module):
    """Records the pixels it is given; a fixed linear map to 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []
        self.linear = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.linear(x.flatten(1))


def test_noise_goes_onto_a_copy_of_the_pixels(task):
    batch = _batch(task)
    clean = batch["pixels"].clone()
    probe = _Probe()
    noise = InputNoise(sigma=0.1, generator=torch.Generator().manual_seed(4))
    out = task.objective(probe, batch, noise)
    expected_noise = InputNoise(sigma=0.1, generator=torch.Generator().manual_seed(4)).sample_like(clean)
    assert torch.equal(batch["pixels"], clean)  # the batch is untouched
    assert torch.equal(probe.seen[0], clean + expected_noise)
    task.objective(probe, batch)
    assert torch.equal(probe.seen[1], clean)
    assert out.count == 8 and out.logits.shape == (8, 10)


def test_objective_loss_is_mean_cross_entropy(task):
    model = task.build_model().eval()
    batch = _batch(task, 16)
    out = task.objective(model, batch)
    logits = model(batch["pixels"]).double()
    expected = -(logits.log_softmax(-1).gather(1, batch["labels"][:, None])).mean()
    assert abs(float(out.loss.detach()) - float(expected.detach())) < 1e-5
    assert out.count == 16 and out.mask is None


def test_representation_is_the_pooled_feature(task):
    model = task.build_model().eval()
    batch = _batch(task, 6)
    features = task.representation(model, batch)
    assert features.shape == (6, 2 * DigitsParams().cnn_width)
    with torch.no_grad():
        assert torch.allclose(model.head(features), model(batch["pixels"]), atol=1e-6)


def test_objective_runs_under_bf16_autocast(task):
    model = task.build_model().train()
    batch = _batch(task, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = task.objective(model, batch, InputNoise(sigma=0.05, generator=torch.Generator().manual_seed(0)))
    assert out.logits.dtype == torch.bfloat16 and out.loss.dtype == torch.float32
    out.loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_lite0_backbone_builds_and_runs():
    pytest.importorskip("efficientnet_lite_pytorch")
    lite = DigitsMnistToUciTask(dict(backbone="efficientnet-lite0", eval_size=8, corruptions=[]), seed=0)
    assert [e.key for e in lite.eval_sets()] == ["mnist/val", "mnist/test", "uci/test"]
    batch = _batch(lite, 4)
    assert batch["pixels"].shape == (4, 1, 32, 32)
    assert float(batch["pixels"].min()) == pytest.approx(-127.0 / 128.0)
    model = lite.build_model().eval()
    out = lite.objective(model, batch)
    assert out.logits.shape == (4, 10) and lite.representation(model, batch).shape == (4, 1280)


@pytest.mark.parametrize(
    "params,needle",
    [
        ({"backbone": "resnet"}, "params.backbone must be one of small-cnn, efficientnet-lite0, got 'resnet'"),
        ({"corruptions": ["fog"]}, "params.corruptions"),
        ({"severities": [0]}, "params.severities"),
        ({"severities": [1, 1]}, "params.severities"),
        ({"train_size": 0}, "params.train_size"),
        ({"train_size": 10**6}, "params.train_size must be at most"),
        ({"backbone": "efficientnet-lite0", "image_size": 48}, "params.image_size"),
        ({"eval_size": -1}, "params.eval_size"),
        ({"colour": True}, "unknown param 'colour'"),
    ],
)
def test_bad_params_raise_one_line_errors(params, needle):
    with pytest.raises(ValueError) as info:
        DigitsUciToMnistTask(dict(SMALL, **params), seed=0)
    message = str(info.value)
    assert needle in message and "digits-uci-to-mnist" in message and "\n" not in message


def test_importing_the_vision_package_imports_nothing_heavy():
    code = (
        "import sys\n"
        "import tram_bench.tasks.vision.digits, tram_bench.tasks.vision.transfer\n"
        "import tram_bench.tasks.vision.domain_generalization\n"
        "names = ('sklearn', 'transformers', 'datasets', 'efficientnet_lite_pytorch', 'PIL')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=root)
    assert result.stdout.strip() == ""


def test_params_may_be_the_dataclass_the_training_loop_builds():
    params = DigitsParams(eval_size=10, corruptions=["blur"], severities=[3], pretrain_epochs=1)
    task = DigitsMnistToUciTask(params, seed=0)
    assert task.params is params
    assert [e.key for e in task.eval_sets()][-1] == "mnist-blur-3/test"
