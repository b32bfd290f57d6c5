"""Analyses of a trained model, run on the selected checkpoint for every evaluation set.

- ``sharpness``: epsilon-sharpness (paper Appendix B.7; Keskar et al. 2017): box epsilon 1e-5,
  SGD ascent with lr 8e-5 on mini-batches of ``sharpness_batch_size`` (32) examples with 4-step
  accumulation, ``sharpness_steps`` ascent steps (default 10: the paper does not say), on the first
  ``analysis_examples`` examples of each evaluation set. Reported x100 relative to 1 + loss.
- ``cka``: linear CKA (centred) between the pre-trained model's and the fine-tuned model's
  representations (the task's representation hook: features before the head) on the same examples.

Both are stored as metric rows (``metric`` = "sharpness" / "cka") of the ``selected`` checkpoint.
Each (analysis, evaluation set) is computed on its own: one that raises (too few examples in a set,
constant features) leaves the others' rows and the training metrics in place, and is reported in
the run's ``analysis_error`` (its traceback in ``error.txt``).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from tram_bench.tasks.train_setup import TrainSetup
from tram_bench.train.rundir import MetricRow

# Which way each analysis's value is better (its metric rows' higher_is_better): stated only here.
ANALYSIS_HIGHER_IS_BETTER = {"sharpness": False, "cka": True}
SHARPNESS_EPSILON = 1e-5
SHARPNESS_LR = 8e-5
SHARPNESS_ACCUMULATION = 4


def _first_dim(batch: Any) -> int:
    import torch

    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, dict):
        return _first_dim(next(v for v in batch.values() if isinstance(v, torch.Tensor)))
    return _first_dim(batch[0])


def _slice(batch: Any, start: int, stop: int) -> Any:
    import torch

    if isinstance(batch, torch.Tensor):
        return batch[start:stop]
    if isinstance(batch, dict):
        return {k: _slice(v, start, stop) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    return type(batch)(_slice(v, start, stop) for v in batch)


def rebatch(batches: Iterable[Any], size: int, limit: int) -> Iterator[Any]:
    """Re-cut a stream of batches into batches of ``size`` examples, at most ``limit`` examples in all
    (the last batch may be smaller). Order is preserved, so the subset is deterministic."""
    taken = 0
    for batch in batches:
        n = _first_dim(batch)
        for start in range(0, n, size):
            stop = min(n, start + size, start + (limit - taken))
            if stop <= start:
                return
            yield _slice(batch, start, stop)
            taken += stop - start
            if taken >= limit:
                return


@dataclass
class AnalysisResult:
    """What :func:`analyse` produced: metric ``rows``; ``error``, one line naming the first failed
    (analysis, set) and its exception, plus how many more failed (None if none did); and the
    ``tracebacks`` of every failure."""

    rows: list[MetricRow] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        if not self.failures:
            return None
        more = len(self.failures) - 1
        return self.failures[0] + (f" (and {more} more analysis failure{'s' * (more > 1)})" if more else "")

    def fail(self, what: str, exc: BaseException) -> None:
        self.failures.append(f"{what}: {type(exc).__name__}: {exc}")
        self.tracebacks.append(f"analysis {what}:\n" + "".join(traceback.format_exception(exc)))

    def attempt(self, what: str, compute: Callable[[], MetricRow]) -> None:
        """Append ``compute()``'s row, or record its failure under ``what``."""
        try:
            self.rows.append(compute())
        except Exception as exc:  # noqa: BLE001 - an analysis failure must not discard the training run
            self.fail(what, exc)


def analyse(task, model, eval_sets, analyses: tuple[str, ...], train: TrainSetup) -> AnalysisResult:
    """Metric rows of the requested analyses for ``model`` (the selected checkpoint) on every set,
    and the analyses that failed (never raised: see :class:`AnalysisResult`)."""
    import torch

    from tram_bench.analysis.cka import linear_cka
    from tram_bench.analysis.sharpness import epsilon_sharpness

    result = AnalysisResult()
    pretrained = None
    if "cka" in analyses:
        try:
            pretrained = task.build_model()
        except Exception as exc:  # noqa: BLE001 - as in AnalysisResult.attempt
            result.fail("cka (pre-trained model)", exc)

    def loss_fn(m, batch):
        return task.objective(m, batch).loss

    for es in eval_sets:
        where = f"{es.domain}/{es.split}"
        try:
            subset = list(rebatch(es.batches(), train.sharpness_batch_size, train.analysis_examples))
        except Exception as exc:  # noqa: BLE001 - as in AnalysisResult.attempt
            result.fail(f"examples of {where}", exc)
            continue
        if not subset:
            continue

        def row(metric: str, value: float, es=es) -> MetricRow:
            return MetricRow("selected", es.domain, es.split, metric, float(value), bool(es.in_domain),
                             ANALYSIS_HIGHER_IS_BETTER[metric])

        def sharpness(subset=subset) -> MetricRow:
            value = epsilon_sharpness(model, loss_fn, subset, epsilon=SHARPNESS_EPSILON, lr=SHARPNESS_LR,
                                      steps=train.sharpness_steps, accumulation=SHARPNESS_ACCUMULATION).value
            return row("sharpness", value)

        def cka(subset=subset) -> MetricRow:
            feats = []
            for m in (pretrained, model):
                was_training = m.training
                m.eval()
                try:
                    with torch.no_grad():
                        feats.append(torch.cat([task.representation(m, b).float().flatten(1) for b in subset]).cpu())
                finally:
                    m.train(was_training)
            return row("cka", linear_cka(feats[0].double().numpy(), feats[1].double().numpy()))

        if "sharpness" in analyses:
            result.attempt(f"sharpness on {where}", sharpness)
        if pretrained is not None:
            result.attempt(f"cka on {where}", cka)
    return result
