"""Number formatting shared by the terminal report and the site (one rule, so both show the same text)."""

from __future__ import annotations

import math

SIGNIFICANT = 4


def decimals_for(x: float, significant: int = SIGNIFICANT) -> int:
    """Decimals that show ``significant`` significant digits of ``x`` (0 to 6)."""
    if x == 0 or not math.isfinite(x):
        return significant - 1
    return max(0, min(6, significant - 1 - math.floor(math.log10(abs(x)))))


def fmt(x: float | None, decimals: int | None = None) -> str:
    if x is None:
        return "–"
    if not math.isfinite(x):
        return str(x)
    if decimals is None:
        if abs(x) >= 1e6:
            return f"{x:.3e}"
        if x == int(x) and abs(x) >= 1:
            return str(int(x))  # counts (steps, passes) read as counts
        decimals = decimals_for(x)
    return f"{x:.{decimals}f}"


def fmt_pm(mean: float | None, spread: float | None) -> str:
    """``mean ± spread`` with the spread at the mean's precision (``mean`` alone when no spread)."""
    if mean is None:
        return "–"
    d = decimals_for(mean) if math.isfinite(mean) and abs(mean) < 1e6 else None
    if spread is None:
        return fmt(mean, d)
    return f"{fmt(mean, d)} ± {fmt(spread, d)}"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def fmt_ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def fmt_signed(x: float | None) -> str:
    if x is None:
        return "–"
    s = fmt(abs(x))
    return f"+{s}" if x > 0 else (f"−{s}" if x < 0 else s)


def fmt_interval(mean: float | None, low: float | None, high: float | None) -> str:
    """``mean [low, high]`` with the bounds at the mean's precision (``mean`` alone without bounds)."""
    if mean is None:
        return "–"
    d = decimals_for(mean) if math.isfinite(mean) and abs(mean) < 1e6 else None
    if low is None or high is None:
        return fmt_signed(mean) if d is None else _signed(fmt(abs(mean), d), mean)
    return f"{_signed(fmt(abs(mean), d), mean)} [{fmt(low, d)}, {fmt(high, d)}]"


def _signed(text: str, x: float) -> str:
    return f"+{text}" if x > 0 else (f"−{text}" if x < 0 else text)
