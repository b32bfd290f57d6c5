"""Post-training analyses of the paper's Table 6: epsilon-sharpness and linear CKA."""

from __future__ import annotations

from tram_bench.analysis.cka import linear_cka
from tram_bench.analysis.sharpness import SharpnessResult, epsilon_sharpness

__all__ = ["SharpnessResult", "epsilon_sharpness", "linear_cka"]
