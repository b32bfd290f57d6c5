"""The verdict text of a primary row: the number that decided it, and whether a detected difference is
smaller than the declared margin."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tram_bench.report.wording import verdict_text


def _row(verdict, ci, delta=0.01, p=0.0469):
    return SimpleNamespace(verdict=verdict, ci_low=ci[0], ci_high=ci[1], delta=delta, p_adjusted=p,
                           min_attainable_p=p, mde=None, seeds_for_delta=None)


@pytest.mark.parametrize("ci,inside", [
    ((-0.000158, -0.000013), True),   # the LM suite's tram-prev: consistent, tiny
    ((-0.010691, -0.005740), False),  # reaches past -delta
    ((0.002, 0.01), False),           # touching the margin is not inside it
    ((None, None), False),            # no interval: nothing to say about the margin
])
def test_a_detected_difference_says_when_its_interval_lies_inside_the_margin(ci, inside):
    text = verdict_text(_row("worse", ci))
    assert text.startswith("worse (Holm p 0.0469")
    assert ("95% CI inside ±0.01000: below the margin" in text) == inside


def test_no_margin_means_no_margin_sentence():
    assert verdict_text(_row("better", (0.1, 0.2), delta=None)) == "better (Holm p 0.0469)"
