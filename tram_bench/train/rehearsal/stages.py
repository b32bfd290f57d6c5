"""How a paper-tier cell becomes a rehearsal cell: generated data and a random-weight checkpoint in its place.

:func:`stage` writes (once per rehearsal) the generated dataset of the cell's task (:mod:`.hubdata`) and the
random-weight folder of its checkpoint (:mod:`.checkpoints`), and returns the task-parameter overrides that
point the task's own loaders at them, plus caps that keep evaluation to at most two batches. Everything else
of the cell (method, hyperparameters, precision, sequence length, image size) is the suite's.

Tasks without hub data (the embedded tier) are rehearsed as they are: :func:`stage` returns no overrides.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tram_bench.train.rehearsal import hubdata
from tram_bench.train.rehearsal.checkpoints import checkpoint_for, write_checkpoint

# Batches an evaluation set may fill in a rehearsal (the "at most 2 evaluation batches").
EVAL_BATCHES = 2


@dataclass(frozen=True)
class Staged:
    """What :func:`stage` gives a cell.

    params: task-parameter overrides (local data and model folders, evaluation caps); architecture: the
    checkpoint's hub id (or the task id where nothing is staged); input: what one example is, e.g.
    ``224x224 px`` or ``1024 tokens``; tokens: sequence positions per example (ViT: patches + CLS);
    classes: logits per output position (the vocabulary for a language model); per_token: one output per
    position (a language model) rather than one per example.
    """

    params: dict[str, Any] = field(default_factory=dict)
    architecture: str = ""
    input: str = ""
    tokens: int | None = None
    classes: int | None = None
    per_token: bool = False

    @property
    def logits_per_example(self) -> int:
        return ((self.tokens or 1) if self.per_token else 1) * (self.classes or 0)


@dataclass
class Workdir:
    """The rehearsal's scratch folder and what is already written there (each dataset and model once).

    ``dry``: name the folders without writing anything (to tell cells apart before staging them)."""

    root: Path
    tiny: bool = False
    dry: bool = False
    _done: dict[str, Path] = field(default_factory=dict)

    def once(self, key: str, write: Callable[[Path], Any]) -> Path:
        # A readable head and a hash of the whole key: M2D2's eleven config names exceed a file name's limit.
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        path = self.root / f"{key.split('/')[0]}-{key.split('/')[1][:40].replace(' ', '_')}-{digest}"
        if not self.dry and key not in self._done:
            write(path)
            self._done[key] = path
        return path

    def dry_run(self) -> "Workdir":
        """The same folder names, nothing written."""
        return Workdir(self.root, tiny=self.tiny, dry=True)

    def model(self, hub_id: str) -> str:
        return str(self.once(f"model/{hub_id}", lambda p: write_checkpoint(hub_id, p, tiny=self.tiny)))


def _vision(writer: Callable[[Path], Path], classes: int) -> Callable[[str, dict, int, Workdir], Staged]:
    def staged(task: str, params: dict, batch_size: int, work: Workdir) -> Staged:
        ck = checkpoint_for(params["model_path"])
        side, patch = ck.config["image_size"], ck.config["patch_size"]
        return Staged(
            params={"dataset_path": str(work.once(f"data/{task}", writer)), "revision": None,
                    "model_path": work.model(ck.hub_id), "model_revision": None,
                    "eval_size": EVAL_BATCHES * batch_size},
            architecture=ck.hub_id, input=f"{side}x{side} px", tokens=(side // patch) ** 2 + 1, classes=classes,
        )

    return staged


def _m2d2(task: str, params: dict, batch_size: int, work: Workdir) -> Staged:
    from tram_bench.tasks.lm.m2d2 import M2D2Params

    p = M2D2Params(**params)
    ck = checkpoint_for(p.model_path)
    vocab, block = ck.config["vocab_size"], p.block_size
    configs = [p.train_domain, *p.zero_shot_domains()]
    # A line of `block` words is a block of targets: enough lines for two batches of every split.
    lines = {name: EVAL_BATCHES * batch_size + 1 for name in ("train", "valid", "test")}
    data = work.once(f"data/{task}/{'+'.join(configs)}/{block}",
                     lambda d: hubdata.write_m2d2(d, configs, vocab, block, lines))
    cap = EVAL_BATCHES * batch_size * block
    return Staged(
        params={"dataset_path": str(data), "dataset_revision": None, "model_path": work.model(ck.hub_id),
                "model_revision": None, "max_val_tokens": cap, "max_eval_tokens": cap},
        architecture=ck.hub_id, input=f"{block} tokens", tokens=block, classes=vocab, per_token=True,
    )


def _xnli(task: str, params: dict, batch_size: int, work: Workdir) -> Staged:
    from tram_bench.tasks.xling.xnli_task import XNLIParams

    p = XNLIParams(**params)
    ck = checkpoint_for(p.model)
    vocab = ck.config["vocab_size"]
    # Premise and hypothesis long enough that every pair is truncated to max_length.
    words = (p.max_length, p.max_length // 2)
    rows = max(4, EVAL_BATCHES * batch_size)
    mnli = work.once(f"data/{task}/mnli", lambda d: hubdata.write_mnli(d, vocab, 2 * rows, words))
    xnli = work.once(f"data/{task}/xnli", lambda d: hubdata.write_xnli(d, vocab, rows, words))
    return Staged(
        params={"mnli": str(mnli), "mnli_revision": None, "xnli": str(xnli), "xnli_revision": None,
                "model": work.model(ck.hub_id), "model_revision": None,
                "max_eval_examples": EVAL_BATCHES * batch_size},
        architecture=ck.hub_id, input=f"{p.max_length} tokens", tokens=p.max_length, classes=len(hubdata.NLI_LABELS),
    )


STAGES: dict[str, Callable[[str, dict, int, Workdir], Staged]] = {
    "vit-cifar100": _vision(hubdata.write_cifar100, hubdata.CIFAR100_FINE),
    "vit-cars": _vision(hubdata.write_cars, hubdata.CARS_CLASSES),
    "vit-flowers": _vision(hubdata.write_flowers, hubdata.FLOWERS_CLASSES),
    "dg-pacs": _vision(hubdata.write_pacs, len(hubdata.PACS_LABELS)),
    "dg-office-home": _vision(hubdata.write_office_home, hubdata.OFFICE_HOME_CLASSES),
    "lm-m2d2": _m2d2,
    "xling-xnli": _xnli,
}


def stage(task: str, params: dict[str, Any], batch_size: int, work: Workdir) -> Staged:
    """The overrides of one cell's task parameters (see module docstring). Raises KeyError for a paper-tier
    checkpoint without a known configuration; an unknown task id is rehearsed as it is."""
    fn = STAGES.get(task)
    if fn is None:
        return Staged(architecture=task, input=", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "-")
    return fn(task, params, batch_size, work)
