"""Reading the store: open the database, and the per-cell summary the terminal report prints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tram_bench.store.collector import db_path


class StoreError(RuntimeError):
    """The database cannot be opened (missing, locked by a writer, not a DuckDB file)."""


def open_db(results_dir: str | Path, read_only: bool = True):
    """A DuckDB connection to ``results_dir/tram-bench.duckdb`` with timestamps shown in UTC."""
    import duckdb

    path = db_path(results_dir)
    if read_only and not path.exists():
        raise StoreError(f"no results database at {path}; run `tram-bench collect` first")
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise StoreError(f"cannot open {path}: {str(exc).splitlines()[0]}") from None
    con.execute("SET TimeZone = 'UTC'")
    return con


@dataclass(frozen=True)
class SummaryRow:
    """One metric of one grid cell aggregated over its replicate seeds (``ok`` runs only).

    ``std`` is the sample standard deviation (ddof=1), None for a single seed; ``n`` counts the seeds
    with a value; ``not_ok`` counts the cell's runs that failed or diverged (left out of the mean).
    """

    task_label: str
    task: str
    task_version: str | None
    method: str
    method_version: str | None
    hparams: dict[str, Any]
    task_params: dict[str, Any]
    train: dict[str, Any]
    checkpoint: str
    domain: str
    split: str
    metric: str
    in_domain: bool | None
    higher_is_better: bool | None
    mean: float | None
    std: float | None
    n: int
    not_ok: int


# A cell is everything in a run's identity except the seed (analysis settings do not change metrics).
_CELL = "task_label, task, task_version, method, method_version, hparams_t, task_params_t, train_t"

_SUMMARY_SQL = f"""
WITH r AS (
    SELECT run_id, status, task_label, task, task_version, method, method_version,
           CAST(hparams AS VARCHAR) AS hparams_t, CAST(task_params AS VARCHAR) AS task_params_t,
           CAST(train AS VARCHAR) AS train_t
    FROM runs
),
cells AS (
    SELECT {_CELL}, count(*) FILTER (WHERE status <> 'ok') AS not_ok FROM r GROUP BY {_CELL}
)
SELECT {_CELL}, m.checkpoint, m.domain, m.split, m.metric,
       bool_or(m.in_domain), bool_or(m.higher_is_better),
       avg(m.value), stddev_samp(m.value), count(m.value), any_value(cells.not_ok)
FROM r JOIN metrics m USING (run_id) JOIN cells USING ({_CELL})
WHERE r.status = 'ok'
GROUP BY {_CELL}, m.checkpoint, m.domain, m.split, m.metric
ORDER BY task_label, method, hparams_t, task_params_t, train_t, m.checkpoint DESC,
         bool_or(m.in_domain) DESC, m.domain, m.split, m.metric
"""


def summary(con) -> list[SummaryRow]:
    """Mean, sample std and n over seeds per task x method cell x checkpoint x domain x split x metric.

    Cells that differ in hparams, task params or train setup are separate rows (never averaged
    together). Checkpoints sort "selected" before "final", in-domain before out-of-domain.
    """
    out = []
    for row in con.execute(_SUMMARY_SQL).fetchall():
        (label, task, tv, method, mv, hp, tp, tr, ckpt, domain, split, metric, ind, hib, mean, std, n, not_ok) = row
        out.append(SummaryRow(
            task_label=label, task=task, task_version=tv, method=method, method_version=mv,
            hparams=json.loads(hp), task_params=json.loads(tp), train=json.loads(tr), checkpoint=ckpt,
            domain=domain, split=split, metric=metric, in_domain=ind, higher_is_better=hib,
            mean=mean, std=std, n=int(n), not_ok=int(not_ok),
        ))
    return out
