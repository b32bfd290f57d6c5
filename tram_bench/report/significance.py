"""Paired significance tests: each configuration against the best non-TRAM configuration of its task.

The unit of pairing is the replicate seed: runs of one task with the same seed see the same data order
and start from the same weights (``RunSpec.data_seed``), so the per-seed score difference is the
paired observation. The score is the run's OOD average of the task's primary metric on the test split
(the in-domain average for a task without OOD domains). With fewer than ``MIN_PAIRS`` paired seeds no
test is run and no claim is made.
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass, fields

MIN_PAIRS = 5
ALPHA = 0.05
NOT_TESTED = f"n<{MIN_PAIRS}: not tested"


@dataclass(frozen=True)
class SignificanceResult:
    suite: str
    task_label: str
    task: str
    checkpoint: str
    metric: str
    score: str  # "ood_avg" or "id_avg"
    higher_is_better: bool
    reference: str  # the best non-TRAM configuration
    config: str
    method: str
    n_pairs: int
    mean_diff: float | None  # mean over pairs of (config - reference), signed so that > 0 is better
    wilcoxon_p: float | None
    ttest_p: float | None
    verdict: str


@dataclass
class _Config:
    method: str
    scores: dict[int, float]

    def mean(self) -> float:
        return sum(self.scores.values()) / len(self.scores)


def is_tram(method: str) -> bool:
    return method.startswith("tram")


def paired_test(diffs: list[float]) -> tuple[float | None, float | None, str]:
    """(Wilcoxon signed-rank p, paired t-test p, verdict) for signed per-seed differences (> 0 = better)."""
    from scipy import stats

    n = len(diffs)
    if n < MIN_PAIRS:
        return None, None, NOT_TESTED
    if all(d == 0 for d in diffs):
        return None, None, "identical on every seed"
    w = stats.wilcoxon(diffs, alternative="two-sided")
    wp = float(w.pvalue)
    if all(d == diffs[0] for d in diffs):
        tp = None  # zero variance: the t statistic is undefined
    else:
        tp = float(stats.ttest_1samp(diffs, 0.0).pvalue)  # = paired t-test on the two samples
    mean = sum(diffs) / n
    if wp < ALPHA:
        verdict = f"{'better' if mean > 0 else 'worse'} (Wilcoxon p<{ALPHA:g})"
    else:
        verdict = "no significant difference"
    return wp, (tp if tp is None or math.isfinite(tp) else None), verdict


def compute_significance(con) -> list[SignificanceResult]:
    rows = con.execute(
        """
        SELECT ra.suite, ra.task_label, ra.task, ra.checkpoint, ra.metric, ra.higher_is_better,
               ra.config, ra.method, ra.seed, ra.id_avg, ra.ood_avg
        FROM run_averages ra JOIN primary_metric pm USING (suite, task_label, metric)
        WHERE ra.split = 'test'
        ORDER BY ra.suite, ra.task_label, ra.checkpoint, ra.config, ra.seed
        """
    ).fetchall()
    groups: dict[tuple, list[tuple]] = {}
    for r in rows:
        groups.setdefault((r[0], r[1], r[2], r[3], r[4]), []).append(r)
    results: list[SignificanceResult] = []
    for (suite, task_label, task, checkpoint, metric), grows in groups.items():
        use_ood = any(r[10] is not None for r in grows)
        hib = all(bool(r[5]) for r in grows)
        configs: dict[str, _Config] = {}
        for r in grows:
            value = r[10] if use_ood else r[9]
            if value is None:
                continue
            configs.setdefault(r[6], _Config(method=r[7], scores={})).scores[int(r[8])] = float(value)
        candidates = [name for name, c in configs.items() if not is_tram(c.method)]
        if not candidates:
            continue
        sign = 1.0 if hib else -1.0
        reference = min(candidates, key=lambda name: (-sign * configs[name].mean(), name))
        ref = configs[reference]
        for name in sorted(configs):
            if name == reference:
                continue
            c = configs[name]
            seeds = sorted(set(c.scores) & set(ref.scores))
            diffs = [sign * (c.scores[s] - ref.scores[s]) for s in seeds]
            wp, tp, verdict = paired_test(diffs)
            results.append(
                SignificanceResult(
                    suite=suite, task_label=task_label, task=task, checkpoint=checkpoint, metric=metric,
                    score="ood_avg" if use_ood else "id_avg", higher_is_better=hib, reference=reference,
                    config=name, method=c.method, n_pairs=len(seeds),
                    mean_diff=sum(diffs) / len(diffs) if diffs else None,
                    wilcoxon_p=wp, ttest_p=tp, verdict=verdict,
                )
            )
    return results


_SQL_TYPES = {str: "VARCHAR", bool: "BOOLEAN", int: "INTEGER", float: "DOUBLE"}


def create_significance_table(con, *, temporary: bool = True) -> list[SignificanceResult]:
    results = compute_significance(con)
    cols = []
    for f in fields(SignificanceResult):
        base = f.type.split("|")[0].strip() if isinstance(f.type, str) else f.type.__name__
        cols.append(f"{f.name} {_SQL_TYPES[{'str': str, 'bool': bool, 'int': int, 'float': float}[base]]}")
    con.execute(f"CREATE OR REPLACE {'TEMP ' if temporary else ''}TABLE significance ({', '.join(cols)})")
    from tram_bench.report.published import insert_rows

    insert_rows(con, "significance", [astuple(r) for r in results])
    return results
