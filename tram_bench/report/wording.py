"""The sentences that explain a task's design and its verdicts (one wording for the terminal and the site)."""

from __future__ import annotations

from tram_bench.report.formatting import fmt, fmt_p

UNIT_WORDS = {"points": "percentage points", "log_ratio": "log perplexity ratio"}
GROUP_LABELS = {"primary": "primary: OOD average", "in_domain": "in-domain average", "final": "final checkpoint"}


def unit_words(units: str) -> str:
    """``"points"`` → ``"percentage points"``, ``"log_ratio"`` → ``"log perplexity ratio"``."""
    return UNIT_WORDS.get(units, units)


def group_label(s) -> str:
    """Label of a significance row's group (a ``significance.SignificanceResult``); the worst OOD domain is named."""
    if s.group == "worst_ood":
        return f"worst OOD domain ({s.score.removeprefix('domain:')})"
    if s.group == "final" and s.score == "id_avg":
        return "final checkpoint (in-domain)"
    return GROUP_LABELS.get(s.group, s.group)


def verdict_text(s) -> str:
    """The verdict of a primary row (a ``significance.SignificanceResult``) with the number that decided it."""
    v = s.verdict
    if v in ("better", "worse"):
        # A detected difference is stated (the family-wise error protects it), and when its whole 95% interval
        # lies inside the declared margin the reader is told it is smaller than what the suite calls relevant.
        inside = (s.delta is not None and s.ci_low is not None and s.ci_high is not None
                  and -s.delta < s.ci_low and s.ci_high < s.delta)
        margin = f"; 95% CI inside ±{fmt(s.delta)}: below the margin" if inside else ""
        return f"{v} (Holm p {fmt_p(s.p_adjusted)}{margin})"
    if v == "equivalent":
        return f"equivalent (90% CI within ±{fmt(s.delta)})"
    if v == "underpowered":
        return f"underpowered (smallest adjusted p {fmt_p(s.min_attainable_p)})"
    if v == "inconclusive":
        parts = []
        if s.mde is not None:
            parts.append(f"MDE {fmt(s.mde)}")
        if s.seeds_for_delta is not None:
            parts.append(f"{s.seeds_for_delta} seeds for ±{fmt(s.delta)}")
        return "inconclusive" + (f" ({'; '.join(parts)})" if parts else "")
    return v or "not tested (no paired seeds)"


def design_sentence(t) -> str:
    """One paragraph on how a task (a ``TaskReport`` with a design) is tested."""
    d = t.design
    if d is None or d.reference is None:
        return d.note if d is not None and d.note else ""
    score = "OOD average" if any(s.score == "ood_avg" for s in t.primary()) or not t.primary() else "in-domain average"
    reach = (f"smallest attainable adjusted p {d.min_attainable_p:.3g}"
             + (": cannot reach alpha" if not d.reaches_alpha else f" < alpha {d.alpha:g}"))
    margin = f"±{fmt(d.delta)} {unit_words(d.units)}" if d.delta is not None else "none (no equivalence test)"
    mde = f"; MDE at 80% power {fmt(d.mde)} {unit_words(d.units)}" if d.mde is not None else ""
    return (f"Baseline {d.reference} (declared by the suite, a priori). Primary endpoint: {score} of "
            f"{t.primary_metric} on the test split, selected checkpoint, paired by seed; differences in "
            f"{unit_words(d.units)}, > 0 = better. Family: m = {d.comparisons} comparisons, exact Wilcoxon "
            f"signed-rank, Holm at alpha {d.alpha:g}; equivalence margin {margin}; n = {d.n_seeds} seeds, {reach}"
            f"{mde}.")


__all__ = ["design_sentence", "group_label", "unit_words", "verdict_text"]
