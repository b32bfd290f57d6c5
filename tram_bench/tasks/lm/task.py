"""``CausalLMTask``: what every LM task of the family shares.

A concrete task supplies its data (:class:`LMData`: tokenizer, training stream, evaluation streams)
and a pretrained model; this class turns them into blocks, batches, eval sets, the perplexity
metric and the CKA representation. The model is never given a new head: fine-tuning starts from the
full pretrained LM, so ``build_model()`` is also the zero-shot (not fine-tuned) model, and
``evaluate(task.build_model(), eval_set)`` is the method-free evaluation of the paper's "zero-shot"
row.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from tram_bench.tasks.base import PERPLEXITY, EvalSet, Task, move_to, shuffled_batches
from tram_bench.tasks.lm.blocks import BlockView, indexed_batch, sequential_batches
from tram_bench.tasks.lm.encoder import TextEncoder
from tram_bench.tasks.lm.objective import CausalLMObjective, NLLTotal, masked_mean_hidden


@dataclass
class LMSplit:
    """The token stream of one domain and split."""

    domain: str
    split: str  # "val" or "test"
    in_domain: bool
    tokens: np.ndarray


@dataclass
class LMData:
    """Everything a task reads: the tokenizer, the training stream, and the evaluation streams in
    the order the task contract wants (in-domain val, in-domain test, then out-of-domain tests)."""

    encoder: TextEncoder
    train_tokens: np.ndarray
    eval_splits: list[LMSplit]


class CausalLMTask(Task):
    """Shared implementation; subclasses define ``load_data`` and ``build_model``.

    ``params`` must carry ``block_size`` and ``eval_batch_size``.
    """

    family = "lm"
    primary_metric = PERPLEXITY

    def __init__(self, params: Any, *, seed: int, device: torch.device | str = "cpu") -> None:
        super().__init__(params, seed=seed, device=device)
        self._objective = CausalLMObjective()
        self.data = self.load_data()
        self._train_view = BlockView(self.data.train_tokens, params.block_size)
        if len(self._train_view) == 0:
            raise ValueError(f"task {self.id}: the training split holds no block of tokens")

    @classmethod
    def train_tokens_bound(cls, params: Any) -> int | None:
        """An upper bound on the training stream's length in tokens, known without tokenizing (None:
        unknown). A family whose text is on disk can bound it by its bytes (byte-level BPE)."""
        return None

    @classmethod
    def train_examples_bound(cls, params: Any) -> int | None:
        """Training blocks of at most ``params.max_train_tokens`` targets, or of the family's own
        :meth:`train_tokens_bound` (stride ``block_size - 1``, as :class:`BlockView` counts them);
        None when neither is known."""
        bounds = [b for b in (getattr(params, "max_train_tokens", None), cls.train_tokens_bound(params))
                  if b is not None]
        if not bounds:
            return None
        return -(-min(bounds) // (params.block_size - 1))  # BlockView's ceil((n - 1) / stride), n = bound + 1

    @abstractmethod
    def load_data(self) -> LMData:
        """Tokenizer and token streams (cached on disk; called once per task instance)."""

    @property
    def objective(self) -> CausalLMObjective:
        return self._objective

    @property
    def pad_id(self) -> int:
        return self.data.encoder.pad_id

    # --- data ------------------------------------------------------------------------------
    def num_train_examples(self) -> int:
        """Training blocks (each ``block_size`` tokens, ``block_size - 1`` targets)."""
        return len(self._train_view)

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
        for idx in shuffled_batches(len(self._train_view), batch_size, generator):
            yield move_to(indexed_batch(self._train_view, idx, self.pad_id), self.device)

    def eval_sets(self) -> list[EvalSet]:
        """``size`` is the number of target tokens that the perplexity averages over."""
        return [self._eval_set(s) for s in self.data.eval_splits]

    def _eval_set(self, s: LMSplit) -> EvalSet:
        view = BlockView(s.tokens, self.params.block_size)

        def batches(batch_size: int | None = None) -> Iterator[dict[str, torch.Tensor]]:
            bs = batch_size or self.params.eval_batch_size
            for batch in sequential_batches(view, bs, self.pad_id):
                yield move_to(batch, self.device)

        return EvalSet(domain=s.domain, split=s.split, in_domain=s.in_domain, batches=batches, size=view.num_targets)

    # --- evaluation ------------------------------------------------------------------------
    def evaluate(self, model: nn.Module, eval_set: EvalSet) -> dict[str, float]:
        """``perplexity`` = exp(``loss``), ``loss`` = token-weighted mean NLL over every target token
        of the eval set (padding excluded)."""
        was_training = model.training
        model.eval()
        total = NLLTotal()
        try:
            with torch.no_grad():
                for batch in eval_set.batches():
                    total.add(self._objective.forward_tokens(model, batch))
        finally:
            model.train(was_training)
        if total.tokens == 0:
            raise ValueError(f"eval set {eval_set.key} of task {self.id} holds no target token")
        return {"perplexity": total.perplexity, "loss": total.mean_nll}

    def representation(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Last-layer hidden states averaged over the real tokens of each block: ``[B, D]``."""
        out = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            output_hidden_states=True,
            use_cache=False,
        )
        return masked_mean_hidden(out.hidden_states[-1], batch["attention_mask"])
