"""tram-bench: a declarative benchmark and leaderboard for fine-tuning optimizers under distribution shift.

The optimizers are usable on their own: ``from tram_bench.optim import SAM, ASAM, FisherSAM, TRAM``.
"""

__version__ = "0.1.0"
