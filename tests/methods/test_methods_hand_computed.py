"""Two steps of every method equal a hand computation (float64, plain autograd on copies).

The weights are moved after the method is built, so weight targets (previous step, initial
weights, EMA) already differ from the current model at step 1; the second step checks how each
target evolved (TRPO/TRAM-θ_{t-1}: the weights before step 1; MESA: the EMA after step 1;
TRAM-θ_0: still the construction-time copy). The base optimizer is SGD with momentum 0.9 (Adam for
``adam``), so the hand computation also carries the optimizer state across steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
import torch
import torch.nn.functional as F
from methods_support import (
    FP32,
    MLP,
    EMBED,
    ClassifierObjective,
    TinyLM,
    TokenObjective,
    asam_e,
    assert_close,
    build,
    classifier_batch,
    classifier_logits,
    fisher_e,
    grad_of,
    kl_rows,
    logits_no_grad,
    plus,
    sam_e,
    token_batch,
    token_logits,
    weights,
)
from torch import Tensor

from tram_bench.methods.registry import BUILTIN_METHOD_IDS

LR = 0.1
MOMENTUM = 0.9
NOISE_SEED = 11
# Non-default values where the default would hide a term (e.g. eta = 0, a tiny EMA rate).
HPARAMS: dict[str, dict[str, Any]] = {
    "sgd": {},
    "adam": {},
    "sam": {"rho": 0.05},
    "asam": {"rho": 0.5, "eta": 0.01},
    "fisher_sam": {"rho": 0.1, "eta": 40.0},
    "trpo": {"lam": 0.5},
    "r3f": {"lam": 0.5, "sigma": 0.3},
    "mesa": {"lam": 0.5, "decay": 0.6},
    "asam+trpo": {"lam": 0.5, "rho": 0.5, "eta": 0.01},
    "asam+r3f": {"lam": 0.5, "sigma": 0.3, "rho": 0.5, "eta": 0.01},
    "asam+mesa": {"lam": 0.5, "decay": 0.6, "rho": 0.5, "eta": 0.01},
    "tram-prev": {},
    "tram-init": {"eta": 0.01},
    "tram-x": {"sigma": 0.3},
    "tram-fisher": {"sigma": 0.3, "rho": 0.1, "fisher_eta": 40.0},
}


@dataclass
class Problem:
    """A batch and how the test model turns it into logits and a task loss."""

    batch: Any
    logits_fn: Callable[..., Tensor]  # (model, z=None) -> logits
    loss_fn: Callable[..., Tensor]  # (model, z=None) -> mean task loss
    mask: Tensor | None
    noise_shape: tuple[int, ...]


def classifier_problem(seed: int) -> Problem:
    x, y = classifier_batch(8, seed)

    def logits(m, z=None):
        return classifier_logits(m, x, z)

    return Problem((x, y), logits, lambda m, z=None: F.cross_entropy(logits(m, z), y), None, tuple(x.shape))


def token_problem(seed: int) -> Problem:
    batch = token_batch(3, 5, seed)
    ids, labels, mask = batch["ids"], batch["labels"], batch["mask"]

    def logits(m, z=None):
        return token_logits(m, ids, z)

    def loss(m, z=None):
        return F.cross_entropy(logits(m, z)[mask], labels[mask])

    return Problem(batch, logits, loss, mask, (*ids.shape, EMBED))


@dataclass
class Reference:
    """Hand-computed state: weights, the target weights, SGD momentum / Adam moments, noise."""

    model: torch.nn.Module
    hp: dict[str, Any]
    target: list[Tensor]
    noise: torch.Generator = field(default_factory=lambda: torch.Generator().manual_seed(NOISE_SEED))
    buf: list[Tensor] | None = None
    adam_m: list[Tensor] | None = None
    adam_v: list[Tensor] | None = None
    t: int = 0

    def draw(self, shape: tuple[int, ...]) -> Tensor:
        sigma = self.hp["sigma"]
        return (torch.randn(shape, generator=self.noise, dtype=torch.float32) * sigma).to(torch.float64)

    def descend(self, ws: list[Tensor], g: list[Tensor], adam: bool) -> list[Tensor]:
        self.t += 1
        if adam:
            b1, b2, eps = 0.9, 0.99, 1e-8
            if self.adam_m is None:
                self.adam_m = [torch.zeros_like(w) for w in ws]
                self.adam_v = [torch.zeros_like(w) for w in ws]
            self.adam_m = [b1 * m + (1 - b1) * gi for m, gi in zip(self.adam_m, g)]
            self.adam_v = [b2 * v + (1 - b2) * gi * gi for v, gi in zip(self.adam_v, g)]
            return [
                w - LR * (m / (1 - b1**self.t)) / ((v / (1 - b2**self.t)).sqrt() + eps)
                for w, m, v in zip(ws, self.adam_m, self.adam_v)
            ]
        self.buf = list(g) if self.buf is None else [MOMENTUM * b + gi for b, gi in zip(self.buf, g)]
        return [w - LR * b for w, b in zip(ws, self.buf)]

    def step(self, mid: str, ws: list[Tensor], pb: Problem) -> list[Tensor]:
        model, hp = self.model, self.hp
        task_grad = lambda w, z=None: grad_of(model, w, lambda m: pb.loss_fn(m, z))  # noqa: E731
        if mid in ("sgd", "adam"):
            return self.descend(ws, task_grad(ws), adam=mid == "adam")
        if mid in ("sam", "asam", "fisher_sam"):
            g = task_grad(ws)
            e = {
                "sam": lambda: sam_e(g, hp["rho"]),
                "asam": lambda: asam_e(ws, g, hp["rho"], hp["eta"]),
                "fisher_sam": lambda: fisher_e(g, hp["rho"], hp["eta"]),
            }[mid]()
            return self.descend(ws, task_grad(plus(ws, e)), adam=False)
        if mid in ("trpo", "r3f", "mesa", "asam+trpo", "asam+r3f", "asam+mesa"):
            return self._penalised(mid, ws, pb)
        if mid == "tram-fisher":
            z = self.draw(pb.noise_shape)
            g = task_grad(ws, z)
            e = fisher_e(g, hp["rho"], hp["fisher_eta"])
            return self.descend(ws, task_grad(plus(ws, e)), adam=False)
        # tram-prev / tram-init / tram-x
        if mid == "tram-x":
            z = self.draw(pb.noise_shape)
            target_logits = logits_no_grad(model, ws, lambda m: pb.logits_fn(m, z))
        else:
            target_logits = logits_no_grad(model, self.target, pb.logits_fn)
        d = float(kl_rows(target_logits, logits_no_grad(model, ws, pb.logits_fn), pb.mask))
        e = asam_e(ws, task_grad(ws), d, hp.get("eta", 0.0))
        new = self.descend(ws, task_grad(plus(ws, e)), adam=False)
        if mid == "tram-prev":
            self.target = ws
        return new

    def _penalised(self, mid: str, ws: list[Tensor], pb: Problem) -> list[Tensor]:
        model, hp = self.model, self.hp
        kind = mid.removeprefix("asam+")
        if kind == "r3f":
            z = self.draw(pb.noise_shape)  # one z per step, reused at w + e

            def target_at(w):
                return logits_no_grad(model, w, lambda m: pb.logits_fn(m, z))
        else:
            fixed = logits_no_grad(model, self.target, pb.logits_fn)

            def target_at(w):
                return fixed

        def penalised_grad(w):
            t = target_at(w)
            return grad_of(model, w, lambda m: pb.loss_fn(m) + hp["lam"] * kl_rows(t, pb.logits_fn(m), pb.mask))

        g = penalised_grad(ws)
        if mid.startswith("asam+"):
            g = penalised_grad(plus(ws, asam_e(ws, g, hp["rho"], hp["eta"])))
        new = self.descend(ws, g, adam=False)
        if kind == "trpo":
            self.target = ws
        elif kind == "mesa":
            decay = hp["decay"]
            self.target = [decay * a + (1 - decay) * w for a, w in zip(self.target, new)]
        return new


def _shift_weights(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.cos(torch.arange(p.numel(), dtype=p.dtype)).reshape(p.shape))


def _run_against_reference(mid: str, model, objective, problems: list[Problem]) -> None:
    hp = dict(HPARAMS[mid])
    method_hp = dict(hp)
    if mid == "adam":
        method_hp["base"] = "adam"
    method = build(mid, model, objective, lr=LR, seed=NOISE_SEED, momentum=MOMENTUM, **method_hp)
    ref = Reference(model=model, hp=hp, target=weights(model))
    _shift_weights(model)
    ws = weights(model)
    for pb in problems:
        method.step([pb.batch], FP32)
        ws = ref.step(mid, ws, pb)
        assert_close(weights(model), ws)


@pytest.mark.parametrize("mid", BUILTIN_METHOD_IDS)
def test_two_steps_equal_hand_computation_classifier(mid):
    _run_against_reference(mid, MLP(), ClassifierObjective(), [classifier_problem(1), classifier_problem(2)])


@pytest.mark.parametrize("mid", ["trpo", "r3f", "asam+mesa", "tram-prev", "tram-x", "tram-fisher"])
def test_two_steps_equal_hand_computation_masked_language_model(mid):
    # [B, T, V] logits with padding: divergences and losses average over non-padding tokens only,
    # and the noise sits on the token embeddings.
    _run_against_reference(mid, TinyLM(), TokenObjective(), [token_problem(1), token_problem(2)])
