"""The terminal report prints labels, method configs, domains and errors that look like rich markup as typed
(issue 14 item 7; plan and progress: tests/test_markup.py)."""

from __future__ import annotations

import io

from rich.console import Console

from report_fixtures import Metric, new_store
from tram_bench.report import terminal_report


def test_closing_tags_in_every_name_print_literally_and_do_not_raise():
    b = new_store()
    for seed in (0, 1, 2):
        for method, hp in (("sgd", {"base": "sgd"}), ("sam", {"base": "sgd", "rho": 0.05}),
                           ("sam", {"base": "sgd", "rho": 0.1})):
            b.add_run("s", "synthetic", method, seed, [
                Metric("src[/x]", 0.9 - 0.01 * seed, True), Metric("[/bold]shift", 0.5 + 0.01 * seed, False),
            ], hparams=hp, label="blobs[/x][lr=0.01]")
    b.add_run("s", "synthetic", "sam", 3, [], hparams={"base": "sgd", "rho": 0.05}, status="failed",
              label="blobs[/x][lr=0.01]")
    for view, texts in (("wide", ("blobs[/x][lr=0.01]", "src[/x] (ID)", "[/bold]shift", "sam[rho=0.05]",
                                  "sam[rho=0.1]")),
                        ("compact", ("blobs[/x][lr=0.01]", "[/bold]shift", "sam[rho=0.05]", "sam[rho=0.1]"))):
        buf = io.StringIO()
        terminal_report(b.con, Console(file=buf, width=250, color_system=None), view=view)
        out = buf.getvalue()
        for text in texts:
            assert text in out, (view, text)
