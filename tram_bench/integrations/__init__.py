"""Adapters that bring tram-bench's methods into other training frameworks (optional extras).

Each module imports its framework at import time, so importing ``tram_bench.integrations`` itself
needs none of them:

- :mod:`tram_bench.integrations.timm`: the SAM-family optimizers in timm's optimizer registry
  (extra ``timm``);
- :mod:`tram_bench.integrations.hf`: ``MethodTrainer``, a ``transformers.Trainer`` that runs any
  method id (extra ``hf``);
- :mod:`tram_bench.integrations.lightning`: ``MethodModule``, a ``LightningModule`` base that runs
  any method id with manual optimization (extra ``lightning``).

The Trainer and Lightning adapters drive a method's own step (``Method.step``) with the semantics of
tram-bench's training loop (:mod:`tram_bench.integrations.stepping` holds what they share), so a run
through either gives the same weights as ``tram-bench run``'s step on the same data order.
"""
