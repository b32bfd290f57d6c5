"""Other names of the built-in method ids, mapped to the id before any run id is computed.

The TRAM paper writes Fisher SAM as "FSAM" and the TRAM variants as TRAM-θ_{t−1} and TRAM-θ_0, and
users type ``fisher-sam`` for ``fisher_sam``. Each alias here names exactly one method, so accepting
it cannot change what runs; a run's id, record and plan always carry the canonical id, so ``fsam``
and ``fisher_sam`` are the same cell (and a suite that lists both has a duplicate cell).

Only built-in ids have aliases: a plugin id or a ``module:Class`` reference is used as written.
"""

from __future__ import annotations

from tram_bench.methods.registry import BUILTIN_METHOD_IDS

ZERO_SHOT = "zero-shot"

# Alias (in the normal form of _normal) -> canonical id. Separator and case variants of the ids
# themselves (``Fisher-SAM``, ``tram_prev``) are accepted without being listed.
METHOD_ALIASES: dict[str, str] = {
    "fsam": "fisher_sam",
    "tram-theta0": "tram-init",
    "tram-theta-0": "tram-init",
    "tram-theta-t-1": "tram-prev",
    "tram-thetat-1": "tram-prev",
    "zeroshot": ZERO_SHOT,
}


def _normal(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


_BY_NORMAL: dict[str, str] = {_normal(i): i for i in (*BUILTIN_METHOD_IDS, ZERO_SHOT)}
_BY_NORMAL.update(METHOD_ALIASES)


def canonical_method_id(name: str) -> str:
    """The built-in id that ``name`` stands for (``fsam`` -> ``fisher_sam``), else ``name`` unchanged.

    A built-in id is returned as is; anything containing ``:`` (a ``module:Class`` reference) is
    never rewritten.
    """
    if not isinstance(name, str) or ":" in name or name in _BY_NORMAL.values():
        return name
    return _BY_NORMAL.get(_normal(name), name)
