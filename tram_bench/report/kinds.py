"""The kind of a method (plain, SAM family, TRAM, trust region, zero-shot), for the site's filters.

The one place the report classifies methods: by the method class's base in ``tram_bench.methods``
(resolved through the registry, so spelling variants and plugins resolve as in a suite). A method id that
cannot be resolved (a lost plugin) is ``"other"``.
"""

from __future__ import annotations

import functools

KINDS = ("plain", "SAM family", "TRAM", "trust region", "zero-shot", "other")


@functools.lru_cache(maxsize=None)
def method_kind(method: str) -> str:
    """One of ``KINDS`` for a method id; never raises."""
    try:
        from tram_bench.methods.plain import PlainMethod
        from tram_bench.methods.registry import METHODS
        from tram_bench.methods.sam_family import SharpnessMethod
        from tram_bench.methods.tram import TRAMFisherMethod, TRAMMethod
        from tram_bench.methods.trust_region import PenaltyMethod
        from tram_bench.methods.zero_shot import ZeroShotMethod

        cls = METHODS.get(method)
    except Exception:  # noqa: BLE001 - an unknown or broken method id only loses its kind
        return "other"
    if not isinstance(cls, type):
        return "other"
    for base, kind in ((TRAMMethod, "TRAM"), (TRAMFisherMethod, "TRAM"), (SharpnessMethod, "SAM family"),
                       (PenaltyMethod, "trust region"), (PlainMethod, "plain"), (ZeroShotMethod, "zero-shot")):
        if issubclass(cls, base):
            return kind
    return "other"


def config_method(config: str) -> str:
    """The method id of a configuration label (``"sam[rho=0.05]"`` -> ``"sam"``; the report's labels append
    gridded hyperparameters in brackets)."""
    return config.split("[", 1)[0]


__all__ = ["KINDS", "config_method", "method_kind"]
