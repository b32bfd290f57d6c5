"""What the two cross-lingual tasks share once their data is tokenised: batching, evaluation sets,
the objective and the representation hook.

A subclass fills ``self._data`` (``"train"``, ``"val"``, ``"test/<language>"`` -> EncodedExamples) and
``self._pad_id`` in its constructor, and builds the model. Its ``params`` carry ``languages`` (the
zero-shot target languages, in report order).
"""

from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import nn

from tram_bench.tasks.base import EvalSet, Task, shuffled_batches
from tram_bench.tasks.xling.classifier import ClassificationObjective, representation
from tram_bench.tasks.xling.text_batches import EncodedExamples, collate, eval_batches

SOURCE_LANGUAGE = "en"


class EncodedTextTask(Task):
    family = "xling"
    _data: dict[str, EncodedExamples]
    _pad_id: int
    _objective = ClassificationObjective()

    @property
    def objective(self) -> ClassificationObjective:
        return self._objective

    def num_train_examples(self) -> int:
        return len(self._data["train"])

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
        data = self._data["train"]
        for idx in shuffled_batches(len(data), batch_size, generator):
            yield collate(data, idx.tolist(), self._pad_id, self.device)

    def _eval_set(self, name: str, domain: str, split: str, in_domain: bool) -> EvalSet:
        data = self._data[name]

        def batches(batch_size: int | None = None):
            # The loop passes train.eval_batch_size; None (direct API use) means the task's default.
            size = batch_size or self.train_defaults.eval_batch_size
            return eval_batches(data, size, self._pad_id, self.device)

        return EvalSet(domain=domain, split=split, in_domain=in_domain, batches=batches, size=len(data))

    def eval_sets(self) -> list[EvalSet]:
        """English ``val`` (selection only) and ``test`` (in-domain), then one zero-shot test set per
        target language; every domain is named by its language code."""
        sets = [
            self._eval_set("val", SOURCE_LANGUAGE, "val", True),
            self._eval_set(f"test/{SOURCE_LANGUAGE}", SOURCE_LANGUAGE, "test", True),
        ]
        sets += [self._eval_set(f"test/{lang}", lang, "test", False) for lang in self.params.languages]
        return sets

    def representation(self, model: nn.Module, batch: Any) -> torch.Tensor:
        return representation(model, batch)
