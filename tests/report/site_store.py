"""A fixture store the size of the embedded suites (by default 3 tasks x 11 methods x 3 seeds, 1 ID + 15 OOD domains),
with each run's directory (``record.json``, ``metrics.jsonl`` of ``steps`` training steps) on disk, for the
site's size, determinism and run-page tests. Values are a deterministic function of (task, method, seed)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from report_fixtures import Metric, StoreBuilder, new_store

METHODS = {"sgd": {}, "sam": {"rho": 0.05}, "asam": {"rho": 0.5}, "fisher_sam": {"rho": 0.1},
           "tram-prev": {}, "tram-init": {}, "tram-x": {"sigma": 0.01}, "tram-fisher": {},
           "trpo": {}, "r3f": {"sigma": 1e-5}, "mesa": {}}
TRAM = ("tram-prev", "tram-init", "tram-x", "tram-fisher")
TASKS = ("mnist-to-uci", "uci-to-mnist", "uci-to-mnist-lite0")
OOD = tuple(f"corruption-{i:02d}" for i in range(15))


def _acc(task: int, method: int, seed: int, domain: int) -> float:
    return round(0.95 - 0.02 * domain + 0.003 * math.sin(1.0 + task + 3 * method + 7 * seed + 11 * domain), 6)


def write_run_dir(results: Path, run_id: str, method: str, seed: int, steps: int) -> None:
    """``metrics.jsonl`` as the training loop writes it: a train row per step (TRAM methods with d and
    ||e||), validation rows every 25 steps; then ``record.json`` and ``done``."""
    d = results / "runs" / run_id
    d.mkdir(parents=True, exist_ok=True)
    lines = []
    for step in range(1, steps + 1):
        row = {"kind": "train", "step": step, "loss": round(2.0 * math.exp(-step / 300) + 0.05 * math.sin(step + seed), 6),
               "lr": 0.05, "forward": 2, "backward": 2, "skipped": False}
        if method in TRAM:
            row["divergence"] = round(0.01 + 0.005 * math.cos(step / 7 + seed), 6)
            row["perturbation_norm"] = round(0.02 + 0.004 * math.sin(step / 5), 6)
        lines.append(json.dumps(row))
        if step % 25 == 0:
            for metric, value in (("loss", 1.5 * math.exp(-step / 400)), ("accuracy", 0.9 - 0.5 * math.exp(-step / 200))):
                lines.append(json.dumps({"kind": "eval", "step": step, "domain": "clean", "split": "val",
                                         "metric": metric, "value": round(value, 6)}))
    (d / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    (d / "record.json").write_text(json.dumps({"run_id": run_id, "status": "ok"}))
    (d / "done").write_text("ok")


def build_embedded_like(results: Path | None = None, steps: int = 200, suite: str = "vision", seeds: int = 3,
                        methods: tuple[str, ...] = tuple(METHODS), tasks: tuple[str, ...] = TASKS,
                        task_ids: tuple[str, ...] | None = None) -> StoreBuilder:
    """``tasks`` (labels) x ``methods`` x ``seeds`` runs, each with its run directory under ``results`` when
    given; ``task_ids``: each label's task id (default ``digits`` for all)."""
    task_ids = task_ids or ("digits",) * len(tasks)
    b = new_store()
    for ti, task in enumerate(tasks):
        for mi, method in enumerate(methods):
            for seed in range(seeds):
                ms = []
                for ckpt in ("selected", "final"):
                    for di, dom in enumerate(("clean",) + OOD):
                        acc = _acc(ti, mi, seed, di) - (0.005 if ckpt == "final" else 0.0)
                        ms.append(Metric(dom, acc, di == 0, checkpoint=ckpt))
                        ms.append(Metric(dom, round(1 - acc, 6), di == 0, metric="loss", checkpoint=ckpt))
                    ms.append(Metric("clean", _acc(ti, mi, seed, 0), True, split="val", checkpoint=ckpt))
                rid = b.add_run(suite, task_ids[ti], method, seed, ms, hparams={"base": "sgd", **METHODS[method]},
                                label=task, steps=steps)
                if results is not None:
                    write_run_dir(results, rid, method, seed, steps)
        b.declare(suite, task_ids[ti], "sgd", {"base": "sgd"}, label=task)
    return b
