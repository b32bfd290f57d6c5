"""Statistics of the leaderboard: paired per-task tests with verdicts, across-task aggregates.

Pure functions over numbers (imports only math, numpy, scipy, statsmodels): the layer directly
above ``tram_bench.util``. ``paired`` decides one task's comparisons with its baseline;
``across`` aggregates paired differences and ranks over the tasks of a suite.
"""
