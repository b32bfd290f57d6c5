"""The paper's headline claims as data, tested on a results store.

``ledger`` reads and checks ``paper_claims.yaml`` (typed :class:`Claim` rows); ``evaluate`` tests each
claim on every task of a suite that can test it and combines the per-task verdicts into a suite
verdict; ``render`` prints the ledger (``tram-bench claims``) and writes the leaderboard's claims
page. docs/claims.md states the rules.
"""

from __future__ import annotations

from tram_bench.report.claims.evaluate import create_claims_tables, evaluate_claims
from tram_bench.report.claims.ledger import Claim, ClaimsDataError, load_claims

__all__ = ["Claim", "ClaimsDataError", "create_claims_tables", "evaluate_claims", "load_claims"]
