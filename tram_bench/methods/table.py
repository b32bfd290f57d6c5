"""Every built-in method as one row of a table: what it is, and from which parts it is built.

A row (:class:`MethodInfo`) names the method's id, its version (part of every run id), its passes
per step (forward, backward; the paper's Table 1), its hyperparameter class, how its optimizer and
its trust-region target are built, and which *step recipe* it runs. The recipes are the handful of
step scripts in ``plain.py``, ``sam_family.py``, ``trust_region.py``, ``tram.py``, ``efficient.py``
and ``zero_shot.py``; a recipe also carries the method's kind (``tram_bench.methods.kinds``), so a
plugin that subclasses a recipe is classified as what it is.

The method registry (``tram_bench.methods.registry``) reads this table. Parts are named as
``"module:attr"`` strings, so that reading the table (listing ids, the CLI's ``list``) imports
neither torch nor any method; the class of a row is built on first use, as an attribute of this
module (``tram_bench.methods.table:SAMMethod``), which is also how pickle finds it again:

* ``recipe``: the step recipe class (a ``StepMethod`` subclass); the built class derives from it.
* ``hparams``: the ``Hparams`` dataclass (its defaults and limits: ``tram_bench.methods.hparams``).
* ``optimizer``: a function ``(hparams, params, base_cls, base_kwargs) -> Optimizer``; None keeps the
  recipe's ``build_optimizer`` (the base optimizer alone, unless the recipe says otherwise).
* ``target``: a ``Target`` class (``tram_bench.methods.targets``), built by its ``for_method``;
  None: no target.

Plugins do not need a row: a suite may name any ``Method`` subclass as ``module:Class``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

_M = "tram_bench.methods"


@dataclass(frozen=True)
class MethodInfo:
    """One method: ``id`` as suites name it, ``name`` the Python name of its built class."""

    id: str
    name: str
    recipe: str
    hparams: str
    passes: tuple[int, int]
    optimizer: str | None = None
    target: str | None = None
    version: str = "1"
    # Which list it belongs to: "paper" (the TRAM paper's methods: golden files, Table 1),
    # "efficient" (the cheaper sharpness-aware methods of issue 19) or "reference" (zero-shot).
    group: str = "paper"


def _row(id: str, name: str, recipe: str, hparams: str, passes: tuple[int, int], **parts: Any) -> MethodInfo:
    return MethodInfo(id, name, f"{_M}.{recipe}", f"{_M}.{hparams}", passes,
                      **{k: (None if v is None else f"{_M}.{v}") if k in ("optimizer", "target") else v
                         for k, v in parts.items()})


TABLE: tuple[MethodInfo, ...] = (
    _row("sgd", "SGDMethod", "plain:PlainMethod", "hparams:SGDHparams", (1, 1)),
    _row("adam", "AdamMethod", "plain:PlainMethod", "hparams:AdamHparams", (1, 1)),
    _row("sam", "SAMMethod", "sam_family:SharpnessMethod", "hparams:SAMHparams", (2, 2),
         optimizer="sam_family:build_sam"),
    _row("asam", "ASAMMethod", "sam_family:SharpnessMethod", "hparams:ASAMHparams", (2, 2),
         optimizer="sam_family:build_asam"),
    _row("fisher_sam", "FisherSAMMethod", "sam_family:SharpnessMethod", "hparams:FisherSAMHparams", (2, 2),
         optimizer="sam_family:build_fisher_sam"),
    _row("trpo", "TRPOMethod", "trust_region:TrustRegionMethod", "hparams:TRPOHparams", (2, 1),
         target="targets:PreviousWeights"),
    _row("r3f", "R3FMethod", "trust_region:TrustRegionMethod", "hparams:R3FHparams", (2, 1),
         target="targets:NoisedInputs"),
    _row("mesa", "MESAMethod", "trust_region:TrustRegionMethod", "hparams:MESAHparams", (2, 1),
         target="targets:AveragedWeights"),
    _row("asam+trpo", "ASAMTRPOMethod", "trust_region:ASAMTrustRegionMethod", "hparams:ASAMTRPOHparams", (3, 2),
         optimizer="sam_family:build_asam", target="targets:PreviousWeights"),
    # Its target is the model itself at w + e in pass 2: one more target forward (trust_region.py).
    _row("asam+r3f", "ASAMR3FMethod", "trust_region:ASAMTrustRegionMethod", "hparams:ASAMR3FHparams", (4, 2),
         optimizer="sam_family:build_asam", target="targets:NoisedInputs"),
    _row("asam+mesa", "ASAMMESAMethod", "trust_region:ASAMTrustRegionMethod", "hparams:ASAMMESAHparams", (3, 2),
         optimizer="sam_family:build_asam", target="targets:AveragedWeights"),
    _row("tram-prev", "TRAMPrevMethod", "tram:TRAMMethod", "hparams:TRAMHparams", (3, 2),
         optimizer="tram:build_tram", target="targets:PreviousWeights"),
    _row("tram-init", "TRAMInitMethod", "tram:TRAMMethod", "hparams:TRAMHparams", (3, 2),
         optimizer="tram:build_tram", target="targets:InitialWeights"),
    _row("tram-x", "TRAMXMethod", "tram:TRAMMethod", "hparams:TRAMXHparams", (3, 2),
         optimizer="tram:build_tram", target="targets:NoisedInputs"),
    _row("tram-fisher", "TRAMFisherMethod", "tram:TRAMFisherStep", "hparams:TRAMFisherHparams", (2, 2),
         optimizer="tram:build_tram_fisher"),
    # Not an optimizer: the pre-trained model evaluated as is (the paper's zero-shot rows).
    _row("zero-shot", "ZeroShotMethod", "zero_shot:NoTraining", "base:BaseHparams", (0, 0), group="reference"),
    # Cheaper sharpness-aware methods from other papers (issue 19; efficient.py). ``passes`` is the
    # most one step runs; their recipes' ``mean_passes`` give the expected passes.
    _row("looksam", "LookSAMMethod", "efficient:LookSAMStep", "efficient:LookSAMHparams", (2, 2),
         optimizer="sam_family:build_sam", group="efficient"),
    _row("random-sam", "RandomSAMMethod", "efficient:RandomSAMStep", "efficient:RandomSAMHparams", (2, 2),
         optimizer="sam_family:build_sam", group="efficient"),
    _row("late-sam", "LateSAMMethod", "efficient:LateSAMStep", "efficient:LateSAMHparams", (2, 2),
         optimizer="sam_family:build_sam", group="efficient"),
    _row("msam", "MomentumSAMMethod", "efficient:MomentumSAMStep", "efficient:MomentumSAMHparams", (1, 1),
         optimizer="efficient:build_momentum_sam", group="efficient"),
)

ROWS: dict[str, MethodInfo] = {row.id: row for row in TABLE}
_BY_NAME: dict[str, MethodInfo] = {row.name: row for row in TABLE}


def reference(row: MethodInfo) -> str:
    """The ``module:Class`` under which the registry finds the row's built class."""
    return f"{__name__}:{row.name}"


