"""Every method's hyperparameters: the paper's defaults (appendix B.2) and their validation.

This module is the one place the defaults live. Each dataclass validates itself in
``__post_init__`` so that a bad suite value fails when the grid is built, with a one-line message
naming the field and the value. Shared pieces are mixins (radius, trust-region penalty, input
noise, EMA decay) combined by multiple inheritance; every ``__post_init__`` calls ``super()`` so each
mixin's checks run exactly once.

Field names: the paper's lambda is ``lam`` (``lambda`` is a Python keyword), its gamma (Fisher SAM's
radius) is ``rho`` like every other fixed radius, and ``divergence`` is a name from
:data:`tram_bench.optim.divergence.DIVERGENCES`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tram_bench.methods.base import BaseHparams
from tram_bench.optim.divergence import DIVERGENCES

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


@dataclass
class CheckedHparams(BaseHparams):
    """:class:`BaseHparams` plus validation of the base-optimizer fields."""

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


# --- plain optimizers -------------------------------------------------------------------------


@dataclass
class SGDHparams(CheckedHparams):
    """``sgd``: the base optimizer alone. ``base`` must stay "sgd" (the id names the optimizer)."""

    base: str = "sgd"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self, "base", ("sgd",))


@dataclass
class AdamHparams(CheckedHparams):
    """``adam``: Adam with the paper's betas (0.9, 0.99); ``base`` may be "adam" or "adamw"."""

    base: str = "adam"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self, "base", ("adam", "adamw"))


# --- mixins -----------------------------------------------------------------------------------


@dataclass
class RadiusHparams(CheckedHparams):
    """A fixed ascent radius ``rho`` (SAM's rho, ASAM's rho, Fisher SAM's gamma)."""

    rho: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number(self, "rho")


@dataclass
class AdaptiveHparams(RadiusHparams):
    """ASAM's neighbourhood ``||e / (|w| + eta)|| <= rho``."""

    rho: float = 0.5
    eta: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number(self, "eta")


@dataclass
class PenaltyHparams(CheckedHparams):
    """A trust-region penalty ``lam * D(target || current)`` added to the task loss.

    ``divergence`` defaults to the forward KL of the paper's Eqs. 4-5 (target is the first argument).
    """

    lam: float = 0.1
    divergence: str = "kl"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number(self, "lam")
        check_choice(self, "divergence", DIVERGENCES)


@dataclass
class NoiseHparams(CheckedHparams):
    """Input noise ``z`` at the task's input hook: N(0, sigma^2) or U(-sigma, sigma)."""

    sigma: float = 0.1
    noise: str = "normal"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number(self, "sigma")
        check_choice(self, "noise", NOISE_KINDS)


@dataclass
class DecayHparams(CheckedHparams):
    """EMA decay of the MESA target: ``ema <- decay * ema + (1 - decay) * w`` after each step."""

    decay: float = 0.999

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number(self, "decay", 0.0, 1.0)


# --- SAM family -------------------------------------------------------------------------------


@dataclass
class SAMHparams(RadiusHparams):
    rho: float = 0.05


@dataclass
class ASAMHparams(AdaptiveHparams):
    pass


@dataclass
class FisherSAMHparams(RadiusHparams):
    """Fisher SAM: ``rho`` is the paper's gamma, ``eta`` the Fisher weight in ``f = 1 + eta g^2``."""

    rho: float = 0.1
    eta: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number(self, "eta")


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

    ``eta`` is the ASAM offset of ``T = |w| + eta`` (0 in the paper's Eq. 7).
    """

    divergence: str = "kl"
    eta: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self, "divergence", DIVERGENCES)
        check_number(self, "eta")


@dataclass
class TRAMXHparams(TRAMHparams, NoiseHparams):
    """TRAM-x: the target is the current model on noised inputs. The paper does not report sigma;
    0.1 is the R3F baseline's value."""


@dataclass
class TRAMFisherHparams(RadiusHparams, NoiseHparams):
    """TRAM-Fisher: Fisher-SAM ellipsoid with the Fisher of pass 1 taken at noised inputs x + z.

    ``rho`` is the fixed radius (Fisher SAM's gamma, 0.1) and ``fisher_eta`` the Fisher weight
    (0.1); sigma (not reported by the paper) defaults to R3F's 0.1. See
    :class:`tram_bench.methods.tram.TRAMFisherMethod` for why the radius is fixed.
    """

    rho: float = 0.1
    fisher_eta: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number(self, "fisher_eta")
