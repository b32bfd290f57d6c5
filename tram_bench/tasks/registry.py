"""Task ids and where each lives (lazy: listing ids imports nothing heavy)."""

from __future__ import annotations

from tram_bench.util.registry import Registry

TASKS = Registry("task", "tram_bench.tasks")

_BUILTIN = {
    # A tiny generated task: exercises the whole path in tests in well under a second per run.
    "synthetic": "tram_bench.tasks.synthetic:SyntheticShiftTask",
    # Cross-domain language modelling (tram_bench/tasks/lm): embedded tier (BBC News) and paper tier (M2D2).
    "lm-bbc": "tram_bench.tasks.lm.bbc:BBCTinyGPT2Task",
    "lm-bbc-smollm2": "tram_bench.tasks.lm.bbc:BBCSmolLM2Task",
    "lm-m2d2": "tram_bench.tasks.lm.m2d2:M2D2GPT2Task",
    # Vision (tram_bench/tasks/vision): embedded tier (UCI optdigits <-> MNIST, offline CPU) and paper tier
    # (ViT-B/16 on the hub datasets of Table 3, plus leave-domains-out PACS / Office-Home).
    "digits-uci-to-mnist": "tram_bench.tasks.vision.digits:DigitsUciToMnistTask",
    "digits-mnist-to-uci": "tram_bench.tasks.vision.digits:DigitsMnistToUciTask",
    "vit-cifar100": "tram_bench.tasks.vision.transfer:ViTCifar100Task",
    "vit-cars": "tram_bench.tasks.vision.transfer:ViTCarsTask",
    "vit-flowers": "tram_bench.tasks.vision.transfer:ViTFlowersTask",
    "dg-pacs": "tram_bench.tasks.vision.domain_generalization:PACSTask",
    "dg-office-home": "tram_bench.tasks.vision.domain_generalization:OfficeHomeTask",
    # Zero-shot cross-lingual transfer (tram_bench/tasks/xling): embedded tier (chatterbot-corpus topics with
    # multilingual-e5-small, offline CPU) and paper tier (XLM-R base, MultiNLI -> XNLI).
    "xling-chatterbot": "tram_bench.tasks.xling.chatterbot_task:ChatterbotTopicTask",
    "xling-xnli": "tram_bench.tasks.xling.xnli_task:XNLITask",
}
for _id, _target in _BUILTIN.items():
    TASKS.add(_id, _target)
