"""A tiny generated classification task with a real distribution shift, for tests and quick checks.

Classes are Gaussian blobs in ``dim`` dimensions. The training domain draws them around fixed class
means; the shifted domains rotate the class means by ``shift`` radians in a random plane and add a
mean offset, so a model that fits the training domain tightly loses accuracy there. The "pretrained"
model is an MLP trained for a few steps on a disjoint pretraining sample (cached in memory per
process, deterministic), then fine-tuned with a fresh head.

Everything is generated from fixed seeds: the data never depends on the run seed, only the head
initialisation and the batch order do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import nn

from tram_bench.contract import InputNoise, Output
from tram_bench.tasks.base import EvalSet, Task, TrainDefaults, shuffled_batches
from tram_bench.tasks.params import check_int, check_number, fail
from tram_bench.util.files import asset_memo


@dataclass
class SyntheticParams:
    """Shape of the generated task.

    dim (>= 2: the shift rotates the first two axes), classes (>= 2), hidden units of the MLP, examples per
    training / eval domain, ``noise`` (standard deviation of each blob, > 0), ``shifts`` (one out-of-domain
    set per value, in radians of rotation and units of offset), ``batchnorm``, ``dropout`` in [0, 1),
    ``pretrain_steps`` of the cached "pretrained" MLP. Raises ValueError (one line: the key, the allowed
    values, the value) for a value outside these.
    """

    dim: int = 8
    classes: int = 4
    hidden: int = 32
    train_size: int = 256
    eval_size: int = 256
    noise: float = 1.0
    shifts: list[float] = field(default_factory=lambda: [0.5, 1.0])
    batchnorm: bool = False
    dropout: float = 0.0
    pretrain_steps: int = 50
    # Test hook: make training raise at this step (a failing run must be recorded, never cached as done).
    fail_at_step: int = -1

    def __post_init__(self) -> None:
        check_int("dim", self.dim, 2)
        check_int("classes", self.classes, 2)
        check_int("hidden", self.hidden, 1)
        check_int("train_size", self.train_size, 1)
        check_int("eval_size", self.eval_size, 1)
        check_number("noise", self.noise, 0.0, open_low=True)
        if not isinstance(self.shifts, (list, tuple)) or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in self.shifts
        ):
            fail("shifts", self.shifts, "a list of finite numbers")
        # Each shift names its domain (shift-0.5): two values printing alike would be one domain twice.
        if len({f"{v:g}" for v in self.shifts}) != len(self.shifts):
            fail("shifts", self.shifts, "a list without repeats")
        check_number("dropout", self.dropout, 0.0, 1.0, open_high=True)
        check_int("pretrain_steps", self.pretrain_steps, 0)
        check_int("fail_at_step", self.fail_at_step, -1)


class _MLP(nn.Module):
    def __init__(self, p: SyntheticParams) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(p.dim, p.hidden)]
        if p.batchnorm:
            layers.append(nn.BatchNorm1d(p.hidden))
        layers.append(nn.ReLU())
        if p.dropout > 0:
            layers.append(nn.Dropout(p.dropout))
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(p.hidden, p.classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _domain(p: SyntheticParams, n: int, shift: float, sample_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1234)
    means = 2.5 * torch.randn(p.classes, p.dim, generator=g, dtype=torch.float64)
    if shift:
        # Rotate the class means by `shift` radians in the plane of the first two axes, then offset.
        c, s = math.cos(shift), math.sin(shift)
        rot = torch.eye(p.dim, dtype=torch.float64)
        rot[0, 0], rot[0, 1], rot[1, 0], rot[1, 1] = c, -s, s, c
        means = means @ rot.T + shift * torch.ones(p.dim, dtype=torch.float64)
    gs = torch.Generator().manual_seed(sample_seed)
    y = torch.arange(n) % p.classes
    x = means[y] + p.noise * torch.randn(n, p.dim, generator=gs, dtype=torch.float64)
    return x.float(), y


@asset_memo(maxsize=8)
def _pretrained_state(key: tuple) -> dict[str, torch.Tensor]:
    p = SyntheticParams(**dict(key))
    torch_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(7)
        model = _MLP(p)
        x, y = _domain(p, 512, 0.0, sample_seed=99)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(p.pretrain_steps):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        return {k: v.detach().clone() for k, v in model.state_dict().items()}
    finally:
        torch.random.set_rng_state(torch_state)


class SyntheticObjective:
    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor], noise: InputNoise | None = None) -> Output:
        x = batch["x"]
        if noise is not None:
            x = x.detach() + noise.sample_like(x)
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, batch["labels"])
        return Output(logits=logits, loss=loss, count=int(batch["labels"].shape[0]))


class SyntheticShiftTask(Task):
    id = "synthetic"
    version = "1"
    family = "synthetic"
    Params = SyntheticParams
    train_defaults = TrainDefaults(steps=20, batch_size=32, lr=0.05, eval_every=10, eval_batch_size=256)
    description = "Gaussian blobs; shifted domains rotate and offset the class means."

    def __init__(self, params: SyntheticParams, *, seed: int, device: torch.device | str = "cpu") -> None:
        super().__init__(params, seed=seed, device=device)
        p = params
        self._x, self._y = _domain(p, p.train_size, 0.0, sample_seed=1)
        self._val = _domain(p, p.eval_size, 0.0, sample_seed=2)
        self._test = _domain(p, p.eval_size, 0.0, sample_seed=3)
        self._shifted = {f"shift-{s:g}": _domain(p, p.eval_size, s, sample_seed=4) for s in p.shifts}
        self._objective = SyntheticObjective()
        self._step = 0

    def build_model(self) -> nn.Module:
        p = self.params
        key = tuple(sorted((k, v) for k, v in vars(p).items() if k not in ("fail_at_step", "shifts")))
        model = _MLP(p)
        model.load_state_dict(_pretrained_state(key))
        g = torch.Generator().manual_seed(self.seed)
        with torch.no_grad():  # a fresh head, seeded by the run's data seed (same for every method)
            bound = 1.0 / math.sqrt(p.hidden)
            model.head.weight.copy_(torch.empty_like(model.head.weight).uniform_(-bound, bound, generator=g))
            model.head.bias.copy_(torch.empty_like(model.head.bias).uniform_(-bound, bound, generator=g))
        return model.to(self.device)

    @property
    def objective(self) -> SyntheticObjective:
        return self._objective

    def num_train_examples(self) -> int:
        return int(self._y.shape[0])

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
        for idx in shuffled_batches(self.num_train_examples(), batch_size, generator):
            self._step += 1
            if self.params.fail_at_step >= 0 and self._step > self.params.fail_at_step:
                raise RuntimeError(f"synthetic failure injected at step {self._step}")
            yield self._batch(self._x[idx], self._y[idx])

    def _batch(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"x": x.to(self.device), "labels": y.to(self.device)}

    def _eval(self, domain: str, split: str, data: tuple[torch.Tensor, torch.Tensor], in_domain: bool) -> EvalSet:
        x, y = data

        def batches(bs: int = 256):
            for i in range(0, x.shape[0], bs):
                yield self._batch(x[i : i + bs], y[i : i + bs])

        return EvalSet(domain=domain, split=split, in_domain=in_domain, batches=batches, size=int(y.shape[0]))

    def eval_sets(self) -> list[EvalSet]:
        sets = [self._eval("train-domain", "val", self._val, True), self._eval("train-domain", "test", self._test, True)]
        sets += [self._eval(name, "test", data, False) for name, data in self._shifted.items()]
        return sets

    def representation(self, model: nn.Module, batch: Any) -> torch.Tensor:
        return model.features(batch["x"])
