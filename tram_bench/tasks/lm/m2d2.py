"""Paper tier: GPT-2 base on M2D2 (Reid et al. 2022), TRAM paper section 4.2, Tables 4, 9, 10, 11.

Data: the hub dataset ``machelreid/m2d2`` is *script-only* (``m2d2.py``; no parquet), and
``datasets >= 4`` cannot run loading scripts. So this loader never calls ``load_dataset``: it reads the
per-config archive ``data/<config>.tar.gz`` (members ``<config>/train.txt``, ``valid.txt``,
``test.txt``) that the script itself downloads, fetched with ``huggingface_hub.hf_hub_download``,
or a local copy given as ``dataset_path``: a folder holding ``<config>.tar.gz``,
``data/<config>.tar.gz`` (a snapshot of the dataset repo), or an extracted ``<config>/`` folder.
As in the script, one example is one line (``line.strip()``); blank lines are dropped (the
``text != ""`` filter public users apply). Config names are used verbatim, including the hub's
misspellings ``General_referece`` and ``Human_activites``. Licence: CC BY-NC 4.0.

Splits: ``train`` -> train.txt, ``val`` (selection) -> valid.txt, ``test`` -> test.txt. The
out-of-domain domains are evaluated on their test split, like the paper's Table 4.

Tokenization: the model's own tokenizer (GPT-2 BPE), examples separated by ``<|endoftext|>``
(``separator: eos``) or by a newline (``separator: newline``), packed into blocks of 1024 tokens
(see ``blocks``). Token streams are cached once per machine (the Soc. training split is ~380M tokens).

Model: ``openai-community/gpt2`` (124M; the paper says 112M), or any local causal-LM folder in
``model_path`` (tests use a tiny GPT-2 built offline). The zero-shot row of Table 4 is
``task.evaluate(task.build_model(), eval_set)`` for every eval set: no fine-tuning step at all.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from torch import nn

from tram_bench.tasks.base import TrainDefaults
from tram_bench.tasks.lm.blocks import truncate_targets
from tram_bench.tasks.lm.encoder import TextEncoder, cached_token_stream
from tram_bench.tasks.lm.task import CausalLMTask, LMData, LMSplit
from tram_bench.tasks.params import check_choice, check_int, check_text, check_texts

M2D2_REPO = "machelreid/m2d2"
SPLIT_FILES = {"train": "train.txt", "val": "valid.txt", "test": "test.txt"}

# The ten zero-shot domains of Table 4 for each training domain (hub config names).
WIKI_ZERO_SHOT = (
    "Culture_and_the_arts",
    "General_referece",
    "Health_and_fitness",
    "History_and_events",
    "Human_activites",
    "Mathematics_and_logic",
    "Natural_and_physical_sciences",
    "Philosophy_and_thinking",
    "Religion_and_belief_systems",
    "Technology_and_applied_sciences",
)
# The S2ORC config names are inferred from the hub's name list (the eleven arXiv groups carry an
# "_l1" suffix; Art and Philosophy are the other top-level names): confirm on the first real run.
S2ORC_ZERO_SHOT = (
    "Art",
    "astro-ph_l1",
    "cond-mat_l1",
    "cs_l1",
    "econ_l1",
    "nlin_l1",
    "Philosophy",
    "physics_l1",
    "q-bio_l1",
    "stat_l1",
)
TABLE4_ZERO_SHOT = {"Society_and_social_sciences": WIKI_ZERO_SHOT, "math_l1": S2ORC_ZERO_SHOT}
SEPARATORS = ("eos", "newline")


@dataclass(frozen=True)
class M2D2Location:
    """Where one config's text files are: an extracted folder or a ``.tar.gz`` archive."""

    config: str
    path: Path
    is_archive: bool

    def source_key(self, split: str) -> dict:
        """Identity of one split's text for the token cache (file, size, modification time)."""
        f = self.path if self.is_archive else self.path / SPLIT_FILES[split]
        st = f.stat()
        return {
            "corpus": "m2d2",
            "config": self.config,
            "split": split,
            "file": str(f.resolve()),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
        }

    def lines(self, split: str) -> Iterator[str]:
        """The split's examples, one per line, stripped (streamed; never the whole file in memory)."""
        name = SPLIT_FILES[split]
        if not self.is_archive:
            with open(self.path / name, encoding="utf-8") as fh:
                for line in fh:
                    yield line.strip()
            return
        member = f"{self.config}/{name}"
        with tarfile.open(self.path, "r:gz") as tar:
            try:
                info = tar.getmember(member)
            except KeyError:
                raise FileNotFoundError(f"M2D2 archive {self.path} has no member {member!r}") from None
            raw = tar.extractfile(info)
            if raw is None:
                raise FileNotFoundError(f"M2D2 archive member {member!r} in {self.path} is not a file")
            with io.TextIOWrapper(raw, encoding="utf-8") as fh:
                for line in fh:
                    yield line.strip()


def locate_config(config: str, dataset_path: str | None, revision: str | None = None) -> M2D2Location:
    """Find one M2D2 config locally (``dataset_path``) or in the hub cache / on the hub."""
    if dataset_path is not None:
        root = Path(dataset_path).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"M2D2 dataset_path {dataset_path!r} is not a directory")
        if all((root / config / f).is_file() for f in SPLIT_FILES.values()):
            return M2D2Location(config, root / config, is_archive=False)
        for archive in (root / f"{config}.tar.gz", root / "data" / f"{config}.tar.gz"):
            if archive.is_file():
                return M2D2Location(config, archive, is_archive=True)
        raise FileNotFoundError(
            f"M2D2 config {config!r} not found under dataset_path {dataset_path!r} "
            f"(expected {config}/{{train,valid,test}}.txt, {config}.tar.gz or data/{config}.tar.gz)"
        )
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(M2D2_REPO, f"data/{config}.tar.gz", repo_type="dataset", revision=revision)
    except Exception as exc:  # noqa: BLE001 - hub errors are multi-line; the user needs one line
        raise FileNotFoundError(
            f"cannot get M2D2 config {config!r} from the hub dataset {M2D2_REPO} "
            f"({type(exc).__name__}); pass dataset_path= to a local copy"
        ) from None
    return M2D2Location(config, Path(path), is_archive=True)


