"""MethodTrainer (tram_bench.integrations.hf) gives the weights of tram-bench's own step, bit for bit."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from adapter_support import (  # noqa: E402
    ACCUMULATION, BATCH, METHOD_CASES, STEPS, Schedule, assert_same_weights, hparams, reference_run,
)

from tram_bench.integrations.hf import HFObjective, MethodTrainer  # noqa: E402
from tram_bench.methods.base import StepContext  # noqa: E402
from tram_bench.methods.registry import METHODS  # noqa: E402


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
    options = dict(
        output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none", save_strategy="no", disable_tqdm=True,
        max_steps=STEPS, per_device_train_batch_size=BATCH // accumulation, gradient_accumulation_steps=accumulation,
        learning_rate=sched.lr, weight_decay=sched.weight_decay, max_grad_norm=sched.max_grad_norm,
        lr_scheduler_type=sched.schedule, warmup_steps=sched.warmup, seed=sched.seed,
        train_sampling_strategy="sequential", logging_steps=5,
    )
    return transformers.TrainingArguments(**{**options, **extra})


def _stacked(examples: list[dict]) -> list[dict]:
    return [{k: torch.stack([e[k] for e in examples[i:i + BATCH]]) for k in examples[0]}
            for i in range(0, len(examples), BATCH)]


@pytest.fixture(autouse=True)
def _quiet():
    before = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    yield
    transformers.logging.set_verbosity(before)


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


def test_bf16_is_the_steps_autocast(tmp_path):
    """bf16=True gives the weights of tram-bench's ``precision: bf16`` step (autocast inside the step);
    the Trainer's own copy of the arguments leaves autocast and clipping to the step."""
    sched = Schedule()
    model = _bert().float()
    reference = copy.deepcopy(model)
    data = [{k: v for k, v in e.items()} for e in _examples(STEPS * BATCH)]
    trainer = MethodTrainer(model=model, args=_args(tmp_path, sched, 2, bf16=True), train_dataset=data, method="sam")
    assert trainer.args.bf16 is False and trainer.args.max_grad_norm == 0.0  # done inside the step
    trainer.train()
    reference_run(reference, HFObjective(causal_lm=False), "sam", {}, _stacked(data), 2, sched,
                  autocast_dtype=torch.bfloat16)
    assert_same_weights(model, reference)


def test_causal_lm_objective_is_the_models_own_loss():
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=30, n_positions=16, n_embd=8, n_layer=1, n_head=2,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = transformers.GPT2LMHeadModel(config).double()
    ids = torch.randint(0, 30, (3, 7))
    labels = ids.clone()
    labels[0, 4:] = -100  # padding positions are not counted
    objective = HFObjective.for_model(model)
    assert objective.causal_lm
    out = objective(model, {"input_ids": ids, "labels": labels})
    expected = model(input_ids=ids, labels=labels).loss
    assert out.count == int((labels[:, 1:] != -100).sum()) and out.logits.shape == (3, 6, 30)
    # transformers' loss upcasts the logits to float32; ours keeps float64 (token_nll's rule)
    torch.testing.assert_close(out.loss, expected.double(), rtol=1e-6, atol=1e-6)


