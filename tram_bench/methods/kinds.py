"""The kinds of training method, as run records and the leaderboard's filters name them.

Torch-free on purpose: the report imports this vocabulary without importing any method. Each method
class declares its kind (``Method.kind``); the suite copies it into the cell (``CellDoc.method_kind``),
so readers of results never classify a method by its id.
"""

from __future__ import annotations

PLAIN = "plain"
SAM_FAMILY = "SAM family"
EFFICIENT = "efficient"
TRUST_REGION = "trust region"
TRAM = "TRAM"
ZERO_SHOT = "zero-shot"
# A plugin that subclasses ``Method`` directly, or a record whose method can no longer be resolved.
OTHER = "other"

# In the order the leaderboard lists them.
KINDS: tuple[str, ...] = (PLAIN, SAM_FAMILY, EFFICIENT, TRAM, TRUST_REGION, ZERO_SHOT, OTHER)

__all__ = ["EFFICIENT", "KINDS", "OTHER", "PLAIN", "SAM_FAMILY", "TRAM", "TRUST_REGION", "ZERO_SHOT"]
