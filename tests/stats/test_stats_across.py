"""tram_bench.stats.across: IQM, probability of improvement, rank intervals, CD-diagram data by hand."""

from __future__ import annotations

import pytest
from scipy import stats

from tram_bench.stats.across import (
    Estimate,
    best_method,
    cd_diagram_data,
    iqm,
    iqm_estimate,
    probability_of_improvement,
    rank_intervals,
)


@pytest.mark.parametrize("values,expected", [
    ([1, 2, 3, 4, 5, 6, 7, 8], 4.5),  # cut 2 each side: mean of 3, 4, 5, 6
    ([1, 2, 3, 100], 2.5),  # cut 1 each side
    ([5, 1, 4, 2, 3], 3.0),  # floor(5/4) = 1 each side: 2, 3, 4
    ([7], 7.0),
])
def test_iqm_by_hand(values, expected):
    assert iqm(values) == expected
    assert iqm(values) == pytest.approx(stats.trim_mean(values, 0.25))


def test_iqm_is_order_free_and_rejects_bad_input():
    assert iqm([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) == iqm([0.6, 0.4, 0.2, 0.5, 0.3, 0.1])
    with pytest.raises(ValueError):
        iqm([])
    with pytest.raises(ValueError):
        iqm([1.0, float("nan")])


def test_iqm_estimate_resamples_seeds_within_each_task():
    # Each task's seeds agree, so every stratified resample is {1, 1, 3, 3} -> IQM 2 exactly.
    # A bootstrap that pooled the tasks would draw {1, 1, 1, 1} or {3, 3, 3, 3} too.
    diffs = {"t1": {0: 1.0, 1: 1.0}, "t2": {0: 3.0, 1: 3.0}}
    assert iqm_estimate(diffs) == Estimate(2.0, 2.0, 2.0)


def test_iqm_estimate_interval_and_determinism():
    diffs = {"t1": {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0}, "t2": {1: 0.0, 0: -1.0}}
    est = iqm_estimate(diffs, reps=500, seed=3)
    assert est.value == iqm([1, 2, 3, 4, 0, -1]) == 1.5
    assert est.low <= est.value <= est.high and est.low < est.high
    reordered = {"t2": {0: -1.0, 1: 0.0}, "t1": {3: 4.0, 2: 3.0, 1: 2.0, 0: 1.0}}
    assert iqm_estimate(reordered, reps=500, seed=3) == est


def test_probability_of_improvement_by_hand():
    # Scores: 0.5 -> 1, -0.2 -> 0, 0.0 -> 1/2, 1e-12 (a zero after rounding) -> 1/2, 2.0 -> 1: 3 / 5.
    diffs = {"t1": {0: 0.5, 1: -0.2, 2: 0.0}, "t2": {0: 1e-12, 1: 2.0}}
    assert probability_of_improvement(diffs).value == 0.6
    # Each task's seeds agree: every stratified resample scores 1/2.
    assert probability_of_improvement({"t1": {0: 1.0, 1: 1.0}, "t2": {0: -1.0, 1: -1.0}}) == Estimate(0.5, 0.5, 0.5)


def _scores(rows: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, dict[int, float]]]:
    return {m: {t: dict(enumerate(v)) for t, v in tasks.items()} for m, tasks in rows.items()}


def test_tied_methods_share_a_rank_and_there_is_no_best():
    same = {"t1": [0.9, 0.8, 0.85], "t2": [0.5, 0.6, 0.55]}
    scores = _scores({"sam-rho0": same, "sgd": same, "weak": {"t1": [0.1, 0.2, 0.1], "t2": [0.1, 0.1, 0.2]}})
    out = rank_intervals(scores)
    by = {r.method: r for r in out}
    assert by["sam-rho0"].rank == by["sgd"].rank == 1
    assert by["sam-rho0"].mean_rank == by["sgd"].mean_rank == 1.5
    assert (by["sgd"].low, by["sgd"].high) == (1, 1)
    assert (by["weak"].rank, by["weak"].low, by["weak"].high) == (3, 3, 3)
    assert best_method(out) is None
    # the opposite ingestion order gives the same answer
    reversed_scores = {m: {t: dict(reversed(list(s.items()))) for t, s in reversed(list(tasks.items()))}
                       for m, tasks in reversed(list(scores.items()))}
    assert rank_intervals(reversed_scores) == out


