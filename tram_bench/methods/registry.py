"""Method ids (exactly the paper's methods, plus the cheaper ones and zero-shot) and where each lives.

The ids and their parts are the rows of :mod:`tram_bench.methods.table`; this registry reads them.
Ids are unambiguous on purpose: ``fisher_sam`` is Fisher SAM (Kim et al. 2022), never Friendly SAM.
"""

from __future__ import annotations

from tram_bench.methods.table import TABLE, reference
from tram_bench.util.registry import Registry

METHODS = Registry("method", "tram_bench.methods")
for _row in TABLE:
    METHODS.add(_row.id, reference(_row))

# The paper's methods (golden files, Table 1), and the cheaper sharpness-aware ones (issue 19).
BUILTIN_METHOD_IDS = tuple(row.id for row in TABLE if row.group == "paper")
EFFICIENT_METHOD_IDS = tuple(row.id for row in TABLE if row.group == "efficient")
