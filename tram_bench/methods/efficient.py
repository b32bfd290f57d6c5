"""Sharpness-aware methods that cost less than SAM's two forward/backward passes per step.

Not the TRAM paper's methods: four published ways of buying most of SAM's effect for less compute,
here so that the frontier suite can measure what the saving costs out of domain. Each takes SAM's
perturbation ``e = rho g / ||g||`` (the ``sam`` method's default ``rho``, ``SAM.RHO``, unless its
paper says otherwise) or a cheaper direction, on any base optimizer, and records the passes it actually ran
(``StepStats.forward`` / ``backward``: they vary from step to step). ``passes`` is the most a step
can run; :meth:`mean_passes` the expected passes per step at given hyperparameters (the cost
bound ``benchmarks/step_cost.py`` compares step times with).

* ``looksam`` (Liu et al., CVPR 2022): SAM every ``k``-th step, which also stores the part of the
  SAM gradient orthogonal to the plain gradient; the steps in between add it back, rescaled.
* ``random-sam`` (Zhao et al. 2022, "Randomized Sharpness-Aware Training"): a SAM step with
  probability ``p``, else a base step (one Bernoulli trial per step, constant schedule).
* ``late-sam`` (Zhou et al., ICLR 2025): base steps, then SAM for the last ``fraction`` of the run.
* ``msam`` (Becker et al. 2024, Momentum-SAM): the one gradient of a step at ``w - rho v / ||v||``
  with ``v`` the base optimizer's momentum (:class:`tram_bench.optim.momentum_sam.MomentumSAM`).

Resuming restores each method's step counter, coin generator and stored component exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from tram_bench.methods import kinds
from tram_bench.methods.base import StepContext, StepStats
from tram_bench.methods.hparams import SAMHparams, number
from tram_bench.methods.passes import StepMethod, StepRun
from tram_bench.optim.momentum_sam import MomentumSAM

# --- hyperparameters (this module is the one place their defaults live) --------------------------


@dataclass
class LookSAMHparams(SAMHparams):
    """``k``: a SAM step every k steps (the default is the paper's LookSAM-5); ``alpha``: the weight
    of the reused component (the paper's). ``rho``: SAM's."""

    k: int = 5
    alpha: float = number(0.7)

    def __post_init__(self) -> None:
        super().__post_init__()
        # An integer field: checked here, the number() limits being for floats.
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"LookSAMHparams.k must be an integer >= 1, got {self.k!r}")


@dataclass
class RandomSAMHparams(SAMHparams):
    """``p``: the probability of a SAM step (the default is the paper's constant schedule that halves
    SAM's extra cost). ``rho``: SAM's."""

    p: float = number(0.5, 0.0, 1.0)


@dataclass
class LateSAMHparams(SAMHparams):
    """``fraction``: the last share of the run's steps that take SAM steps (the default: the paper's
    Figure 1 switches from SGD to SAM at epoch 175 of 200). ``rho``: SAM's."""

    fraction: float = number(0.125, 0.0, 1.0)


@dataclass
class MomentumSAMHparams(SAMHparams):
    """``rho``: the length of the step against the momentum (the paper tunes it per model and finds
    it larger than SAM's; the default, ``MomentumSAM.RHO``, is ours, see :class:`MomentumSAMStep`)."""

    rho: float = number(MomentumSAM.RHO)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.base == "sgd" and self.momentum == 0:
            raise ValueError(
                "MomentumSAMHparams.momentum must be > 0 with base sgd (msam perturbs along the "
                f"momentum buffer), got {self.momentum!r}"
            )


# --- shared pieces --------------------------------------------------------------------------------


def _grads(params: list[nn.Parameter]) -> list[tuple[nn.Parameter, Tensor]]:
    return [(p, p.grad) for p in params if p.grad is not None]


def _dot(a: list[Tensor], b: list[Tensor]) -> float:
    """The global inner product of two lists of tensors: a dot per tensor in its dtype, summed in
    float64 (no float64 copies of the tensors themselves)."""
    if not a:
        return 0.0
    return float(torch.stack([torch.dot(x.reshape(-1), y.reshape(-1)).double() for x, y in zip(a, b)]).sum())


def _norm(ts: list[Tensor]) -> float:
    """The global L2 norm of a list of tensors (one foreach kernel, the per-tensor norms combined in float64)."""
    if not ts:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([n.double() for n in torch._foreach_norm(ts)])))


def run_params(method: StepMethod) -> list[nn.Parameter]:
    """The method's parameters in the base optimizer's order (what StepRun.params holds)."""
    return [p for group in method.base_optimizer.param_groups for p in group["params"]]


