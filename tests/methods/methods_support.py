"""Tiny models, objectives and independent hand computations for the methods tests.

Everything is float64 unless a test says otherwise. The hand computations below use only plain
autograd on *copies* of the model (``torch.autograd.grad``) and closed-form formulas; they never call
``tram_bench.methods`` helpers or ``tram_bench.optim``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tram_bench.methods.base import InputNoise, Output, StepContext
from tram_bench.methods.registry import METHODS

DIM, HIDDEN, CLASSES = 5, 6, 3
VOCAB, EMBED = 7, 4
DT = torch.float64


# --- models ------------------------------------------------------------------------------------


class MLP(nn.Module):
    """Linear -> [BatchNorm] -> tanh -> [Dropout] -> Linear."""

    def __init__(self, *, bn: bool = False, dropout: float = 0.0, seed: int = 0, dtype=DT) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.lin1 = nn.Linear(DIM, HIDDEN)
        self.bn = nn.BatchNorm1d(HIDDEN) if bn else nn.Identity()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.lin2 = nn.Linear(HIDDEN, CLASSES)
        self.to(dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.lin2(self.drop(torch.tanh(self.bn(self.lin1(x)))))


class TinyLM(nn.Module):
    """Embedding -> Linear -> tanh -> Linear over the vocabulary: logits ``[B, T, V]``."""

    def __init__(self, seed: int = 0, dtype=DT) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.mix = nn.Linear(EMBED, HIDDEN)
        self.head = nn.Linear(HIDDEN, VOCAB)
        self.to(dtype)

    def logits_from_embeddings(self, emb: Tensor) -> Tensor:
        return self.head(torch.tanh(self.mix(emb)))


def classifier_batch(n: int, seed: int, dtype=DT) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, DIM, generator=g, dtype=torch.float64).to(dtype)
    y = torch.randint(0, CLASSES, (n,), generator=g)
    return x, y


def token_batch(b: int, t: int, seed: int) -> dict[str, Tensor]:
    """Token ids, next-token labels and a padding mask with a different length per row."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (b, t), generator=g)
    labels = torch.randint(0, VOCAB, (b, t), generator=g)
    lengths = torch.arange(b) % t + 2
    mask = torch.arange(t)[None, :] < lengths.clamp(max=t)[:, None]
    return {"ids": ids, "labels": labels, "mask": mask}


# --- objectives ---------------------------------------------------------------------------------


def classifier_logits(model: nn.Module, x: Tensor, z: Tensor | None = None) -> Tensor:
    return model(x if z is None else x.detach() + z)


def token_logits(model: TinyLM, ids: Tensor, z: Tensor | None = None) -> Tensor:
    emb = model.embed(ids)
    if z is not None:
        emb = emb.detach() + z  # noise at the embedding hook, on detached embeddings
    return model.logits_from_embeddings(emb)


class DropoutMasks:
    """Records the keep-mask of every Dropout forward of a model (and of its deep copies, which
    share this hook). Inputs come after tanh, so a zero output means a dropped unit."""

    def __init__(self, model: nn.Module) -> None:
        self.masks: list[Tensor] = []
        model.drop.register_forward_hook(lambda mod, inp, out: self.masks.append(out != 0) if mod.training else None)


class ClassifierObjective:
    """Cross-entropy classifier; the input hook adds ``noise.sample_like(x)``."""

    def __call__(self, model: nn.Module, batch: Any, noise: InputNoise | None = None) -> Output:
        x, y = batch
        z = None if noise is None else noise.sample_like(x)
        logits = classifier_logits(model, x, z)
        return Output(logits=logits, loss=F.cross_entropy(logits, y), count=int(y.shape[0]))


class TokenObjective:
    """Mean next-token cross-entropy over non-padding positions; noise on the embeddings."""

    def __call__(self, model: nn.Module, batch: Any, noise: InputNoise | None = None) -> Output:
        mask = batch["mask"]
        z = None
        if noise is not None:
            z = noise.sample_like(model.embed(batch["ids"]))
        logits = token_logits(model, batch["ids"], z)
        loss = F.cross_entropy(logits[mask], batch["labels"][mask])
        return Output(logits=logits, loss=loss, mask=mask, count=int(mask.sum()))


@dataclass
class Call:
    """One objective call seen by :class:`Recorder`."""

    model: nn.Module
    batch: Any
    weights: list[Tensor]
    noise_state: Tensor | None  # the noise generator's state at the call (None: no noise)
    grad_enabled: bool
    training: bool


@dataclass
class Recorder:
    """Wraps an objective and records every call (model, batch object, weights at the call)."""

    inner: Callable[..., Output]
    calls: list[Call] = field(default_factory=list)

    def __call__(self, model: nn.Module, batch: Any, noise: InputNoise | None = None) -> Output:
        state = None if noise is None else noise.generator.get_state()
        self.calls.append(Call(model, batch, weights(model), state, torch.is_grad_enabled(), model.training))
        return self.inner(model, batch, noise)

    def grad_calls(self) -> list[Call]:
        return [c for c in self.calls if c.grad_enabled]


