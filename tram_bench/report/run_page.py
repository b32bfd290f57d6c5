"""One page per run of the static leaderboard: its provenance and its training curves.

Written to ``<site>/runs/<run id>.html`` by ``site.build_site`` when the results directory is known, from
the run's ``metrics.jsonl`` (:mod:`tram_bench.report.curves`): training loss, the validation metrics
logged during training (one chart per split and metric, one line per domain), and for the methods that
log them TRAM's d and the perturbation norm ‖e‖. Each curve has at most ``curves.MAX_POINTS`` points.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

from tram_bench.report.charts import Panel, Series, line_panels
from tram_bench.report.curves import MAX_POINTS, RunCurves
from tram_bench.report.formatting import fmt
from tram_bench.report.htmlkit import h, page
from tram_bench.report.model import RunRow

RUNS_DIR = "runs"
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def run_page_name(run_id: str, slug) -> str:
    """``runs/<run id>.html`` for a plain id (the collector's hex ids), else ``runs/<slug>.html``
    (``slug``: the site's file-name function), relative to the site root."""
    return f"{RUNS_DIR}/{run_id if _PLAIN_ID.fullmatch(run_id) else slug(run_id)}.html"


def _href(path: str) -> str:
    return h(quote(path))


def _chart(c: RunCurves, run: RunRow) -> tuple[str, int]:
    """One figure of stacked panels (training loss; each validation metric, a line per domain; d and ‖e‖)
    and the most points any of its curves logged; ("", 0) without curves."""
    panels = []
    if "loss" in c.train:
        cur = c.train["loss"]
        panels.append(Panel("training loss", "loss", [Series(cur.name, cur.steps, cur.values)]))
    groups: dict[tuple[str, str], list] = {}
    for (split, metric, _), cur in c.eval.items():
        groups.setdefault((split, metric), []).append(cur)
    for (split, metric), curves in groups.items():
        panels.append(Panel(f"{metric}, {split} split", metric,
                            [Series(cur.name, cur.steps, cur.values) for cur in curves]))
    # d: TRAM's and the trust-region methods' divergence; ‖e‖: any two-pass method's perturbation.
    names = {"divergence": ("trust-region divergence d", "d"), "perturbation_norm": ("perturbation norm ‖e‖", "‖e‖")}
    present = [k for k in names if k in c.train]
    if present:
        panels.append(Panel(" and ".join(names[k][0] for k in present), ", ".join(names[k][1] for k in present),
                            [Series(c.train[k].name, c.train[k].steps, c.train[k].values) for k in present]))
    if not panels:
        return "", 0
    n = max([cur.n_raw for cur in c.train.values()] + [cur.n_raw for cur in c.eval.values()])
    return line_panels(panels, x_label="step", title=f"{run.config}, seed {run.seed}: training curves"), n


def run_page(run: RunRow, curves: RunCurves, *, suite: str, task_label: str, task_page: str,
             results_dir: Path, out_dir: Path, generated: str) -> str:
    """The page of one run. ``task_page`` is the task page's file name (the site root is one level up);
    ``results_dir`` and ``out_dir`` give the relative links to the run's ``record.json`` and
    ``metrics.jsonl``. Every string is escaped."""
    run_dir = results_dir / "runs" / run.run_id
    links = []
    for name in ("record.json", "metrics.jsonl"):
        if (run_dir / name).is_file():
            rel = os.path.relpath(run_dir / name, out_dir / RUNS_DIR)
            links.append(f'<a href="{_href(rel)}">{h(name)}</a>')
    facts = [("task", f'<a href="{_href("../" + task_page)}">{h(task_label)}</a> (suite {h(suite)})'),
             ("method", h(run.config)), ("seed", h(run.seed)), ("status", h(run.status)),
             ("wall time (s)", h(fmt(run.wall_time_s))), ("finished", h(run.finished_at or "–")),
             ("git commit", h(run.git_commit or "–")),
             ("device", h(" ".join(x for x in (run.device, run.device_name) if x) or "–")),
             ("precision", h(run.precision or "–")), ("files", " · ".join(links) or "–")]
    body = [f'<h1>run {h(run.run_id)}</h1>',
            '<dl class="facts">' + "".join(f"<dt>{h(k)}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"]
    if run.error:
        body.append(f'<p class="banner partial" role="alert">{h("error: " + run.error)}</p>')
    body.append("<h2>Training curves</h2>")
    svg, n = _chart(curves, run)
    if svg:
        note = (f"From the run’s metrics.jsonl ({n} points in its longest curve); a curve longer than {MAX_POINTS} "
                "points is drawn with the lowest and highest value of each run of consecutive steps, so spikes "
                "stay visible.")
        body.append(f'<figure class="curves">{svg}<figcaption>{h(note)}</figcaption></figure>')
    else:
        body.append('<p class="note">This run logged no training curve (no metrics.jsonl, or no train and eval '
                    "rows in it).</p>")
    # No script: nothing on a run page sorts or filters.
    return page(f"run {run.run_id} — {task_label} — tram-bench", "".join(body), home="../index.html",
                generated=generated, script=False)


__all__ = ["RUNS_DIR", "run_page", "run_page_name"]
