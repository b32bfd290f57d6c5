"""What every method's step repeats, written once: passes, RNG forking, BN guards, AMP, clipping.

A step is a sequence of *passes* over the same micro-batches. :class:`StepRun` executes them and
counts them; every method is a short script of ``grad_pass`` / ``perturbed_descent`` / ``descend``
calls on one ``StepRun`` (see ``plain.py``, ``sam_family.py``, ``trust_region.py``, ``tram.py``).
A trust region enters a pass as data (a :class:`Measure`: target, divergence, penalty weight): the
pass runs the target's forward itself and returns the measured divergence; TRAM hands that value to
``perturbed_descent(optimizer, radius=d)``. Nothing calls back into the method.

The policies (``docs/architecture.md``, "Step semantics"), and how they are implemented here:

* Same batch, same dropout masks. The global RNG state (CPU, plus CUDA on a CUDA run) is captured
  before the first forward of each micro-batch and restored before every later forward of that
  micro-batch, target forwards included. Input noise ``z`` comes from the method's own generator,
  never from the global RNG, so drawing it does not shift the dropout masks; a micro-batch's noise
  is replayed (not redrawn) if a later pass of the same step asks for it again.
* BatchNorm. Running statistics come from clean inputs, for every method: only the first gradient
  pass of the step on the *clean* batch updates them (pass 1 for every method but TRAM-Fisher, whose
  pass 1 sees ``x + z``; there its clean pass 2, at ``w + e``, does). Every other forward (noised
  gradient passes, later passes, all target forwards, on the model or on a copy) runs between a
  snapshot and a restore of all normalisation buffers, ``num_batches_tracked`` included. A step
  skipped before its clean pass (an overflow under a GradScaler) leaves them unchanged.
* Counting. A pass over k micro-batches is *one* pass: ``forward``/``backward`` count passes over the
  whole batch, not micro-batch calls. A target forward run inside a gradient pass counts as one
  more forward pass; a target whose logits are reused from an earlier pass of the step does not.
* Gradient accumulation ("accumulate, then perturb"): micro-batch ``i`` back-propagates its mean
  loss times ``count_i / count_0`` and the summed gradient is finally multiplied by
  ``count_0 / sum(count)``; the result is the gradient of the mean over all loss units. Weighting
  relative to the first micro-batch (instead of by the raw count) keeps the scale of the scaled
  fp16 backward near 1, whatever the number of tokens. Divergences (penalties and TRAM's ``d``)
  are averaged the same way: exact for ``kl*`` and ``l2``, which are means over positions; ``mmd``
  compares sets of positions, so over k > 1 micro-batches it is the count-weighted mean of the
  per-micro-batch values, not the full-batch MMD. Micro-batches with ``count == 0`` are skipped.
* GradScaler. Pass-1 gradients are unscaled by hand (``GradScaler.unscale_`` may run once per step
  and is kept for the descent); a non-finite pass-1 gradient skips the step before any weight
  moves. The descent gradient goes through ``unscale_`` / ``step`` / ``update`` as usual, after
  the weights are restored, so an overflow there skips the base step too.
* Clipping applies to the descent gradient only, after unscaling and before the base step.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

from tram_bench.methods.base import BaseHparams, InputNoise, Method, Objective, Output, StepContext, StepStats
from tram_bench.methods.batch_rows import batch_rows, head_rows, measured_rows
from tram_bench.methods.hparams import NoiseHparams
from tram_bench.methods.targets import Target
from tram_bench.optim.divergence import divergence_by_name
from tram_bench.optim.two_pass import TwoPassOptimizer


# --- base optimizer -----------------------------------------------------------------------------


def base_optimizer_spec(
    hp: BaseHparams, *, lr: float, weight_decay: float
) -> tuple[type[torch.optim.Optimizer], dict[str, Any]]:
    """The base optimizer class and its keyword arguments.

    Weight decay always lives in the base optimizer (L2 added to the gradient for sgd/adam, decoupled
    for adamw), never in the loss, so it never enters a SAM-family ascent direction.
    """
    if hp.base == "sgd":
        return torch.optim.SGD, {
            "lr": lr, "momentum": hp.momentum, "nesterov": hp.nesterov, "weight_decay": weight_decay,
        }
    if hp.base in ("adam", "adamw"):
        cls = torch.optim.Adam if hp.base == "adam" else torch.optim.AdamW
        return cls, {"lr": lr, "betas": tuple(hp.betas), "eps": hp.eps, "weight_decay": weight_decay}
    raise ValueError(f"{type(hp).__name__}.base: unknown base optimizer {hp.base!r} (valid: sgd, adam, adamw)")


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


# --- RNG forking and normalisation buffers ----------------------------------------------------


class DropoutRngFork:
    """The global RNG state at the first forward of each micro-batch, replayed at later forwards.

    ``device``: where the model lives; on a CUDA device its generator is forked too (dropout on the
    GPU draws from it), alongside the CPU generator."""

    def __init__(self, device: torch.device) -> None:
        self._cuda = device if device.type == "cuda" else None
        self._states: list[tuple[Tensor, Tensor | None]] = []

    def enter(self, index: int) -> None:
        if index < len(self._states):
            cpu, cuda = self._states[index]
            torch.set_rng_state(cpu)
            if cuda is not None:
                torch.cuda.set_rng_state(cuda, self._cuda)
            return
        if index != len(self._states):
            raise RuntimeError(f"micro-batch {index} visited before micro-batch {len(self._states)}")
        cuda = torch.cuda.get_rng_state(self._cuda) if self._cuda is not None else None
        self._states.append((torch.get_rng_state(), cuda))


def norm_buffers(module: nn.Module) -> list[Tensor]:
    """Running statistics of every BatchNorm/InstanceNorm layer (``num_batches_tracked`` included)."""
    return [
        buf
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._NormBase)
        for buf in m.buffers(recurse=False)
    ]


@contextlib.contextmanager
def norm_stats_frozen(buffers: list[Tensor]) -> Iterator[None]:
    """Run a train-mode forward that leaves these running statistics (``norm_buffers``) exactly as
    they were."""
    saved = [b.clone() for b in buffers]
    try:
        yield
    finally:
        # Through ``.data``: a train-mode BN forward saves the running buffers for its backward, and
        # a tracked in-place copy would make that backward fail its version check. The backward of
        # a train-mode BN never reads them (it uses the batch statistics), so nothing changes.
        for b, s in zip(buffers, saved):
            b.data.copy_(s)


def copy_modes(dst: nn.Module, src: nn.Module) -> None:
    """Give every submodule of a copy the train/eval mode of its original (mixed modes included)."""
    if dst is src:
        return
    for d, s in zip(dst.modules(), src.modules()):
        d.training = s.training


# --- gradients -------------------------------------------------------------------------------


def _grads(params: Sequence[Tensor]) -> list[Tensor]:
    return [p.grad for p in params if p.grad is not None]


def clear_grads(params: Sequence[Tensor]) -> None:
    # Same effect as Optimizer.zero_grad(set_to_none=True), without its per-call profiler hooks.
    for p in params:
        p.grad = None


def all_finite(tensors: Sequence[Tensor]) -> bool:
    if not tensors:
        return True
    # One host sync for the whole model instead of one per tensor.
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


# --- one step ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoiseSource:
    """Input-noise settings plus the generator that draws ``z`` (never the global RNG)."""

    sigma: float
    kind: str
    generator: torch.Generator


@dataclass(frozen=True)
class Measure:
    """A divergence ``D(target || current)`` measured in every micro-batch of a gradient pass.

    divergence: a name of ``tram_bench.optim.divergence.divergence_by_name`` (``kl``, ``mmd``, ...).
    weight: None to measure only (a constant without gradient: TRAM's radius ``d``); a number
        ``lam`` adds ``lam * D`` to each micro-batch's loss with the gradient flowing through the
        current logits (the trust-region penalty of TRPO, R3F, MESA).
    reuse: take the target logits an earlier pass of this step computed (only for targets whose
        ``reusable_within_step`` holds: their logits do not depend on the current weights).
    fraction: below 1, measure on the first ``max(1, ceil(fraction * B))`` examples of each
        micro-batch of B only (TRAM's ``radius_batch_fraction``), weighted by their loss units.
    """

    target: Target
    divergence: str
    weight: float | None = None
    reuse: bool = False
    fraction: float = 1.0


@dataclass
class PassResult:
    """One gradient pass: the count-weighted mean task loss and, if one was measured, the
    count-weighted mean divergence over the micro-batches (both detached, as floats)."""

    loss: float
    count: int
    divergence: float | None = None


class StepRun:
    """The passes of one step over one list of micro-batches, and what they cost."""

    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        base_optimizer: torch.optim.Optimizer,
        micro_batches: Sequence[Any],
        ctx: StepContext,
        noise: NoiseSource | None = None,
    ) -> None:
        if len(micro_batches) == 0:
            raise ValueError("step() needs at least one micro-batch")
        self.model = model
        self.objective = objective
        self.base_optimizer = base_optimizer
        self.batches = list(micro_batches)
        self.ctx = ctx
        self.noise = noise
        self.params = [p for group in base_optimizer.param_groups for p in group["params"]]
        # Passes over the whole batch, and examples through a forward (StepStats).
        self.forward = self.backward = self.forward_examples = 0
        self._rng = DropoutRngFork(self.params[0].device if self.params else torch.device("cpu"))
        self._noise_states: dict[int, Tensor] = {}
        self._target_cache: dict[int, Tensor] = {}
        self._target_ran = False
        self._norm_buffers: dict[int, list[Tensor]] = {}
        # Whether a clean gradient pass has already updated the running statistics this step.
        self._stats_updated = False

    def _frozen_norm_stats(self, module: nn.Module):
        # The module tree is walked once per step and module, not once per forward.
        key = id(module)
        if key not in self._norm_buffers:
            self._norm_buffers[key] = norm_buffers(module)
        return norm_stats_frozen(self._norm_buffers[key])

    # --- inputs and targets ---------------------------------------------------------------------
    def input_noise(self, index: int) -> InputNoise | None:
        """The noise of micro-batch ``index``: drawn on first use, replayed on later uses this step.

        None in eval mode: noise is a training-time regulariser (as in R3F)."""
        if self.noise is None:
            raise RuntimeError("this method has no input noise configured")
        if not self.model.training:
            return None
        src = self.noise
        state = self._noise_states.get(index)
        if state is None:
            self._noise_states[index] = src.generator.get_state()
            return InputNoise(src.sigma, src.kind, src.generator)
        replay = torch.Generator(device=src.generator.device)
        replay.set_state(state)
        return InputNoise(src.sigma, src.kind, replay)

    def _target_logits(self, target: Target, index: int, batch: Any) -> Tensor:
        """Logits of ``target`` on micro-batch ``index`` without gradient, with the dropout masks
        of pass 1 and untouched normalisation statistics."""
        module = self.model if target.module is None else target.module
        noise = self.input_noise(index) if target.noised else None
        self._rng.enter(index)
        copy_modes(module, self.model)
        with torch.no_grad(), self._frozen_norm_stats(module), self.ctx.autocast():
            out = self.objective(module, batch, noise)
        self._target_ran = True
        self.forward_examples += batch_rows(batch)
        return out.logits

    def _divergence(self, measure: Measure, index: int, batch: Any, out: Output) -> tuple[Tensor, int]:
        """``D(target || current)`` on one micro-batch (or its first rows, ``measure.fraction``), with
        gradient through the current logits for a penalty, and the loss units it averaged over."""
        logits, mask, count = out.logits, out.mask, int(out.count)
        rows = measured_rows(measure.fraction, batch_rows(batch)) if measure.fraction < 1 else logits.shape[0]
        if rows < logits.shape[0]:
            batch, logits, mask = head_rows(batch, rows), logits[:rows], None if mask is None else mask[:rows]
            count = rows if mask is None else int(mask.sum())
        target_logits = self._target_cache.get(index) if measure.reuse else None
        if target_logits is None:
            target_logits = self._target_logits(measure.target, index, batch)
            if measure.reuse:
                self._target_cache[index] = target_logits
        current = logits if measure.weight is not None else logits.detach()
        return divergence_by_name(measure.divergence, target_logits, current, mask), count

    # --- passes -------------------------------------------------------------------------------
    def grad_pass(self, *, noised: bool = False, measure: Measure | None = None) -> PassResult:
        """Forward and backward over all micro-batches at the current weights (gradients replace
        whatever ``.grad`` held); ``noised`` feeds the inputs plus ``z``. With a ``measure``, each
        micro-batch's divergence is computed after its forward (and, for a penalty, added to its
        loss before its backward); the result's ``divergence`` is their count-weighted mean.

        Normalisation running statistics are updated by this pass only if it is the step's first
        pass on clean inputs (module docstring, "BatchNorm")."""
        updates_stats = not noised and not self._stats_updated
        clear_grads(self.params)
        div_sum: Tensor | None = None
        scaler = self.ctx.scaler
        accumulate = len(self.batches) > 1
        weighted_losses: list[Tensor] = []
        total = 0
        reference: int | None = None
        div_count = 0
        for index, batch in enumerate(self.batches):
            self._rng.enter(index)
            noise = self.input_noise(index) if noised else None
            guard = contextlib.nullcontext() if updates_stats else self._frozen_norm_stats(self.model)
            with guard, self.ctx.autocast():
                out = self.objective(self.model, batch, noise)
            self.forward_examples += batch_rows(batch)
            count = int(out.count)
            if accumulate and count == 0:
                continue  # nothing to average over: contributes no gradient and no loss
            value = out.loss
            if measure is not None:
                d, measured = self._divergence(measure, index, batch, out)
                weighted = d.detach().to(torch.float64) * measured
                div_sum = weighted if div_sum is None else div_sum + weighted
                div_count += measured
                if measure.weight is not None:
                    value = value + measure.weight * d
            if accumulate:
                reference = reference or count
                value = value * (count / reference)
            (scaler.scale(value) if scaler is not None else value).backward()
            weighted_losses.append(out.loss.detach().to(torch.float64) * count)
            total += count
        if accumulate and reference is not None and total != reference:
            grads = _grads(self.params)
            if grads:
                torch._foreach_mul_(grads, reference / total)
        self.forward += 1 + int(self._target_ran)
        self.backward += 1
        self._stats_updated = self._stats_updated or updates_stats
        self._target_ran = False
        if total == 0:  # a single micro-batch with no loss units: report its (NaN) mean as is
            return PassResult(loss=float(out.loss), count=0)
        # Converted to floats once per pass: one host sync each, not one per micro-batch.
        divergence = None if div_sum is None else float(div_sum) / div_count
        return PassResult(loss=float(torch.stack(weighted_losses).sum()) / total, count=total, divergence=divergence)

    # --- AMP, skipping, descending --------------------------------------------------------------
    def ascent_gradient_ok(self) -> bool:
        """Prepare the pass-1 gradient for the ascent: with a GradScaler, unscale it in place; if it
        is not finite, skip the step (see :meth:`skip`) and return False."""
        scaler = self.ctx.scaler
        if scaler is None:
            return True
        grads = _grads(self.params)
        if not all_finite(grads):
            self.skip()
            return False
        if grads:
            torch._foreach_mul_(grads, 1.0 / scaler.get_scale())
        return True

    def skip(self) -> None:
        """Give up the step before any weight moved: zero the gradients and back the scale off."""
        scaler = self.ctx.scaler
        if scaler is not None:
            scaler.update(new_scale=float(scaler.get_scale() * scaler.get_backoff_factor()))
        clear_grads(self.params)

    def descend(
        self, *, restore: Callable[[], None] | None = None, target: Target | None = None
    ) -> bool:
        """The base step with the gradient now in ``.grad``: unscale and check it (GradScaler), clip
        it, ``restore()`` the weights to ``w``, then step. ``target.before_step`` sees ``w``,
        ``target.after_step`` the new weights. Returns False if an overflow skipped the step."""
        scaler = self.ctx.scaler
        finite = True
        if scaler is not None:
            scaler.unscale_(self.base_optimizer)
            finite = all_finite(_grads(self.params))
        if finite and self.ctx.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.ctx.max_grad_norm)
        if restore is not None:
            restore()
        if finite and target is not None:
            target.before_step(self.model)
        if scaler is not None:
            scaler.step(self.base_optimizer)  # does not step when unscale_ found an inf/NaN
            scaler.update()
        else:
            self.base_optimizer.step()
        if not finite:
            clear_grads(self.params)
            return False
        if target is not None:
            target.after_step(self.model)
        return True

    def perturbed_descent(
        self,
        optimizer: TwoPassOptimizer,
        *,
        radius: float | None = None,
        measure: Measure | None = None,
        target: Target | None = None,
    ) -> tuple[bool, float]:
        """The SAM-family tail of a step, after pass 1: ``optimizer.first_step`` moves to ``w + e``
        (with ``radius`` when given: TRAM's ``d`` or TRAM-Fisher's ``rho``; otherwise the optimizer's
        own ``rho``), pass 2 takes the gradient there on the clean batch (with ``measure`` in its
        loss, for the ASAM + trust-region combinations), then :meth:`descend` (``target``'s hooks
        around the base step). Returns (stepped, ||e||)."""
        if not self.ascent_gradient_ok():
            return False, math.nan
        if radius is None:
            optimizer.first_step()
        else:
            optimizer.first_step(radius=radius)
        e_norm = optimizer.applied_perturbation_norm()
        self.grad_pass(measure=measure)
        return self.descend(restore=optimizer.restore, target=target), e_norm

    def stats(self, loss: float, *, skipped: bool, **extras: float | None) -> StepStats:
        return StepStats(
            loss=loss,
            forward=self.forward,
            backward=self.backward,
            forward_examples=self.forward_examples,
            skipped=skipped,
            extras={k: float(v) for k, v in extras.items() if v is not None},
        )


# --- the common method base ---------------------------------------------------------------------


class StepMethod(Method):
    """A :class:`Method` built on a base optimizer (alone or inside a two-pass optimizer), with an
    optional target model and optional input noise. Subclasses define ``build_optimizer``
    (default: the base optimizer alone), ``build_target`` (default: none) and ``step``."""

    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        hparams: BaseHparams,
        *,
        lr: float,
        weight_decay: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        if not isinstance(hparams, self.Hparams):
            raise TypeError(
                f"method {self.id!r} needs {self.Hparams.__name__}, got {type(hparams).__name__}"
            )
        super().__init__(model, objective, hparams, lr=lr, weight_decay=weight_decay, generator=generator)
        base_cls, base_kwargs = base_optimizer_spec(hparams, lr=lr, weight_decay=weight_decay)
        built = self.build_optimizer(trainable_parameters(model), base_cls, base_kwargs)
        # A SAM-family optimizer wraps the base optimizer (and shares its param groups); a plain
        # method's optimizer is the base optimizer itself.
        self.two_pass: TwoPassOptimizer | None = built if isinstance(built, TwoPassOptimizer) else None
        self.base_optimizer: torch.optim.Optimizer = built if self.two_pass is None else self.two_pass.base_optimizer
        self.noise: NoiseSource | None = None
        if isinstance(hparams, NoiseHparams):
            if generator is None:
                # Never the global RNG: drawing z from it would shift the dropout masks.
                generator = torch.Generator().manual_seed(torch.initial_seed())
            self.noise = NoiseSource(hparams.sigma, hparams.noise, generator)
        self.target: Target | None = self.build_target()

    def build_optimizer(
        self, params: list[nn.Parameter], base_cls: type[torch.optim.Optimizer], base_kwargs: dict[str, Any]
    ) -> torch.optim.Optimizer:
        return base_cls(params, **base_kwargs)

    def build_target(self) -> Target | None:
        return None

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The base optimizer: its ``step()`` is the one descent step per training step (an LR
        scheduler attached to it sees that call), and two-pass optimizers share its groups."""
        return self.base_optimizer

    def new_run(self, micro_batches: Sequence[Any], ctx: StepContext) -> StepRun:
        return StepRun(self.model, self.objective, self.base_optimizer, micro_batches, ctx, self.noise)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"optimizer": (self.two_pass or self.base_optimizer).state_dict()}
        if self.target is not None:
            state["target"] = self.target.state_dict()
        if self.noise is not None:
            state["noise_generator"] = self.noise.generator.get_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # Through the two-pass optimizer: it re-links its groups to the reloaded base groups.
        (self.two_pass or self.base_optimizer).load_state_dict(state["optimizer"])
        if self.target is not None:
            self.target.load_state_dict(state["target"])
        if self.noise is not None:
            self.noise.generator.set_state(state["noise_generator"])
