"""MethodTrainer (tram_bench.integrations.hf) gives the weights of tram-bench's own step, bit for bit."""

from __future__ import annotations

import copy
import logging

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from adapter_support import ACCUMULATION, BATCH, METHOD_CASES, STEPS, Schedule, assert_same_weights, reference_run  # noqa: E402

from tram_bench.integrations.hf import HFObjective, MethodTrainer  # noqa: E402


def _bert(seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
        max_position_embeddings=16, num_labels=3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    return transformers.BertForSequenceClassification(config).double()


def _examples(n: int, seed: int = 1) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 40, (n, 6), generator=g)
    labels = torch.randint(0, 3, (n,), generator=g)
    return [{"input_ids": ids[i], "attention_mask": torch.ones(6, dtype=torch.long), "labels": labels[i]} for i in range(n)]


def _args(tmp_path, sched: Schedule, accumulation: int, **extra):
    return transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none", save_strategy="no", disable_tqdm=True,
        max_steps=STEPS, per_device_train_batch_size=BATCH // accumulation, gradient_accumulation_steps=accumulation,
        learning_rate=sched.lr, weight_decay=sched.weight_decay, max_grad_norm=sched.max_grad_norm,
        lr_scheduler_type=sched.schedule, warmup_steps=sched.warmup, seed=sched.seed,
        train_sampling_strategy="sequential", logging_steps=5, **extra,
    )


def _stacked(examples: list[dict]) -> list[dict]:
    return [{k: torch.stack([e[k] for e in examples[i:i + BATCH]]) for k in examples[0]}
            for i in range(0, len(examples), BATCH)]


@pytest.fixture(autouse=True)
def _quiet():
    transformers.logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)


@pytest.mark.parametrize("accumulation", ACCUMULATION)
@pytest.mark.parametrize("method,values", METHOD_CASES, ids=[m for m, _ in METHOD_CASES])
def test_trainer_weights_equal_tram_bench_step(tmp_path, method, values, accumulation):
    sched = Schedule()
    model = _bert()
    reference = copy.deepcopy(model)
    data = _examples(STEPS * BATCH)
    trainer = MethodTrainer(model=model, args=_args(tmp_path, sched, accumulation), train_dataset=data,
                            method=method, method_hparams=values)
    trainer.train()
    reference_run(reference, HFObjective(causal_lm=False), method, values, _stacked(data), accumulation, sched)
    assert_same_weights(model, reference)


def test_trainer_logs_d_and_e_norm(tmp_path):
    trainer = MethodTrainer(model=_bert(), args=_args(tmp_path, Schedule(), 1), train_dataset=_examples(STEPS * BATCH),
                            method="tram-prev")
    trainer.train()
    logs = [row for row in trainer.state.log_history if "loss" in row]
    assert len(logs) == STEPS // 5
    for row in logs:
        assert row["divergence"] >= 0 and row["perturbation_norm"] > 0
