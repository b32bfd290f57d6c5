"""The one place where the store's columns (``schema.RUN_FIELDS``) are checked against the run record's
types (``tram_bench.train.rundir``) and the cell document (``CellDoc``): a renamed or removed field of
either fails here, not silently as a NULL column."""

from __future__ import annotations

from dataclasses import fields

from tram_bench.store.schema import RUN_FIELDS
from tram_bench.suite.spec import CellDoc
from tram_bench.train.rundir import RunRecord


def test_every_run_column_reads_a_field_the_record_types_write():
    readable = {**RunRecord.json_keys(), "spec.": frozenset(f.name for f in fields(CellDoc))}
    unknown = [f"{f.column} <- {f.source}{f.key}" for f in RUN_FIELDS
               if f.source in readable and f.key not in readable[f.source]]
    assert not unknown, unknown
    # Provenance is a free-form object (train/provenance.py); every other source is typed.
    assert {f.source for f in RUN_FIELDS} - set(readable) == {"provenance."}
