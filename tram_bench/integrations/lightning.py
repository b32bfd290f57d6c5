"""``MethodModule``: a ``LightningModule`` base that trains with any tram-bench method, in manual
optimization.

Lightning's automatic optimization runs one forward and backward per batch and then steps; a
SAM-family or TRAM step needs several passes over the same batch, so the module uses manual
optimization, where Lightning refuses its own ``accumulate_grad_batches`` and ``gradient_clip_val``.
The module owns both, with tram-bench's semantics: ``accumulation`` consecutive dataloader batches
are the micro-batches of one optimizer step (accumulate, then perturb; micro-batches weighted by
their loss units; the last step of an epoch takes what is left), and ``max_grad_norm`` clips the
descent gradient inside the step. The LR follows the loop's schedule (``schedule``,
``warmup_steps``, ``poly_power``), one scheduler step per optimizer step. ``bf16=True`` autocasts the
step to bfloat16 as ``precision: bf16`` does in tram-bench's loop; leave the Trainer's ``precision``
at ``"32-true"`` (or ``"64-true"``), since Lightning's mixed precision would autocast a second time.

Each optimizer step logs ``loss`` (the method's pass-1 loss at ``w``), ``lr`` and the step's extras
(``divergence``: TRAM's d or a trust region's D; ``perturbation_norm``: ||e||) with ``self.log``.
``trainer.global_step`` counts optimizer steps, so ``max_steps`` means what it means in tram-bench.

Tested with lightning 2.6 (the ``lightning`` extra).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from torch import nn

from tram_bench.contract import InputNoise, Objective, Output
from tram_bench.integrations.stepping import MethodOptimizer, lr_lambda, resolve_method, step_context
from tram_bench.methods.base import Method

# Trainer precisions under which the step's own autocast is the only one.
FULL_PRECISIONS = ("32-true", "32", "64-true", "64")


class MethodModule(L.LightningModule):
    """Train ``model`` with method ``method`` (any id: built-in, alias, plugin or ``module:Class``).

    ``method_hparams``: the method's hyperparameters (checked against its ``Hparams``; omitted keys keep
    the paper's defaults). ``objective``: the task side of the contract, ``objective(model, batch,
    noise) -> Output``; instead of passing it, a subclass may override :meth:`objective`. ``lr`` and
    ``weight_decay`` go to the method's base optimizer; ``accumulation`` (micro-batches per step, >= 1),
    ``max_grad_norm`` (None: no clipping), ``schedule`` (``constant``, ``linear``, ``polynomial``,
    ``cosine``), ``warmup_steps``, ``poly_power`` and ``total_steps`` (default: the Trainer's
    ``max_steps``, else its batches per run divided by ``accumulation``, rounded up) set the loop's
    step; ``method_seed`` seeds the method's noise generator. Raises ValueError for an unknown method,
    bad hyperparameters or bad arguments here, and at ``configure_optimizers`` for a mixed-precision
    Trainer or more than one process.
    """

    def __init__(
        self,
        model: nn.Module,
        method: str,
        method_hparams: Mapping[str, Any] | None = None,
        *,
        objective: Objective | None = None,
        lr: float,
        weight_decay: float = 0.0,
        accumulation: int = 1,
        max_grad_norm: float | None = None,
        schedule: str = "constant",
        warmup_steps: int = 0,
        poly_power: float = 1.0,
        total_steps: int | None = None,
        bf16: bool = False,
        method_seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(accumulation, int) or isinstance(accumulation, bool) or accumulation < 1:
            raise ValueError(f"MethodModule: accumulation must be an integer >= 1, got {accumulation!r}")
        lr_lambda(1, schedule)  # the schedule name is checked now, not at the first step
        self.automatic_optimization = False
        self.model = model
        self.method_choice = resolve_method(method, method_hparams)
        self._objective = objective
        self.lr = lr
        self.weight_decay = weight_decay
        self.accumulation = accumulation
        self.max_grad_norm = max_grad_norm
        self.schedule = schedule
        self.warmup_steps = warmup_steps
        self.poly_power = poly_power
        self.total_steps = total_steps
        self.bf16 = bf16
        self.method_seed = method_seed
        self.method: Method | None = None

    def objective(self, model: nn.Module, batch: Any, noise: InputNoise | None = None) -> Output:
        """The task's forward (the contract's ``Objective``); the ``objective`` argument by default."""
        if self._objective is None:
            raise NotImplementedError("MethodModule needs objective= or a subclass that overrides objective()")
        return self._objective(model, batch, noise)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def _total_steps(self) -> int:
        if self.total_steps is not None:
            return self.total_steps
        if self.trainer.max_steps is not None and self.trainer.max_steps > 0:
            return self.trainer.max_steps
        return math.ceil(self.trainer.estimated_stepping_batches / self.accumulation)

    def configure_optimizers(self) -> dict[str, Any]:
        if self.trainer.world_size > 1:
            # The passes run on this process's model; DDP would need every pass's gradients reduced.
            raise ValueError(f"MethodModule runs in one process; this Trainer has world_size {self.trainer.world_size}")
        precision = str(self.trainer.precision)
        if precision not in FULL_PRECISIONS:
            raise ValueError(f"MethodModule: Trainer(precision={precision!r}) would autocast the method's passes "
                             "a second time; use precision='32-true' and MethodModule(bf16=True)")
        self.method = self.method_choice.build(self.model, self.objective, lr=self.lr,
                                               weight_decay=self.weight_decay, seed=self.method_seed)
        ctx = step_context(bf16=self.bf16, max_grad_norm=self.max_grad_norm, device=self.device)
        optimizer = MethodOptimizer(self.method, ctx)
        fn = lr_lambda(self._total_steps(), self.schedule, self.warmup_steps, self.poly_power)
        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, fn)}

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        """Collect ``batch``; once ``accumulation`` batches (or the epoch's last ones) are collected,
        run the method's step on them, step the LR schedule and log. Returns the step's pass-1 loss
        (None between steps)."""
        lightning_opt = self.optimizers()
        optimizer: MethodOptimizer = lightning_opt.optimizer
        optimizer.collect(batch)
        last_of_epoch = batch_idx + 1 == self.trainer.num_training_batches
        if len(optimizer.pending) < self.accumulation and not last_of_epoch:
            return None
        lr = optimizer.param_groups[0]["lr"]
        lightning_opt.step()  # through Lightning, so that global_step counts optimizer steps
        stats = optimizer.last
        self.lr_schedulers().step()
        self.log("loss", stats.loss, on_step=True, prog_bar=True)
        self.log("lr", lr, on_step=True)
        if not stats.skipped:
            for key, value in stats.extras.items():
                self.log(key, value, on_step=True)
        return torch.tensor(stats.loss, device=self.device)


__all__ = ["MethodModule"]
