"""``MethodTrainer``: a ``transformers.Trainer`` whose optimizer step is any tram-bench method's step.

``Trainer`` calls ``training_step`` once per micro-batch (``gradient_accumulation_steps`` of them per
optimizer step), then clips and steps the optimizer. A SAM-family or TRAM step cannot be split that
way: its perturbation needs the gradient of the *whole* batch ("accumulate, then perturb", as
tram-bench's loop defines it). So ``MethodTrainer.training_step`` only collects the micro-batches; at
the last one of the step (Trainer's ``sync_gradients``) it runs the method's passes on all of them
(``Method.step``), and the optimizer ``Trainer`` then steps is a :class:`MethodOptimizer` with nothing
left to do. What follows tram-bench's loop rather than Trainer's defaults:

- the base optimizer is the method's (``method_hparams["base"]``: ``sgd``, ``adam`` or ``adamw``, with
  the method's ``Hparams`` defaults); ``TrainingArguments.optim`` and ``adam_*`` are not read, and
  ``weight_decay`` applies to every trainable parameter (Trainer exempts biases and norms);
- ``learning_rate``, ``weight_decay``, ``max_grad_norm`` (clipping the descent gradient inside the
  step), ``bf16`` (autocast to bfloat16 inside the step; ``fp16`` is refused) and ``seed`` (the method's
  noise generator, unless ``method_seed`` is given) are read from ``TrainingArguments``;
- the LR schedule is the loop's (``lr_scheduler_type`` ``constant``, ``constant_with_warmup``,
  ``linear``, ``cosine`` or ``polynomial`` with ``lr_scheduler_kwargs={"power": p}``): the first warmup
  step uses ``lr / warmup``, not 0;
- micro-batches are weighted by their loss units (examples, or target tokens), so unequal micro-batches
  give the gradient of the mean over the whole step; stock Trainer divides each micro-batch's mean loss
  by ``gradient_accumulation_steps`` for models without ``num_items_in_batch`` support (sequence
  classification), which weights unequal micro-batches equally instead;
- the logged ``loss`` is the method's pass-1 loss at ``w``, and ``divergence`` (TRAM's d) and
  ``perturbation_norm`` (||e||) are logged as their means since the last log.

The copy of ``TrainingArguments`` the Trainer keeps has ``bf16=False`` and ``max_grad_norm=0``: the
step does both itself, and accelerate's autocast and Trainer's clipping would do them a second time.

One process only (``world_size`` 1: the passes run on the unwrapped model); a checkpoint's optimizer
state is the method's (base optimizer, target model, noise generator), so ``resume_from_checkpoint``
continues the method exactly. Tested with transformers 5.24 and accelerate 1.15 (the ``hf`` extra).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from transformers import Trainer
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

from tram_bench.contract import InputNoise, Objective, Output
from tram_bench.integrations.stepping import ExtrasMeans, MethodOptimizer, lr_lambda, resolve_method, step_context
from tram_bench.methods.base import Method
from tram_bench.tasks.lm.objective import token_nll

# Trainer's scheduler names -> the loop's schedule names (warmup is separate in both).
SCHEDULE_NAMES = {"constant": "constant", "constant_with_warmup": "constant", "linear": "linear",
                  "cosine": "cosine", "polynomial": "polynomial"}


def _noised_inputs(model: nn.Module, inputs: dict[str, Any], noise: InputNoise) -> dict[str, Any]:
    """``inputs`` with the noise added to a detached copy of the input embeddings: ``pixel_values``
    (images), ``inputs_embeds``, or the embeddings of ``input_ids`` (text, passed on as
    ``inputs_embeds``). Raises ValueError when the batch holds none of them."""
    inputs = dict(inputs)
    for key in ("pixel_values", "inputs_embeds"):
        if key in inputs:
            x = inputs[key]
            inputs[key] = x.detach() + noise.sample_like(x)
            return inputs
    if "input_ids" in inputs:
        emb = model.get_input_embeddings()(inputs.pop("input_ids"))
        inputs["inputs_embeds"] = emb.detach() + noise.sample_like(emb)
        return inputs
    raise ValueError(f"input noise needs pixel_values, inputs_embeds or input_ids in the batch; it has {sorted(inputs)}")


class HFObjective:
    """``objective(model, batch, noise) -> Output`` for a Hugging Face model and a Trainer batch (a dict
    with ``labels``; the other keys are the model's inputs).

    ``causal_lm=True``: position t predicts token t + 1, so the logits drop their last position and
    the labels their first; ``Output.logits`` is ``[B, T-1, V]``, ``mask`` is where the shifted label
    is not -100, ``loss`` the mean NLL over those tokens and ``count`` their number (as the model's own
    loss and Trainer's ``num_items_in_batch``). Otherwise the logits are ``[N, C]`` (sequence or image
    classification; ``count`` = labels that are not -100) or ``[B, T, C]`` with ``[B, T]`` labels
    (token classification, ``mask`` = labels not -100), with the mean cross-entropy over counted labels.
    """

    def __init__(self, causal_lm: bool) -> None:
        self.causal_lm = causal_lm

    @classmethod
    def for_model(cls, model: nn.Module) -> HFObjective:
        """The objective of ``model``'s head: causal LM when its class is one of transformers' causal-LM
        classes (the rule Trainer's label smoother uses), classification otherwise."""
        return cls(causal_lm=type(model).__name__ in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())

    def __call__(self, model: nn.Module, batch: dict[str, Any], noise: InputNoise | None = None) -> Output:
        inputs = dict(batch)
        if "labels" not in inputs:
            raise ValueError(f"a training batch needs 'labels' (it has {sorted(inputs)})")
        labels = inputs.pop("labels")
        if labels.is_floating_point():
            raise ValueError("HFObjective handles class and token labels (integers); for a regression head pass "
                             "MethodTrainer(objective=...) with its own loss")
        if noise is not None:
            inputs = _noised_inputs(model, inputs, noise)
        if self.causal_lm:
            logits = model(**inputs, use_cache=False).logits[:, :-1]
            targets = labels[:, 1:]
            mask = targets != -100
            count = int(mask.sum())
            nll = token_nll(logits, targets.clamp_min(0), mask)
            return Output(logits=logits, loss=nll.sum() / max(count, 1), mask=mask, count=count)
        logits = model(**inputs).logits
        counted = labels != -100
        count = int(counted.sum())
        flat = logits.float() if logits.dtype not in (torch.float32, torch.float64) else logits
        loss = F.cross_entropy(flat.reshape(-1, flat.shape[-1]), labels.reshape(-1), ignore_index=-100)
        return Output(logits=logits, loss=loss, mask=counted if logits.dim() == 3 else None, count=count)


class MethodTrainer(Trainer):
    """A ``transformers.Trainer`` that trains with a tram-bench method (module docstring).

    ``method``: any method id (``"tram-prev"``, ``"sam"``, an alias such as ``"fsam"``, a plugin's id or
    ``"my_pkg.methods:MyMethod"``); ``method_hparams``: the method's hyperparameters (a mapping checked
    against its ``Hparams``; omitted keys keep the paper's defaults); ``objective``: the task side of the
    contract (default :meth:`HFObjective.for_model`); ``method_seed``: the seed of the method's noise
    generator (default ``args.seed``). Every other argument is Trainer's, except ``optimizers``, which
    the method replaces. Raises ValueError for an unknown method, bad hyperparameters, ``fp16=True``,
    ``optimizers=``, more than one process or an unsupported ``lr_scheduler_type``.
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        args: Any = None,
        *trainer_args: Any,
        method: str,
        method_hparams: Mapping[str, Any] | None = None,
        objective: Objective | None = None,
        method_seed: int | None = None,
        **trainer_kwargs: Any,
    ) -> None:
        if trainer_kwargs.get("optimizers", (None, None)) != (None, None):
            raise ValueError("MethodTrainer: optimizers= is not accepted; the method builds its own optimizer")
        if args is None:
            raise ValueError("MethodTrainer needs TrainingArguments (args=...)")
        if args.fp16:
            raise ValueError("MethodTrainer: fp16 is not supported (use bf16=True, or tram-bench run with precision: fp16)")
        if args.world_size > 1:
            # The passes run on the unwrapped model in this process; DDP/FSDP would need the step to reduce
            # every pass's gradients, which Method.step does not do.
            raise ValueError(f"MethodTrainer runs in one process; this launch has world_size {args.world_size}")
        self.method_choice = resolve_method(method, method_hparams)
        self.method_seed = args.seed if method_seed is None else method_seed
        self._bf16 = bool(args.bf16)
        self._max_grad_norm = args.max_grad_norm
        # The step autocasts and clips itself; accelerate's autocast and Trainer's clipping would repeat them.
        args = dataclasses.replace(args, bf16=False, max_grad_norm=0.0)
        self.objective = objective
        self.method: Method | None = None
        self._extras = ExtrasMeans()
        super().__init__(model, args, *trainer_args, **trainer_kwargs)

    # --- optimizer and schedule --------------------------------------------------------------------
    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        if self.optimizer is None:
            target = self.model if model is None else model
            if self.objective is None:
                self.objective = HFObjective.for_model(target)
            self.method = self.method_choice.build(target, self.objective, lr=self.args.learning_rate,
                                                   weight_decay=self.args.weight_decay, seed=self.method_seed)
            device = next(target.parameters()).device
            ctx = step_context(bf16=self._bf16, max_grad_norm=self._max_grad_norm, device=device)
            self.optimizer = MethodOptimizer(self.method, ctx)
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None):
        if self.lr_scheduler is None:
            kind = getattr(self.args.lr_scheduler_type, "value", self.args.lr_scheduler_type)
            if kind not in SCHEDULE_NAMES:
                raise ValueError(f"MethodTrainer: lr_scheduler_type {kind!r} is not one of tram-bench's "
                                 f"schedules ({', '.join(SCHEDULE_NAMES)})")
            power = float((self.args.lr_scheduler_kwargs or {}).get("power", 1.0))
            warmup = self.args.get_warmup_steps(num_training_steps)
            fn = lr_lambda(num_training_steps, SCHEDULE_NAMES[kind], warmup, power)
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer or self.optimizer, fn)
            self._created_lr_scheduler = True
        return self.lr_scheduler

    # --- the step ------------------------------------------------------------------------------------
    @property
    def method_optimizer(self) -> MethodOptimizer:
        """The :class:`MethodOptimizer` (Trainer may hold it wrapped by accelerate)."""
        opt = self.optimizer
        while not isinstance(opt, MethodOptimizer):
            opt = opt.optimizer  # AcceleratedOptimizer and similar wrappers keep it here
        return opt

    def training_step(self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None) -> torch.Tensor:
        """Collect one micro-batch; at the step's last one, run the method's step on all of them and
        return its pass-1 loss (earlier micro-batches return 0, so Trainer's per-step sum is that
        loss). ``num_items_in_batch`` is not needed: the method weights micro-batches by their counts."""
        model.train()
        opt = self.method_optimizer
        opt.collect(self._prepare_inputs(inputs))
        if not self.accelerator.sync_gradients:
            return torch.zeros((), device=self.args.device)
        stats = opt.step()
        self._extras.add(stats)
        return torch.tensor(stats.loss, device=self.args.device)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Trainer's log, with the means of the steps' ``divergence`` and ``perturbation_norm`` added to
        each training log (the one that holds ``loss``)."""
        if "loss" in logs:
            logs = {**logs, **self._extras.drain()}
        super().log(logs, start_time)


__all__ = ["HFObjective", "MethodTrainer"]
