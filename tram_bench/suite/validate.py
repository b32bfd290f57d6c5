"""``tram-bench validate``: every problem of a suite file, one line each, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tram_bench.suite.errors import SuiteError
from tram_bench.suite.load import check_suite


def validate(path: str | Path, overrides: Sequence[str] = ()) -> list[SuiteError]:
    """All problems of the suite at ``path`` with ``-O`` overrides applied; empty when it is valid.

    Checks: YAML syntax (at the line where the problem starts), values YAML 1.1 and 1.2 read
    differently, OmegaConf resolver calls, document shape, unknown keys (with the closest valid name)
    at every level, value types against the task ``Params`` / method ``Hparams`` / ``TrainDefaults``
    dataclasses, impossible training values and schedules (in steps or epochs; ``tram-bench validate``
    also warns about epoch-based runs whose task cannot bound its data size, see
    ``tram_bench.suite.train_rules.unknown_size_warnings``),
    ``Hparams.__post_init__`` rejections, unknown task/method ids, duplicate seeds, cells, task
    labels and analyses, and the comparison design (``baseline``, ``alpha``, ``delta``).
    """
    _, errors = check_suite(path, overrides)
    return errors
