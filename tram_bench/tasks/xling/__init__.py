"""Zero-shot cross-lingual transfer (TRAM paper section 4.3): train on English, evaluate in languages the
model was never fine-tuned on.

* ``xling-chatterbot`` (embedded tier, offline CPU): :mod:`.chatterbot_task`.
* ``xling-xnli`` (paper tier, GPU + hub): :mod:`.xnli_task`.

Nothing heavy is imported here; transformers / tokenizers / datasets load inside functions.
"""
