"""The SAM-family optimizers in timm's optimizer registry, so ``create_optimizer_v2`` builds them.

Importing this module registers eight names in timm's default registry (``register()`` does it for
any other :class:`timm.optim.OptimizerRegistry`):

==================  =========================================  ==================
name                optimizer                                  base optimizer
==================  =========================================  ==================
``sam``             :class:`tram_bench.optim.SAM`              ``torch.optim.SGD``
``asam``            :class:`tram_bench.optim.ASAM`             ``torch.optim.SGD``
``fishersam``       :class:`tram_bench.optim.FisherSAM`        ``torch.optim.SGD``
``tram``            :class:`tram_bench.optim.TRAM`             ``torch.optim.SGD``
``samadamw``        SAM                                        ``torch.optim.AdamW``
``asamadamw``       ASAM                                       ``torch.optim.AdamW``
``fishersamadamw``  FisherSAM                                  ``torch.optim.AdamW``
``tramadamw``       TRAM                                       ``torch.optim.AdamW``
==================  =========================================  ==================

The names have no ``_``: timm keeps only the part after the last ``_`` of a name (what comes before
is an optional ``lookahead`` prefix), so ``"fisher_sam"`` would silently build ``sam``.

Defaults: the radius options (``rho``, ``eta``, TRAM's ``fisher``/``fisher_eta``) are the optimizer
classes' own defaults unless passed as keyword arguments to ``create_optimizer_v2``; ``lr``,
``weight_decay`` and (SGD variants) ``momentum`` (timm's default 0.9, classical, not Nesterov) go to
the base optimizer, as do ``betas``/``eps`` for the AdamW variants. A ``base_optimizer=`` keyword
replaces the registered base class; ``fused_perturbation=True`` (the one-kernel ``w + e`` of
:class:`tram_bench.optim.TwoPassOptimizer`) goes to the optimizer class like the radius options.

The two-pass step stays the caller's: timm's training loop calls ``optimizer.step()`` once per
batch, which these optimizers refuse without a closure. Call ``first_step()`` after the first
backward and ``second_step()`` after the second (TRAM: ``first_step(d)`` with the divergence ``d``
measured on the batch), or ``step(closure)``; the README's "timm" section has a complete loop.

Tested with timm 1.0.31. timm exports ``OptimInfo`` and ``OptimizerRegistry`` but not its default
registry instance, which lives in ``timm.optim._optim_factory``; the ``timm`` extra pins timm below
1.1 for that reason.
"""

from __future__ import annotations

import torch
from timm.optim import OptimInfo, OptimizerRegistry
from timm.optim import _optim_factory

from tram_bench.optim import ASAM, SAM, TRAM, FisherSAM

_FAMILY = {"sam": SAM, "asam": ASAM, "fishersam": FisherSAM, "tram": TRAM}


def optimizer_infos() -> list[OptimInfo]:
    """One :class:`OptimInfo` per registered name (table in the module docstring)."""
    infos = []
    for name, cls in _FAMILY.items():
        infos.append(OptimInfo(
            name=name, opt_class=cls, has_eps=False, has_momentum=True,
            description=f"{cls.__name__} (tram-bench) around torch.optim.SGD; two-pass step: first_step/second_step",
            defaults={"base_optimizer": torch.optim.SGD, "nesterov": False},
        ))
        infos.append(OptimInfo(
            name=f"{name}adamw", opt_class=cls, has_eps=True, has_betas=True,
            description=f"{cls.__name__} (tram-bench) around torch.optim.AdamW; two-pass step: first_step/second_step",
            defaults={"base_optimizer": torch.optim.AdamW},
        ))
    return infos


def register(registry: OptimizerRegistry | None = None) -> list[str]:
    """Add the names of :func:`optimizer_infos` to ``registry`` (default: timm's own, the one
    ``timm.optim.create_optimizer_v2`` reads) and return them. Registering twice is harmless: a name
    already bound to the same entry is left alone (timm would log an overwrite warning)."""
    target = _optim_factory.default_registry if registry is None else registry
    names = []
    for info in optimizer_infos():
        try:
            present = target.get_optimizer_info(info.name)
        except ValueError:
            present = None
        if present != info:
            target.register(info)
        names.append(info.name)
    return names


REGISTERED = register()
"""The names this module's import registered in timm's default registry."""

__all__ = ["REGISTERED", "optimizer_infos", "register"]
