"""Every method's hyperparameters: the paper's defaults (appendix B.2) and their limits.

A default that is an optimizer's (a radius, an offset, a Fisher weight) is the optimizer class's
constant (``SAM.RHO``, ``ASAM.RHO``/``ETA``, ``FisherSAM.RHO``/``ETA``); the method-level ones (penalty
weight, divergence, noise, EMA decay) are stated here, once. A field's limits sit next to it
(:func:`number` / :func:`one_of`) and one routine, :func:`check_fields`, run by
``CheckedHparams.__post_init__``, checks them all, so a bad suite value fails when the grid is built,
with a one-line message naming the field and the value. Shared pieces are mixins (radius,
trust-region penalty, input noise, EMA decay) combined by multiple inheritance.

Field names: the paper's lambda is ``lam`` (``lambda`` is a Python keyword), its gamma (Fisher SAM's
radius) is ``rho`` like every other fixed radius, and ``divergence`` is a name from
:data:`tram_bench.optim.divergence.DIVERGENCES`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from tram_bench.methods.base import BaseHparams
from tram_bench.optim.asam import ASAM
from tram_bench.optim.divergence import DIVERGENCES
from tram_bench.optim.fisher_sam import FisherSAM
from tram_bench.optim.sam import SAM
from tram_bench.util.hashing import OMIT_AT_DEFAULT

BASE_OPTIMIZERS = ("sgd", "adam", "adamw")
NOISE_KINDS = ("normal", "uniform")


def _where(hp: object, name: str) -> str:
    return f"{type(hp).__name__}.{name}"


def check_number(hp: object, name: str, low: float = 0.0, high: float = math.inf) -> float:
    """The field as a float in ``[low, high]``, else ValueError naming field and value."""
    value = getattr(hp, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{_where(hp, name)} must be a number, got {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        bound = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise ValueError(f"{_where(hp, name)} must be {bound}, got {value!r}")
    return float(value)


def check_choice(hp: object, name: str, choices: tuple[str, ...]) -> str:
    value = getattr(hp, name)
    if value not in choices:
        raise ValueError(f"{_where(hp, name)}: unknown value {value!r} (valid: {', '.join(choices)})")
    return value


def number(default: float, low: float = 0.0, high: float = math.inf, *, since_results: bool = False) -> Any:
    """A numeric field with its default and its limits ``[low, high]`` (checked by :func:`check_fields`).

    ``since_results``: the field was added after results existed; at its default it stays out of the
    run id (``OMIT_AT_DEFAULT``), so those results and caches stay valid."""
    return field(default=default, metadata={"limits": (low, high), OMIT_AT_DEFAULT: since_results})


def whole(default: int, low: int = 1, high: float = math.inf, *, since_results: bool = False) -> Any:
    """An integer field in ``[low, high]`` (a float such as 2.0 is refused); see :func:`number`."""
    return field(default=default, metadata={"limits": (low, high), "integer": True, OMIT_AT_DEFAULT: since_results})


def one_of(default: str, choices: tuple[str, ...]) -> Any:
    """A text field with its default and the values it allows (checked by :func:`check_fields`)."""
    return field(default=default, metadata={"choices": choices})


def check_fields(hp: object) -> None:
    """Check every field that declares limits (:func:`number`) or choices (:func:`one_of`), in field
    order; ValueError naming the first field outside its limits."""
    for f in fields(hp):
        if f.metadata.get("integer") and (isinstance(getattr(hp, f.name), bool) or not isinstance(getattr(hp, f.name), int)):
            raise ValueError(f"{_where(hp, f.name)} must be a whole number, got {getattr(hp, f.name)!r}")
        if "limits" in f.metadata:
            check_number(hp, f.name, *f.metadata["limits"])
        if "choices" in f.metadata:
            check_choice(hp, f.name, f.metadata["choices"])


@dataclass
class CheckedHparams(BaseHparams):
    """:class:`BaseHparams` plus validation of the base-optimizer fields and of every field's limits."""

    def __post_init__(self) -> None:
        check_choice(self, "base", BASE_OPTIMIZERS)
        check_number(self, "momentum", 0.0, 1.0)
        if not isinstance(self.nesterov, bool):
            raise ValueError(f"{_where(self, 'nesterov')} must be true or false, got {self.nesterov!r}")
        if self.nesterov and self.momentum == 0:
            raise ValueError(f"{_where(self, 'nesterov')}=True needs momentum > 0, got momentum={self.momentum!r}")
        betas: Any = self.betas
        if not isinstance(betas, (list, tuple)) or len(betas) != 2:
            raise ValueError(f"{_where(self, 'betas')} must be two numbers, got {betas!r}")
        for b in betas:
            if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0.0 <= b < 1.0:
                raise ValueError(f"{_where(self, 'betas')} must be two numbers in [0, 1), got {betas!r}")
        # YAML gives a list; a tuple keeps the dataclass hashable-looking and the optimizer happy.
        self.betas = (float(betas[0]), float(betas[1]))
        check_number(self, "eps", 0.0)
        if self.eps == 0:
            raise ValueError(f"{_where(self, 'eps')} must be > 0, got {self.eps!r}")
        check_fields(self)