def test_a_best_method_needs_its_interval_alone_at_the_top():
    scores = _scores({
        "tram": {"t1": [0.9, 0.91, 0.92], "t2": [0.7, 0.71, 0.69]},
        "sam": {"t1": [0.5, 0.52, 0.51], "t2": [0.4, 0.41, 0.42]},
        "sgd": {"t1": [0.5, 0.49, 0.53], "t2": [0.42, 0.39, 0.4]},
    })
    out = rank_intervals(scores)
    assert out[0].method == "tram" and (out[0].low, out[0].high) == (1, 1)
    assert best_method(out) == "tram"
    assert {r.method: r.rank for r in out}["sam"] == 2 == {r.method: r.rank for r in out}["sgd"]


def test_rank_intervals_use_only_tasks_and_seeds_every_method_has():
    scores = _scores({"a": {"t1": [1.0, 2.0, 5.0], "t2": [9.0]}, "b": {"t1": [0.0, 1.0]}})
    out = rank_intervals(scores)
    assert [(r.method, r.mean_rank) for r in out] == [("a", 1.0), ("b", 2.0)]
    assert rank_intervals(_scores({"a": {"t1": [1.0]}, "b": {"t2": [1.0]}})) == []


def _cd_scores(n_tasks: int) -> dict[str, dict[str, dict[int, float]]]:
    bc = [1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 4.0, -4.0][:n_tasks]  # B - C: symmetric, p = 1
    rows: dict[str, dict[str, list[float]]] = {"A": {}, "B": {}, "C": {}}
    for t in range(n_tasks):
        for method, mean in (("A", 10.0 + t), ("B", bc[t]), ("C", 0.0)):
            rows[method][f"t{t}"] = [mean - 0.25, mean + 0.25]  # seed noise shared by all methods
    return _scores(rows)


def test_cd_data_needs_five_tasks():
    assert cd_diagram_data(_cd_scores(4)) is None


def test_cd_data_by_hand():
    cd = cd_diagram_data(_cd_scores(8))
    # A first on every task; B and C split the other places 4 / 4.
    assert cd.avg_ranks == {"A": 1.0, "B": 2.5, "C": 2.5}
    # A-B and A-C: 8 tasks one sign, p = 2/256, Holm x3 and x2 -> 0.0234375 each; B-C: p = 1.
    assert cd.p_adjusted == {("A", "B"): 0.0234375, ("A", "C"): 0.0234375, ("B", "C"): 1.0}
    assert cd.cliques == (("B", "C"),)
    assert cd.n_tasks == 8
    # at 6 tasks A's p is 2/64 -> Holm 0.09375: nothing is distinguished, one clique of all
    assert cd_diagram_data(_cd_scores(6)).cliques == (("A", "B", "C"),)


def test_rank_bootstrap_keeps_the_seed_pairing():
    # Seeds move both methods by far more than their gap, but "b" beats "a" on every seed: one
    # draw of seeds for both methods keeps b first in every replicate. Resampling each method's
    # seeds separately would overlap their intervals.
    seeds = [0.0, 5.0, -4.0, 9.0, -7.0, 2.0]
    scores = _scores({"a": {"t1": seeds, "t2": seeds}, "b": {"t1": [s + 0.01 for s in seeds],
                                                             "t2": [s + 0.01 for s in seeds]}})
    out = rank_intervals(scores)
    assert [(r.method, r.rank, r.low, r.high) for r in out] == [("b", 1, 1, 1), ("a", 2, 2, 2)]
    assert best_method(out) == "b"
