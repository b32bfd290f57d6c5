"""One writer at a time: a second collector waits for the lock, or gives up with a clear error."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from tests.store.conftest import make_spec, metric, write_run
from tram_bench.store.collector import CollectorBusy, collect, collector_lock, db_path


def test_second_collector_waits_for_the_first(results):
    write_run(results, make_spec(), metrics=[metric("a", 0.5)])
    waiting = threading.Event()
    outcome: dict = {}

    def second():
        try:
            outcome["stats"] = collect(results, lock_timeout_s=120, on_wait=waiting.set)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the asserts below
            outcome["error"] = exc

    with collector_lock(results, deadline=time.monotonic() + 5):
        worker = threading.Thread(target=second)
        worker.start()
        # The second collector reports that it is waiting while we still hold the lock.
        assert waiting.wait(timeout=120), "second collector never waited"
        assert worker.is_alive() and "stats" not in outcome
    worker.join(timeout=120)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["stats"].ingested == 1


def test_second_collector_gives_up_after_the_timeout(results):
    with collector_lock(results, deadline=time.monotonic() + 5):
        with pytest.raises(CollectorBusy, match=r"another collector \(pid \d+\) holds .*\.collector\.lock"):
            collect(results, lock_timeout_s=0.2)
    assert collect(results, lock_timeout_s=0.2).ingested == 0  # free again once released


def test_database_held_by_another_process_is_a_clear_error(results):
    collect(results)  # create the database
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, duckdb; c = duckdb.connect(sys.argv[1], read_only=True); print('open', flush=True); "
         "sys.stdin.readline()", str(db_path(results))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(CollectorBusy, match="another process has it open"):
            collect(results, lock_timeout_s=0.3)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert collect(results).skipped == 0
