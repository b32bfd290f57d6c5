"""Method ids (exactly the paper's methods) and where each lives.

Ids are unambiguous on purpose: ``fisher_sam`` is Fisher SAM (Kim et al. 2022), never Friendly SAM.
"""

from __future__ import annotations

from tram_bench.util.registry import Registry

METHODS = Registry("method", "tram_bench.methods")

_BUILTIN = {
    "sgd": "tram_bench.methods.plain:SGDMethod",
    "adam": "tram_bench.methods.plain:AdamMethod",
    "sam": "tram_bench.methods.sam_family:SAMMethod",
    "asam": "tram_bench.methods.sam_family:ASAMMethod",
    "fisher_sam": "tram_bench.methods.sam_family:FisherSAMMethod",
    "trpo": "tram_bench.methods.trust_region:TRPOMethod",
    "r3f": "tram_bench.methods.trust_region:R3FMethod",
    "mesa": "tram_bench.methods.trust_region:MESAMethod",
    "asam+trpo": "tram_bench.methods.trust_region:ASAMTRPOMethod",
    "asam+r3f": "tram_bench.methods.trust_region:ASAMR3FMethod",
    "asam+mesa": "tram_bench.methods.trust_region:ASAMMESAMethod",
    "tram-prev": "tram_bench.methods.tram:TRAMPrevMethod",
    "tram-init": "tram_bench.methods.tram:TRAMInitMethod",
    "tram-x": "tram_bench.methods.tram:TRAMXMethod",
    "tram-fisher": "tram_bench.methods.tram:TRAMFisherMethod",
    # Not an optimizer: the pre-trained model evaluated as is (the paper's zero-shot rows).
    "zero-shot": "tram_bench.methods.zero_shot:ZeroShotMethod",
}
# Cheaper sharpness-aware methods from other papers (issue 19; tram_bench.methods.efficient). Suites
# may name them like any method; they are not among the paper's methods above (golden files, Table 1).
_EFFICIENT = {
    "looksam": "tram_bench.methods.efficient:LookSAMMethod",
    "random-sam": "tram_bench.methods.efficient:RandomSAMMethod",
    "late-sam": "tram_bench.methods.efficient:LateSAMMethod",
    "msam": "tram_bench.methods.efficient:MomentumSAMMethod",
}
for _id, _target in {**_BUILTIN, **_EFFICIENT}.items():
    METHODS.add(_id, _target)

BUILTIN_METHOD_IDS = tuple(i for i in _BUILTIN if i != "zero-shot")
EFFICIENT_METHOD_IDS = tuple(_EFFICIENT)