@functools.cache
def method_class(row: MethodInfo) -> type:
    """The row's method class: a subclass of its recipe with the row's id, version, passes and
    ``Hparams``, and its optimizer and target builders. Built once per row."""
    from tram_bench.util.registry import load_reference

    recipe = load_reference(row.recipe)
    body: dict[str, Any] = {
        "__module__": __name__, "__qualname__": row.name, "__doc__": recipe.__doc__,
        "id": row.id, "version": row.version, "passes": row.passes, "Hparams": load_reference(row.hparams),
    }
    if row.optimizer is not None:
        build = load_reference(row.optimizer)

        def build_optimizer(self: Any, params: Any, base_cls: type, base_kwargs: dict) -> Any:
            return build(self.hparams, params, base_cls, base_kwargs)

        body["build_optimizer"] = build_optimizer
    if row.target is not None:
        target_cls = load_reference(row.target)

        def build_target(self: Any) -> Any:
            return target_cls.for_method(self.model, self.hparams)

        body["build_target"] = build_target
    return type(row.name, (recipe,), body)


def __getattr__(name: str) -> type:
    # ``tram_bench.methods.table:SAMMethod`` (the registry, pickle) builds the class on first use.
    row = _BY_NAME.get(name)
    if row is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    cls = method_class(row)
    globals()[name] = cls
    return cls
