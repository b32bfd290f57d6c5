"""Fixtures of the report tests; the builders live in report_fixtures.py."""

from __future__ import annotations

import pytest

from report_fixtures import build_demo, new_store


@pytest.fixture(scope="module")
def demo_views():
    """The demo store with every view created; shared by a module's tests, which only read it."""
    from tram_bench.report.views import create_views

    store = build_demo(new_store())
    create_views(store.con)
    yield store.con
    store.con.close()