@dataclass
class InfInjector:
    """Makes the loss of the ``at``-th forward with gradient enabled (1-based) infinite."""

    inner: Callable[..., Output]
    at: int
    seen: int = 0

    def __call__(self, model: nn.Module, batch: Any, noise: InputNoise | None = None) -> Output:
        out = self.inner(model, batch, noise)
        if torch.is_grad_enabled():
            self.seen += 1
            if self.seen == self.at:
                out.loss = out.loss * float("inf")
        return out


# --- building methods ---------------------------------------------------------------------------


def build(method_id: str, model: nn.Module, objective=None, *, lr: float = 0.1, weight_decay: float = 0.0,
          seed: int = 11, **hparams: Any):
    """A method with SGD momentum 0 by default (simple hand computations) and a seeded noise generator."""
    cls = METHODS.get(method_id)
    hparams.setdefault("momentum", 0.0)
    return cls(
        model, objective if objective is not None else ClassifierObjective(), cls.Hparams(**hparams),
        lr=lr, weight_decay=weight_decay, generator=torch.Generator().manual_seed(seed),
    )


def weights(model: nn.Module) -> list[Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def buffers(model: nn.Module) -> list[Tensor]:
    return [b.detach().clone() for b in model.buffers()]


def assert_same(a: list[Tensor], b: list[Tensor]) -> None:
    """Bitwise equality of two lists of tensors."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and torch.equal(x, y), (x, y)


def assert_close(a: list[Tensor], b: list[Tensor], rtol: float = 1e-10, atol: float = 1e-12) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=rtol, atol=atol)


FP32 = StepContext()


# --- hand computations --------------------------------------------------------------------------


def at_weights(model: nn.Module, ws: list[Tensor]) -> nn.Module:
    """A copy of ``model`` holding ``ws`` as leaf parameters that require grad."""
    twin = copy.deepcopy(model)
    with torch.no_grad():
        for p, w in zip(twin.parameters(), ws):
            p.copy_(w)
            p.requires_grad_(True)
    return twin


def grad_of(model: nn.Module, ws: list[Tensor], loss_fn: Callable[[nn.Module], Tensor]) -> list[Tensor]:
    twin = at_weights(model, ws)
    params = list(twin.parameters())
    grads = torch.autograd.grad(loss_fn(twin), params, allow_unused=True)
    # An unused parameter (e.g. the embedding under noised, detached embeddings) has gradient 0.
    return [torch.zeros_like(p) if g is None else g.detach() for p, g in zip(params, grads)]


def logits_no_grad(model: nn.Module, ws: list[Tensor], fn: Callable[[nn.Module], Tensor]) -> Tensor:
    with torch.no_grad():
        return fn(at_weights(model, ws)).detach()


def kl_rows(target_logits: Tensor, logits: Tensor, mask: Tensor | None = None) -> Tensor:
    """mean over rows of sum_c p_t (log p_t - log p_c) (forward KL, target first)."""
    if mask is not None:
        target_logits, logits = target_logits[mask], logits[mask]
    lt = torch.log_softmax(target_logits.reshape(-1, target_logits.shape[-1]), -1)
    lc = torch.log_softmax(logits.reshape(-1, logits.shape[-1]), -1)
    return (lt.exp() * (lt - lc)).sum(-1).mean()


def global_norm(ts: list[Tensor]) -> Tensor:
    return torch.sqrt(sum((t * t).sum() for t in ts))


def sam_e(g: list[Tensor], rho: float) -> list[Tensor]:
    n = global_norm(g)
    return [rho * gi / n for gi in g]


def asam_e(ws: list[Tensor], g: list[Tensor], rho: float, eta: float) -> list[Tensor]:
    t = [w.abs() + eta for w in ws]
    n = global_norm([ti * gi for ti, gi in zip(t, g)])
    return [rho * ti * ti * gi / n for ti, gi in zip(t, g)]


def fisher_e(g: list[Tensor], rho: float, eta: float) -> list[Tensor]:
    finv = [1.0 / (1.0 + eta * gi * gi) for gi in g]
    n = torch.sqrt(sum((gi * fi * gi).sum() for gi, fi in zip(g, finv)))
    return [rho * fi * gi / n for fi, gi in zip(finv, g)]


def plus(a: list[Tensor], b: list[Tensor]) -> list[Tensor]:
    return [x + y for x, y in zip(a, b)]


def sgd(ws: list[Tensor], g: list[Tensor], lr: float) -> list[Tensor]:
    return [w - lr * gi for w, gi in zip(ws, g)]


def adam_first(ws: list[Tensor], g: list[Tensor], lr: float, eps: float = 1e-8) -> list[Tensor]:
    """Adam's first step: bias-corrected moments are g and g^2."""
    return [w - lr * gi / (gi.abs() + eps) for w, gi in zip(ws, g)]


def noise_like(shape: torch.Size, seed: int, sigma: float, dtype=DT, draws_before: int = 0) -> Tensor:
    """The z an InputNoise with a generator seeded ``seed`` draws (CPU float32, scaled, cast),
    after ``draws_before`` earlier draws of the same shape."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(draws_before):
        torch.randn(shape, generator=g, dtype=torch.float32)
    return (torch.randn(shape, generator=g, dtype=torch.float32) * sigma).to(dtype)