class SAMOrBaseMethod(StepMethod):
    """A method whose steps are SAM steps or base-optimizer steps; subclasses say which, and give
    ``mean_passes(hparams, total_steps)``: the expected (forward, backward) passes per step. The
    optimizer is SAM's (``sam_family.build_sam``, named by the table's rows)."""

    kind = kinds.EFFICIENT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.steps_taken = 0  # step() calls so far, skipped ones included (the schedules' t)

    def sam_step(self, run: StepRun) -> StepStats:
        first = run.grad_pass()
        stepped, e_norm = run.perturbed_descent(self.two_pass)
        return run.stats(first.loss, skipped=not stepped, perturbation_norm=e_norm)

    def base_step(self, run: StepRun) -> StepStats:
        first = run.grad_pass()
        stepped = run.descend()
        return run.stats(first.loss, skipped=not stepped, perturbation_norm=0.0)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "steps_taken": self.steps_taken}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.steps_taken = int(state["steps_taken"])


# --- the methods ------------------------------------------------------------------------------------


class LookSAMStep(SAMOrBaseMethod):
    """LookSAM (Liu, Mai, Chen, Hsieh, You: "Towards Efficient and Scalable Sharpness-Aware
    Minimization", CVPR 2022; Algorithm 1 and Eqs. 5-6), with the global vectors of its equations.

    On steps ``t = 0, k, 2k, ...``: a SAM step (``g`` at ``w``, ``g_s`` at ``w + rho g / ||g||``,
    descend with ``g_s``), which also stores ``g_v = g_s - (g . g_s / ||g||^2) g``, the component of
    ``g_s`` orthogonal to ``g`` (Eq. 5). On the other steps, one pass gives ``g`` at ``w`` and the
    base step descends with ``g + alpha (||g|| / ||g_v||) g_v`` (Eq. 6). Passes: 2/2 on SAM steps,
    1/1 otherwise, ``1 + 1/k`` each on average.

    ``g_v`` is taken from the descent gradient as the base step sees it (unscaled, and clipped when
    the run clips); a SAM step whose gradient overflowed keeps the previous ``g_v``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.orthogonal: dict[nn.Parameter, Tensor] = {}  # g_v, per parameter
        self.orthogonal_norm = 0.0  # ||g_v||, fixed between SAM steps

    @classmethod
    def mean_passes(cls, hparams: Any, total_steps: int = 0) -> tuple[float, float]:
        extra = 1.0 / hparams.k
        return 1.0 + extra, 1.0 + extra

    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        run = self.new_run(micro_batches, ctx)
        refresh = self.steps_taken % self.hparams.k == 0 or not self.orthogonal
        self.steps_taken += 1
        if not refresh:
            first = run.grad_pass()
            pairs = _grads(run.params)
            # Under a GradScaler g is S * g and the sum below is S times Eq. 6's: descend unscales it.
            g_norm = _norm([g for _, g in pairs])
            # A zero g_v (g_s parallel to g) has nothing to add: Eq. 6 reduces to the plain gradient.
            gv_norm = self.orthogonal_norm
            scale = self.hparams.alpha * g_norm / gv_norm if gv_norm > 0 else 0.0
            for p, g in pairs:
                if p in self.orthogonal:
                    g.add_(self.orthogonal[p].to(g.dtype), alpha=scale)
            stepped = run.descend()
            return run.stats(first.loss, skipped=not stepped, perturbation_norm=0.0)

        first = run.grad_pass()
        if not run.ascent_gradient_ok():
            return run.stats(first.loss, skipped=True, perturbation_norm=math.nan)
        plain = {p: g.detach().clone() for p, g in _grads(run.params)}
        self.two_pass.first_step()
        e_norm = self.two_pass.applied_perturbation_norm()
        run.grad_pass()

        def remember_then_restore() -> None:
            sharp = {p: g for p, g in _grads(run.params) if p in plain}
            gs, g_s = list(plain.values()), [sharp.get(p, torch.zeros_like(g)) for p, g in plain.items()]
            g_squared = _dot(gs, gs)
            coefficient = _dot(gs, g_s) / g_squared if g_squared > 0 else 0.0
            orthogonal = {p: b - coefficient * a for (p, a), b in zip(plain.items(), g_s)}
            gv_norm = _norm(list(orthogonal.values()))
            if math.isfinite(gv_norm):
                self.orthogonal, self.orthogonal_norm = orthogonal, gv_norm
            self.two_pass.restore()

        stepped = run.descend(restore=remember_then_restore)
        return run.stats(first.loss, skipped=not stepped, perturbation_norm=e_norm)

    def state_dict(self) -> dict[str, Any]:
        params = list(run_params(self))
        return {**super().state_dict(),
                "orthogonal": {i: self.orthogonal[p].clone() for i, p in enumerate(params) if p in self.orthogonal}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        params = list(run_params(self))
        self.orthogonal = {params[int(i)]: v.clone() for i, v in state["orthogonal"].items()}
        self.orthogonal_norm = _norm(list(self.orthogonal.values()))


class RandomSAMStep(SAMOrBaseMethod):
    """Randomized SAM (Zhao, Zhang, Hu: "Randomized Sharpness-Aware Training for Boosting
    Computational Efficiency in Deep Learning", 2022; RST, Algorithm 1 with a constant schedule).

    Each step draws ``u ~ U[0, 1)`` from the method's own generator (seeded by the run's method
    seed): ``u < p`` takes a SAM step (2/2 passes), otherwise a base step (1/1); ``1 + p`` each on
    average. ``p = 1`` is SAM, ``p = 0`` the base optimizer.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        seed = self.generator.initial_seed() if self.generator is not None else torch.initial_seed()
        # Its own stream: drawing from the run's generator would shift every other draw made from it.
        self.coin = torch.Generator().manual_seed(seed)

    @classmethod
    def mean_passes(cls, hparams: Any, total_steps: int = 0) -> tuple[float, float]:
        return 1.0 + hparams.p, 1.0 + hparams.p

    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        self.steps_taken += 1
        sharp = float(torch.rand((), generator=self.coin)) < self.hparams.p
        run = self.new_run(micro_batches, ctx)
        return self.sam_step(run) if sharp else self.base_step(run)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "coin": self.coin.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.coin.set_state(state["coin"])


