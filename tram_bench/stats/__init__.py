"""Statistics of the leaderboard: paired per-task tests with verdicts, across-task aggregates.

Pure functions over numbers: the standard library, numpy and scipy only (statsmodels, a dev
dependency, serves the tests as the reference for Holm). The layer directly above ``tram_bench.util``.
``paired`` decides one task's comparisons with its baseline; ``across`` aggregates paired
differences and ranks over the tasks of a suite. docs/statistics.md states the rules.
"""