def test_noise_goes_into_inputs_embeds_for_text(tmp_path):
    """r3f on a causal LM: the noised pass feeds inputs_embeds (token embeddings plus z)."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=30, n_positions=16, n_embd=8, n_layer=1, n_head=2,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = transformers.GPT2LMHeadModel(config).double()
    seen = []
    model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(sorted(k for k, v in kwargs.items() if v is not None)),
                                    with_kwargs=True)
    g = torch.Generator().manual_seed(2)
    data = [{"input_ids": ids, "labels": ids} for ids in torch.randint(0, 30, (16, 6), generator=g)]
    trainer = MethodTrainer(model=model, args=_args(tmp_path, Schedule(), 1, max_steps=2), train_dataset=data,
                            method="r3f")
    trainer.train()
    assert ["input_ids", "use_cache"] in seen and ["inputs_embeds", "use_cache"] in seen


@pytest.mark.parametrize("kwargs,message", [
    ({"method": "sharpness"}, "method 'sharpness': unknown method id"),
    ({"method": "sam", "method_hparams": {"rho": -1}}, "rho"),
    ({"method": "sam", "method_hparams": {"radius": 0.1}}, "unknown hyperparameter\\(s\\) radius"),
])
def test_bad_method_or_hparams_fail_at_construction(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        MethodTrainer(model=_bert(), args=_args(tmp_path, Schedule(), 1), train_dataset=_examples(8), **kwargs)


def test_fp16_and_foreign_optimizers_are_refused(tmp_path):
    with pytest.raises(ValueError, match="fp16 is not supported"):
        MethodTrainer(model=_bert(), args=_args(tmp_path, Schedule(), 1, fp16=True, use_cpu=False), method="sam")
    opt = torch.optim.SGD(_bert().parameters(), lr=0.1)
    with pytest.raises(ValueError, match="optimizers= is not accepted"):
        MethodTrainer(model=_bert(), args=_args(tmp_path, Schedule(), 1), method="sam", optimizers=(opt, None))


def test_unequal_micro_batches_are_weighted_by_their_examples(tmp_path):
    """An epoch's short last micro-batch: the step's gradient is the mean over all its examples (the
    method's count weighting), not the mean of the two micro-batch means (stock Trainer's division by
    ``gradient_accumulation_steps`` for a model without ``num_items_in_batch``)."""
    sched = Schedule(warmup=0, schedule="constant")
    model = _bert()
    reference = copy.deepcopy(model)
    data = _examples(14)  # micro-batches of 4: [4, 4] then [4, 2]
    args = _args(tmp_path, sched, 2, max_steps=-1, num_train_epochs=1)
    trainer = MethodTrainer(model=model, args=args, train_dataset=data, method="sam")
    trainer.train()
    assert trainer.state.global_step == 2
    method = METHODS.get("sam")(reference, HFObjective(causal_lm=False), hparams("sam", {}), lr=sched.lr,
                                weight_decay=sched.weight_decay, generator=torch.Generator().manual_seed(sched.seed))
    stacked = [{k: torch.stack([e[k] for e in data[i:i + 4]]) for k in data[0]} for i in range(0, 14, 4)]
    for micro in (stacked[:2], stacked[2:]):
        method.step(micro, StepContext(max_grad_norm=sched.max_grad_norm))
    assert_same_weights(model, reference)


def test_resume_from_checkpoint_continues_the_method_exactly(tmp_path):
    """A Trainer checkpoint holds the method's state (base optimizer, TRAM-prev's previous weights, the
    noise generator): 10 steps, a checkpoint, and 10 resumed steps give the weights of 20 straight."""
    sched = Schedule()
    data = _examples(STEPS * BATCH)
    straight = MethodTrainer(model=_bert(), args=_args(tmp_path / "a", sched, 1), train_dataset=data, method="tram-prev")
    straight.train()
    first = MethodTrainer(model=_bert(), args=_args(tmp_path / "b", sched, 1, save_strategy="steps", save_steps=10),
                          train_dataset=data, method="tram-prev")
    first.train()
    resumed = MethodTrainer(model=_bert(seed=5), args=_args(tmp_path / "b", sched, 1), train_dataset=data,
                            method="tram-prev")
    resumed.train(resume_from_checkpoint=str(tmp_path / "b" / "out" / "checkpoint-10"))
    assert_same_weights(resumed.model, straight.model)


def test_float_labels_ask_for_an_own_objective():
    batch = {"input_ids": torch.ones(2, 3, dtype=torch.long), "labels": torch.tensor([0.5, 1.5])}
    with pytest.raises(ValueError, match="regression head"):
        HFObjective(causal_lm=False)(_bert(), batch)
