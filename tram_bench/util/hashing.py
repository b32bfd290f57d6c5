"""Canonical JSON and stable hashes (run ids, derived seeds)."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any


# A dataclass field whose metadata holds this key (true) is left out of the JSON documents that
# identify a cell (hparams -> run id, derived seeds) while it equals its default: an option added
# after results exist keeps every earlier run id (and cache) valid at its default.
OMIT_AT_DEFAULT = "omit_at_default"


def canonical(obj: Any) -> Any:
    """A JSON-ready, order-independent form: dict keys sorted, tuples as lists, floats normalised."""
    if isinstance(obj, dict):
        return {str(k): canonical(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if math.isfinite(obj) and obj == int(obj) and abs(obj) < 2**53:
            # 1.0 and 1 are the same hyperparameter value; hash them alike.
            return int(obj)
        return float(repr(obj)) if math.isfinite(obj) else repr(obj)
    raise TypeError(f"cannot hash value of type {type(obj).__name__}: {obj!r}")


def canonical_json(obj: Any) -> str:
    return json.dumps(canonical(obj), sort_keys=True, separators=(",", ":"))


def stable_hash(obj: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from any JSON-able identity (same identity, same seed, on any machine)."""
    return int(hashlib.sha256(canonical_json(list(parts)).encode()).hexdigest()[:8], 16) & 0x7FFFFFFF
