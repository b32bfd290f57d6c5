"""Task and method classes for the suite tests, referenced from YAML as ``tests.suite.fixtures:Name``.

They carry only what the suite layer reads (ids, versions, Params/Hparams, train defaults); the suite
layer never instantiates a task or a method, so the abstract training hooks stay unimplemented.
"""

from __future__ import annotations

from dataclasses import dataclass

from tram_bench.methods.base import BaseHparams, Method
from tram_bench.tasks.base import Task, TrainDefaults


@dataclass
class ToyParams:
    backbone: str = "mlp"
    width: int = 16
    noise: float | None = None
    shifts: tuple[float, ...] = (0.5,)

    def __post_init__(self) -> None:
        if self.backbone not in ("mlp", "small-cnn"):
            raise ValueError(f"unknown backbone {self.backbone!r} (expected mlp or small-cnn)")


class ToyTask(Task):
    id = "toy"
    version = "3"
    family = "synthetic"
    Params = ToyParams
    train_defaults = TrainDefaults(steps=20, batch_size=8, lr=0.1, eval_every=10)


class ParamlessTask(Task):
    id = "paramless"
    family = "synthetic"


@dataclass
class ToySAMHparams(BaseHparams):
    rho: float = 0.05
    adaptive: bool = False

    def __post_init__(self) -> None:
        if self.rho < 0:
            raise ValueError(f"rho must be >= 0, got {self.rho}")
        if self.adaptive and self.base != "sgd":
            raise ValueError("adaptive toy SAM is defined for base 'sgd' only")


class ToySAM(Method):
    id = "toy-sam"
    version = "2"
    passes = (2, 2)
    Hparams = ToySAMHparams


class ToySGD(Method):
    id = "toy-sgd"
    passes = (1, 1)


class NotAMethod:
    Hparams = BaseHparams
