"""TRAM (Sherborne et al., ICLR 2024): ASAM whose radius is a trust-region divergence ``d``.

TRAM-θ_{t-1} (``tram-prev``), TRAM-θ_0 (``tram-init``) and TRAM-x (``tram-x``), paper Algorithm 1:

1. pass 1: forward + backward at ``w`` on the clean batch (logits ``L1``, gradient ``g``);
2. target forward without gradient, in pass 1's train mode and with its dropout masks:
   ``tram-prev`` the weights before the last base step (at step 1 the initial weights),
   ``tram-init`` the frozen copy made at construction, ``tram-x`` the current model on ``x + z``;
3. ``d = divergence(target_logits || L1)`` (forward KL by default), a float without gradient;
4. ``e = d T^2 g / ||T g||`` with ``T = |w| + eta`` (Eq. 7) via ``TRAM.first_step(radius=d)``;
5. pass 2: forward + backward at ``w + e`` on the clean batch; restore ``w``; base step;
6. ``tram-prev``: the target becomes this step's ``w`` (copied just before the base step).

3 forward / 2 backward per step (paper Table 2). BatchNorm running statistics come from the clean
pass 1 at ``w`` (TRAM-x's forward on ``x + z`` leaves them untouched, as every target forward does). ``extras``: ``divergence`` (d) and
``perturbation_norm`` (``||e||_2``; note ``||e / T|| = d``). No clipping of ``d`` (as in the paper).
If ``d`` is not finite (overflowed logits) the step is skipped before any weight moves (with a
GradScaler the scale backs off, as for an overflowed gradient).

Cheaper TRAM (hyperparameters of these three methods; their defaults are the paper's algorithm):

* ``radius_every: k``: step ``t`` (0-based, skipped steps included) *measures* ``d`` when
  ``t % k == 0`` (or when no finite ``d`` has been measured yet) and reuses the last measured ``d``
  otherwise; the target forward runs on measuring steps only, so a step costs 3 forward / 2
  backward passes when measuring and 2 / 2 between. ``tram-prev`` copies ``θ_{t-1}`` only on the
  step before a measuring step, so a measuring step still compares with the weights one step back.
* ``radius_batch_fraction: f``: the target forward and ``d`` use the first ``max(1, ceil(f * B))``
  examples of each micro-batch of B (the current logits are pass 1's rows), weighted by their loss
  units. With BatchNorm in train mode (batch statistics of the smaller batch) or dropout (masks
  drawn for the smaller shape), this is *not* the full-batch ``d`` restricted to those rows.

``StepStats.forward_examples`` counts what ran: B per full forward plus the measured rows.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from torch import nn

from tram_bench.methods import kinds
from tram_bench.methods.base import StepContext, StepStats
from tram_bench.methods.hparams import TRAMFisherHparams, TRAMHparams
from tram_bench.methods.passes import Measure, StepMethod
from tram_bench.optim.tram import TRAM


def build_tram(hp: TRAMHparams, params: list[nn.Parameter], base_cls: type, base_kwargs: dict) -> TRAM:
    """``tram-prev``, ``tram-init``, ``tram-x``: the radius comes with each ``first_step``."""
    return TRAM.prechecked(params, base_cls, eta=hp.eta, **base_kwargs)


def build_tram_fisher(hp: TRAMFisherHparams, params: list[nn.Parameter], base_cls: type, base_kwargs: dict) -> TRAM:
    """``tram-fisher``: the Fisher-SAM ellipsoid (its radius, ``rho``, comes with each ``first_step``)."""
    return TRAM.prechecked(params, base_cls, fisher=True, fisher_eta=hp.fisher_eta, **base_kwargs)


class TRAMMethod(StepMethod):
    """The step recipe of ``tram-prev``, ``tram-init`` and ``tram-x`` (rows of
    ``tram_bench.methods.table``, which give each its target and its optimizer, :func:`build_tram`)."""

    kind = kinds.TRAM

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.steps_taken = 0  # step() calls so far, skipped ones included (radius_every's t)
        self.radius: float | None = None  # the last finite d measured (reused between measurements)

    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        run = self.new_run(micro_batches, ctx)
        assert self.target is not None
        every = self.hparams.radius_every
        t, self.steps_taken = self.steps_taken, self.steps_taken + 1
        if t % every == 0 or self.radius is None:
            measure = Measure(self.target, self.hparams.divergence, fraction=self.hparams.radius_batch_fraction)
            first = run.grad_pass(measure=measure)
            d = first.divergence
            if d is None or not math.isfinite(d):
                run.skip()
                return run.stats(first.loss, skipped=True, divergence=math.nan if d is None else d)
            self.radius = d
        else:
            first = run.grad_pass()
        # The target's hooks (TRAM-prev's copy of w) run only before a step that measures.
        target = self.target if (t + 1) % every == 0 else None
        stepped, e_norm = run.perturbed_descent(self.two_pass, radius=self.radius, target=target)
        return run.stats(first.loss, skipped=not stepped, divergence=self.radius, perturbation_norm=e_norm)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "steps_taken": self.steps_taken, "radius": self.radius}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        # Checkpoints written before radius_every existed: every step measured, nothing to reuse.
        self.steps_taken = int(state.get("steps_taken", 0))
        self.radius = state.get("radius")


class TRAMFisherStep(StepMethod):
    """The step recipe of ``tram-fisher`` (paper Algorithm 2): the Fisher-SAM ellipsoid with the Fisher taken at ``x + z``.

    Step: pass 1 forward + backward at ``w`` on the *noised* batch ``x + z`` (its gradient ``g~``
    gives both the ascent direction and the diagonal Fisher ``f = 1 + fisher_eta g~^2``, Eq. 9 at
    x + z); ``e = rho f^-1 g~ / sqrt(g~^T f^-1 g~)`` (Eq. 8); pass 2 forward + backward at ``w + e``
    on the clean batch; restore; base step. 2 forward / 2 backward, as the paper's Table 2 claims.

    Which radius: Algorithm 2 does not say. Measuring a divergence such as ``KL(p(x+z) || p(x))``
    needs a forward at ``w`` on the clean batch, i.e. a third forward, contradicting the paper's
    "2 -> / 2 <-, matches FSAM in runtime". We keep the stated cost: the radius is a fixed ``rho``
    (Fisher SAM's gamma and default), so TRAM-Fisher is Fisher SAM whose first pass (gradient and
    Fisher) sees noised inputs. (``tram_bench.optim.tram.TRAM`` also supports the other reading,
    a divergence radius with ``fisher=True``; this method passes it the fixed ``rho``.)

    ``StepStats.loss`` is the pass-1 loss, i.e. at ``w`` on ``x + z``: this variant runs no clean
    forward at ``w``. There is no ``divergence`` extra; ``perturbation_norm`` is ``||e||_2``.

    BatchNorm running statistics come from the clean pass 2 (at ``w + e``), never from the noised
    pass 1: statistics of ``x + z`` would be what every evaluation normalises with, confounding the
    comparison with Fisher SAM. A clean forward at ``w`` would match Fisher SAM's statistics exactly
    but cost a third forward, against the paper's stated cost; with ``rho = 0`` the two coincide.
    """

    kind = kinds.TRAM

    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        run = self.new_run(micro_batches, ctx)
        first = run.grad_pass(noised=True)
        stepped, e_norm = run.perturbed_descent(self.two_pass, radius=self.hparams.rho)
        return run.stats(first.loss, skipped=not stepped, perturbation_norm=e_norm)
