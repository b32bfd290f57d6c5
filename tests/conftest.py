"""Suite-wide test hooks: slow tests run last, ``gpu``-marked tests need CUDA, CI fails on any skip
outside the allow-list, and no test touches the user's asset cache.

Asset cache policy (one for every test): ``TRAM_BENCH_CACHE`` points at one directory of this pytest run
(:func:`asset_cache`), shared by every test and every xdist worker of the run, so a small model pre-trained
by one test is reused by the next (builds are serialised by ``tram_bench.util.files``' cache lock) and
the user's ``~/.cache/tram-bench`` is never read or written; subprocesses (the CLI) inherit it. A test that
needs a cold cache of its own (asset-time accounting, cache-miss behaviour) opts out by setting
``TRAM_BENCH_CACHE`` to its own ``tmp_path`` with ``monkeypatch``.

With the environment variable ``CI`` set (to anything but empty, ``0``, ``false`` or ``no``), a run that
skipped a test, or a whole module, for a reason that :mod:`skip_allowlist` does not list exits with
status 1 and names each such skip in a terminal section. This works under pytest-xdist: the controller
receives every worker's reports, and only the controller decides.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from skip_allowlist import disallowed

GPU_SKIP_REASON = "needs a CUDA device (test marked gpu)"


SHARED_CACHE_NAME = "tram-bench-cache"


@pytest.fixture(scope="session", autouse=True)
def asset_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The run's asset cache (see the module docstring); yields its path."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's basetemp is <run basetemp>/popen-gw<N>: the run's directory is its parent.
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    cache = root / SHARED_CACHE_NAME
    cache.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRAM_BENCH_CACHE", str(cache))
        yield cache


def ci_active() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Fast tests first, then the ``slow`` ones (a stable sort keeps the order within each): a CI run
    # reports a broken unit test in minutes, before the end-to-end runs.
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return  # torch is imported only when a gpu test was collected
    import torch

    if not torch.cuda.is_available():
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=GPU_SKIP_REASON))


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    # A skip's longrepr is (path, line, "Skipped: reason"); anything else is kept whole.
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


class CISkipGate:
    """Collects every skipped test or collector (not xfails) and fails a CI run on a disallowed one."""

    def __init__(self) -> None:
        self.skips: set[tuple[str, str]] = set()

    def _record(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skips.add((report.nodeid, _skip_reason(report)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._record(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._record(report)

    def disallowed_skips(self) -> list[tuple[str, str]]:
        return sorted((nodeid, reason) for nodeid, reason in self.skips if disallowed(reason))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Runs before the terminal summary; the exit status is read only after both.
        if self.disallowed_skips() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        bad = self.disallowed_skips()
        if not bad:
            return
        terminalreporter.section("skips not allowed in CI (tests/skip_allowlist.py)", sep="=", red=True, bold=True)
        for nodeid, reason in bad:
            terminalreporter.line(f"{nodeid}: {reason}")
        terminalreporter.line(f"CI: {len(bad)} skip(s) outside the allow-list fail the run "
                              "(install what they need, or allow-list the reason with why)")


def pytest_configure(config: pytest.Config) -> None:
    # xdist workers forward their reports to the controller, which alone judges the whole run.
    if ci_active() and not hasattr(config, "workerinput"):
        config.pluginmanager.register(CISkipGate(), "tram-bench-ci-skip-gate")