@dataclass
class M2D2Params:
    """train_domain: an M2D2 config (Table 4: ``Society_and_social_sciences`` or ``math_l1``).
    eval_domains: zero-shot configs; None takes Table 4's ten for the training domain.
    dataset_path / model_path: local copies for offline use (None / the hub id otherwise).
    max_*_tokens: cap the prediction targets of a split (None: the whole split, as in the paper).

    Raises ValueError (one line: the key, the allowed values, the value) for a value outside these.
    """

    train_domain: str = "Society_and_social_sciences"
    eval_domains: list[str] | None = None
    dataset_path: str | None = None
    dataset_revision: str | None = None
    model_path: str = "openai-community/gpt2"
    model_revision: str | None = None
    block_size: int = 1024
    separator: str = "eos"
    max_train_tokens: int | None = None
    max_val_tokens: int | None = None
    max_eval_tokens: int | None = None
    eval_batch_size: int = 8  # only when a caller passes no batch size; the runner uses train.eval_batch_size

    def __post_init__(self) -> None:
        check_text("train_domain", self.train_domain)
        check_texts("eval_domains", self.eval_domains, optional=True)
        for k in ("dataset_path", "dataset_revision", "model_revision"):
            check_text(k, getattr(self, k), optional=True)
        check_text("model_path", self.model_path)
        check_choice("separator", self.separator, SEPARATORS)
        check_int("block_size", self.block_size, 2)
        check_int("eval_batch_size", self.eval_batch_size, 1)
        for k in ("max_train_tokens", "max_val_tokens", "max_eval_tokens"):
            check_int(k, getattr(self, k), 1, optional=True)
        if self.eval_domains is None and self.train_domain not in TABLE4_ZERO_SHOT:
            raise ValueError(
                f"train_domain {self.train_domain!r} has no default zero-shot domains "
                f"(defaults exist for {', '.join(TABLE4_ZERO_SHOT)}); set eval_domains"
            )

    def zero_shot_domains(self) -> list[str]:
        if self.eval_domains is not None:
            return [d for d in self.eval_domains if d != self.train_domain]
        return list(TABLE4_ZERO_SHOT[self.train_domain])


class M2D2GPT2Task(CausalLMTask):
    """GPT-2 fine-tuned on one M2D2 domain, perplexity in-domain and on ten unseen domains."""

    id = "lm-m2d2"
    version = "1"
    tier = "paper"
    Params = M2D2Params
    # Appendix B.1: 50k steps, lr 2e-5, polynomial decay, 10k warmup; 16 blocks x 1024 tokens.
    train_defaults = TrainDefaults(
        steps=50_000,
        batch_size=16,
        lr=2e-5,
        schedule="polynomial",
        warmup_steps=10_000,
        selection="val_loss",
        eval_every=5_000,
        eval_batch_size=8,
    )
    description = "M2D2 (Reid et al. 2022): GPT-2 base fine-tuned on one coarse domain; perplexity on ten unseen domains."

    def load_data(self) -> LMData:
        p = self.params
        encoder = self._encoder()

        def stream(config: str, split: str) -> np.ndarray:
            loc = locate_config(config, p.dataset_path, p.dataset_revision)
            return cached_token_stream(encoder, loc.source_key(split), lambda: loc.lines(split))

        td = p.train_domain
        splits = [
            LMSplit(td, "val", True, truncate_targets(stream(td, "val"), p.max_val_tokens)),
            LMSplit(td, "test", True, truncate_targets(stream(td, "test"), p.max_eval_tokens)),
        ]
        splits += [
            LMSplit(d, "test", False, truncate_targets(stream(d, "test"), p.max_eval_tokens))
            for d in p.zero_shot_domains()
        ]
        train = truncate_targets(stream(td, "train"), p.max_train_tokens)
        return LMData(encoder=encoder, train_tokens=train, eval_splits=splits)

    def _encoder(self) -> TextEncoder:
        from transformers import AutoTokenizer

        p = self.params
        try:
            tok = AutoTokenizer.from_pretrained(p.model_path, revision=p.model_revision)
        except Exception as exc:  # noqa: BLE001 - one line for the user
            raise FileNotFoundError(
                f"cannot load the tokenizer of model_path {p.model_path!r} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''})"
            ) from None
        if tok.eos_token_id is None:
            raise ValueError(f"the tokenizer of model_path {p.model_path!r} has no EOS token")
        backend = tok.backend_tokenizer
        eos = int(tok.eos_token_id)
        if p.separator == "eos":
            sep: tuple[int, ...] = (eos,)
        else:
            sep = tuple(backend.encode("\n", add_special_tokens=False).ids)
        return TextEncoder(tokenizer=backend, sep_ids=sep, pad_id=eos)

    def build_model(self) -> nn.Module:
        import torch
        from transformers import AutoModelForCausalLM

        p = self.params
        model = AutoModelForCausalLM.from_pretrained(p.model_path, revision=p.model_revision, dtype=torch.float32)
        n_pos = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", None)
        if n_pos is not None and p.block_size > n_pos:
            raise ValueError(f"block_size {p.block_size} exceeds the context length {n_pos} of model_path {p.model_path!r}")
        return model.to(self.device)