class LateSAMStep(SAMOrBaseMethod):
    """Late-phase SAM (Zhou, Wang, Mao, Li, Yan: "Sharpness-Aware Minimization Efficiently Selects
    Flatter Minima Late in Training", ICLR 2025; the switching scheme of its Section 2 / Figure 1).

    Of a run of ``T`` steps, the first ``T - ceil(fraction * T)`` are base steps (1/1 passes) and the
    rest SAM steps (2/2): ``1 + ceil(fraction * T) / T`` each on average. ``T`` is the run's step
    count (``StepContext.total_steps``); a step without it is a ValueError.
    """

    @classmethod
    def mean_passes(cls, hparams: Any, total_steps: int = 0) -> tuple[float, float]:
        share = hparams.fraction if total_steps <= 0 else math.ceil(hparams.fraction * total_steps) / total_steps
        return 1.0 + share, 1.0 + share

    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        total = ctx.total_steps
        if total is None:
            raise ValueError("late-sam needs the run's number of steps (StepContext.total_steps), got None")
        late = self.steps_taken >= total - math.ceil(self.hparams.fraction * total)
        self.steps_taken += 1
        run = self.new_run(micro_batches, ctx)
        return self.sam_step(run) if late else self.base_step(run)


def build_momentum_sam(hp: MomentumSAMHparams, params: list[nn.Parameter], base_cls: type, base_kwargs: dict) -> MomentumSAM:
    """``msam``: the perturbation along the base optimizer's momentum."""
    return MomentumSAM.prechecked(params, base_cls, rho=hp.rho, **base_kwargs)


class MomentumSAMStep(StepMethod):
    """Momentum-SAM (Becker, Altrock, Risse: "Momentum-SAM: Sharpness Aware Minimization without
    Computational Overhead", 2024, arXiv 2401.12033; Algorithm 1).

    Each step moves to ``w~ = w - rho v / ||v||`` (``v``: the base optimizer's momentum; for an
    Adam base its first moment, see :class:`tram_bench.optim.momentum_sam.MomentumSAM`), takes the
    step's one forward and backward there, restores ``w`` and takes the base step with that
    gradient: 1/1 passes, the base optimizer's. The first step (no momentum yet) is a base step.

    ``StepStats.loss`` is the loss at ``w~`` (the method runs no pass at ``w``), and BatchNorm
    running statistics come from that pass, as in the paper. ``rho``'s default is ours: the paper
    tunes it per model (its values exceed SAM's because ``-v`` is not the ascent direction); we did
    not take a number from its tables, so set ``rho`` per task when it matters.
    """

    kind = kinds.EFFICIENT

    @classmethod
    def mean_passes(cls, hparams: Any, total_steps: int = 0) -> tuple[float, float]:
        return 1.0, 1.0

    def step(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepStats:
        run = self.new_run(micro_batches, ctx)
        self.two_pass.first_step()
        e_norm = self.two_pass.applied_perturbation_norm()
        first = run.grad_pass()
        stepped = run.descend(restore=self.two_pass.restore)
        return run.stats(first.loss, skipped=not stepped, perturbation_norm=e_norm)

