"""What the adapter bit-identity tests share: tiny float64 data, and the reference run through
tram-bench's own step (the method registry, ``Method.step``, the loop's ``split_batch`` and
``lr_multiplier``), which every adapter must reproduce bit for bit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from tram_bench.contract import Output
from tram_bench.methods.base import StepContext
from tram_bench.methods.registry import METHODS
from tram_bench.suite.fieldtypes import coerce, field_infos
from tram_bench.train.loop import split_batch
from tram_bench.train.schedule import lr_multiplier

STEPS = 20
BATCH = 8
# The four methods the issue names: plain, SAM family, TRAM, and a trust region with input noise.
METHOD_CASES = [("sgd", {}), ("sam", {"rho": 0.05}), ("tram-prev", {}), ("r3f", {"sigma": 0.1, "lam": 1.0})]
ACCUMULATION = [1, 2]


@dataclass(frozen=True)
class Schedule:
    lr: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    warmup: int = 3
    schedule: str = "cosine"
    seed: int = 7


def hparams(method: str, values: dict[str, Any]):
    cls = METHODS.get(method).Hparams
    infos = field_infos(cls)
    return cls(**{k: coerce(v, infos[k].type) for k, v in values.items()})


def reference_run(model: nn.Module, objective: Callable, method: str, values: dict[str, Any],
                  batches: list[Any], accumulation: int, sched: Schedule,
                  autocast_dtype: torch.dtype | None = None) -> list[float]:
    """Train ``model`` in place on ``batches`` (one per step) as ``tram-bench run`` would; return the
    pass-1 losses."""
    cls = METHODS.get(method)
    m = cls(model, objective, hparams(method, values), lr=sched.lr, weight_decay=sched.weight_decay,
            generator=torch.Generator().manual_seed(sched.seed))
    ctx = StepContext(max_grad_norm=sched.max_grad_norm, autocast_dtype=autocast_dtype)
    base = [g["lr"] for g in m.optimizer.param_groups]
    losses = []
    for step, batch in enumerate(batches):
        mult = lr_multiplier(step, len(batches), sched.schedule, sched.warmup)
        for g, lr0 in zip(m.optimizer.param_groups, base):
            g["lr"] = lr0 * mult
        losses.append(m.step(split_batch(batch, accumulation), ctx).loss)
    return losses


def tiny_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()


def mlp_batches(n: int = STEPS, size: int = BATCH) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(3)
    return [(torch.randn(size, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (size,), generator=g))
            for _ in range(n)]


def mlp_objective(model: nn.Module, batch: Any, noise: Any = None) -> Output:
    """Cross-entropy of ``model(x)``; the noise hook is the input ``x``."""
    x, y = batch
    logits = model(x if noise is None else x.detach() + noise.sample_like(x))
    return Output(logits=logits, loss=nn.functional.cross_entropy(logits, y), count=len(y))


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    different = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not different, f"weights differ in {different}"
