"""Labels, values and error messages that look like rich markup print as typed (issue 14 item 7):
``plan``, the progress display and the error lines (the report: tests/report/test_terminal_markup.py)."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest

from tram_bench.cli import main
from tram_bench.executors.local import RunOutcome
from tram_bench.executors.progress import PlainReporter, RichReporter

SUITE = """\
suite: markup
description: labels that look like rich markup
seeds: [0]
tasks:
  - id: synthetic
    label: blobs
    params: {dim: 4, classes: 2, train_size: 32, eval_size: 32}
    train: {steps: 2, batch_size: 16, lr: [0.01, 0.02], eval_every: 2}
  - id: synthetic
    label: "odd[/x][bold]"
    params: {dim: 4, classes: 2, train_size: 32, eval_size: 32}
    train: {steps: 2, batch_size: 16, eval_every: 2}
methods:
  - id: sgd
"""


@pytest.fixture()
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "markup.yaml"
    path.write_text(SUITE, encoding="utf-8")
    return path


def test_plan_prints_bracketed_labels_literally(suite_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # rich wraps to the terminal width: keep each cell on one line
    assert main(["plan", str(suite_file), "--results", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    for text in ("blobs[lr=0.01]", "blobs[lr=0.02]", "odd[/x][bold]", "markup: 3 cells"):
        assert text in out, text
    assert not (tmp_path / "r" / "runs").exists()


def _spec(label: str) -> SimpleNamespace:
    # The reporters read only these fields of a RunSpec.
    return SimpleNamespace(task_label=label, method="sgd", seed=0, run_id="0123456789abcdef")


def test_progress_display_prints_labels_and_errors_literally():
    reporter = RichReporter()
    buf = io.StringIO()
    reporter.console.file = buf
    reporter.console.width = 200
    reporter.grid_start(2)
    reporter.run_start(_spec("blobs[lr=0.01]"), 0)
    reporter.run_step(1, 2, 0.5)
    reporter.run_end(_spec("blobs[lr=0.01]"), RunOutcome("0123456789abcdef", "ok", None, 1.0))
    reporter.run_start(_spec("odd[/x][bold]"), 0)
    reporter.run_end(_spec("odd[/x][bold]"), RunOutcome("0123456789abcdef", "failed",
                                                        "ValueError: bad value [/x] in [red]field\n  more", 2.0))
    reporter.grid_end()
    out = buf.getvalue()
    assert "blobs[lr=0.01] / sgd / seed 0" in out
    assert "odd[/x][bold] / sgd / seed 0" in out
    assert "ValueError: bad value [/x] in [red]field" in out


def test_plain_progress_prints_labels_and_errors_literally(capsys):
    reporter = PlainReporter()
    reporter.grid_start(1)
    reporter.run_end(_spec("odd[/x]"), RunOutcome("0123456789abcdef", "failed", "boom [/x]", 1.0))
    assert "odd[/x] / sgd / seed 0 (0123456789abcdef): failed in 1.0s: boom [/x]" in capsys.readouterr().out


def test_validate_error_line_keeps_brackets(suite_file, tmp_path, capsys):
    suite_file.write_text(SUITE.replace("  - id: sgd", "  - id: \"sam[/x]\""), encoding="utf-8")
    assert main(["validate", str(suite_file)]) == 2
    err = capsys.readouterr().err
    assert "sam[/x]" in err and "Traceback" not in err and "MarkupError" not in err
