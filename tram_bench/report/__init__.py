"""The report layer: published numbers as data, DuckDB views, the terminal report and the static site.

Imports are light (no torch); duckdb and scipy are needed only when a function runs.
"""

from __future__ import annotations

from tram_bench.report.published import load_published, read_published
from tram_bench.report.site import build_site
from tram_bench.report.terminal import terminal_report
from tram_bench.report.views import create_views

__all__ = ["build_site", "create_views", "load_published", "read_published", "terminal_report"]