# --- plain optimizers -------------------------------------------------------------------------


@dataclass
class SGDHparams(CheckedHparams):
    """``sgd``: the base optimizer alone. ``base`` must stay "sgd" (the id names the optimizer)."""

    base: str = one_of("sgd", ("sgd",))


@dataclass
class AdamHparams(CheckedHparams):
    """``adam``: Adam with the paper's betas (``BaseHparams.betas``); ``base`` may be "adam" or "adamw"."""

    base: str = one_of("adam", ("adam", "adamw"))


# --- mixins -----------------------------------------------------------------------------------


@dataclass
class RadiusHparams(CheckedHparams):
    """A fixed ascent radius ``rho`` (SAM's rho, ASAM's rho, Fisher SAM's gamma)."""

    rho: float = number(SAM.RHO)


@dataclass
class AdaptiveHparams(RadiusHparams):
    """ASAM's neighbourhood ``||e / (|w| + eta)|| <= rho``."""

    rho: float = number(ASAM.RHO)
    eta: float = number(ASAM.ETA)


@dataclass
class PenaltyHparams(CheckedHparams):
    """A trust-region penalty ``lam * D(target || current)`` added to the task loss.

    ``divergence`` defaults to the forward KL of the paper's Eqs. 4-5 (target is the first argument).
    """

    lam: float = number(0.1)
    divergence: str = one_of("kl", DIVERGENCES)


@dataclass
class NoiseHparams(CheckedHparams):
    """Input noise ``z`` at the task's input hook: N(0, sigma^2) or U(-sigma, sigma). The paper states
    sigma for R3F only; TRAM-x and TRAM-Fisher use the same default."""

    sigma: float = number(0.1)
    noise: str = one_of("normal", NOISE_KINDS)


@dataclass
class DecayHparams(CheckedHparams):
    """EMA decay of the MESA target: ``ema <- decay * ema + (1 - decay) * w`` after each step."""

    decay: float = number(0.999, 0.0, 1.0)


# --- SAM family -------------------------------------------------------------------------------


@dataclass
class SAMHparams(RadiusHparams):
    pass


@dataclass
class ASAMHparams(AdaptiveHparams):
    pass


@dataclass
class FisherSAMHparams(RadiusHparams):
    """Fisher SAM: ``rho`` is the paper's gamma, ``eta`` the Fisher weight in ``f = 1 + eta g^2``."""

    rho: float = number(FisherSAM.RHO)
    eta: float = number(FisherSAM.ETA)


# --- trust-region baselines and their ASAM combinations ----------------------------------------


@dataclass
class TRPOHparams(PenaltyHparams):
    pass


@dataclass
class R3FHparams(PenaltyHparams, NoiseHparams):
    pass


@dataclass
class MESAHparams(PenaltyHparams, DecayHparams):
    pass


@dataclass
class ASAMTRPOHparams(AdaptiveHparams, PenaltyHparams):
    pass


@dataclass
class ASAMR3FHparams(AdaptiveHparams, PenaltyHparams, NoiseHparams):
    pass


@dataclass
class ASAMMESAHparams(AdaptiveHparams, PenaltyHparams, DecayHparams):
    pass


# --- TRAM -------------------------------------------------------------------------------------


@dataclass
class TRAMHparams(CheckedHparams):
    """TRAM-θ_{t-1} / TRAM-θ_0: the radius is ``d = divergence(target || current)``, measured per batch.

    ``eta`` is the ASAM offset of ``T = |w| + eta`` (ASAM's default, as in the paper's Eq. 7).

    Cheaper TRAM (not in the paper; the defaults are the paper's TRAM and stay out of the run id):
    ``radius_every`` k measures ``d`` on steps 0, k, 2k, ... and reuses the last measured value on
    the steps between (the target forward runs on measuring steps only; TRAM-θ_{t-1} copies its
    target only on the step before one). ``radius_batch_fraction`` f measures ``d`` on the first
    ``max(1, ceil(f * B))`` examples of each micro-batch of B (see
    :class:`tram_bench.methods.tram.TRAMMethod`).
    """

    divergence: str = one_of("kl", DIVERGENCES)
    eta: float = number(ASAM.ETA)
    radius_every: int = whole(1, 1, since_results=True)
    radius_batch_fraction: float = number(1.0, 0.0, 1.0, since_results=True)


@dataclass
class TRAMXHparams(TRAMHparams, NoiseHparams):
    """TRAM-x: the target is the current model on noised inputs (sigma: see :class:`NoiseHparams`)."""


@dataclass
class TRAMFisherHparams(RadiusHparams, NoiseHparams):
    """TRAM-Fisher: Fisher-SAM ellipsoid with the Fisher of pass 1 taken at noised inputs x + z.

    ``rho`` is the fixed radius and ``fisher_eta`` the Fisher weight, both Fisher SAM's defaults
    (``FisherSAM.RHO``, ``FisherSAM.ETA``). See :class:`tram_bench.methods.tram.TRAMFisherMethod`
    for why the radius is fixed.
    """

    rho: float = number(FisherSAM.RHO)
    fisher_eta: float = number(FisherSAM.ETA)
