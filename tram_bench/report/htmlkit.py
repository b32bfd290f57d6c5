"""Small HTML builders. Every piece of text that reaches a page goes through :func:`h` (escaped)."""

from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import dataclass, field
from importlib import resources


def h(text: object) -> str:
    """Escape any value for use in HTML text or a quoted attribute."""
    return html.escape(str(text), quote=True)


def asset(name: str) -> str:
    return resources.files("tram_bench.report").joinpath("assets", name).read_text(encoding="utf-8")


def csp_hash(source: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii")


@dataclass
class Cell:
    """One table cell: ``html`` is already-escaped markup; ``sort`` is the sort key (data-v)."""

    html: str
    sort: float | str | None = None
    cls: str = ""
    title: str | None = None

    def render(self, tag: str = "td") -> str:
        attrs = ""
        if self.cls:
            attrs += f' class="{h(self.cls)}"'
        if self.sort is not None:
            attrs += f' data-v="{h(repr(self.sort) if isinstance(self.sort, float) else self.sort)}"'
        if self.title:
            attrs += f' title="{h(self.title)}"'
        return f"<{tag}{attrs}>{self.html}</{tag}>"


def text_cell(text: object, left: bool = True, sort: float | str | None = None) -> Cell:
    return Cell(h(text), sort=sort if sort is not None else str(text), cls="l" if left else "")


def download_links(base: str) -> str:
    """``CSV · JSON`` links to ``base.csv`` and ``base.json`` (paths relative to the page)."""
    from urllib.parse import quote

    return ('<span class="dl">download ' + " · ".join(
        f'<a href="{h(quote(f"{base}.{ext}"))}" download>{ext.upper()}</a>' for ext in ("csv", "json")) + "</span>")


@dataclass
class HtmlTable:
    """A table; the first column (the method, in most tables) stays visible while a wide table scrolls
    sideways (style.css). ``download``: the path, relative to the page and without extension, of the
    table's CSV and JSON files (see ``downloads.py``), linked beside the caption."""

    headers: list[tuple[str, bool]]  # (escaped header markup, left-aligned)
    rows: list[tuple[list[Cell], str, dict[str, str]]] = field(default_factory=list)  # (cells, class, data-*)
    caption: str = ""  # escaped markup
    sortable: bool = True
    cls: str = ""
    download: str | None = None

    def add(self, cells: list[Cell], row_cls: str = "", data: dict[str, str] | None = None) -> None:
        """One row; ``data`` becomes ``data-<key>`` attributes (the index filters read ``data-kind`` and
        ``data-family``)."""
        self.rows.append((cells, row_cls, dict(data or {})))

    def render(self) -> str:
        classes = " ".join(c for c in ("sortable" if self.sortable else "", self.cls) if c)
        # The caption is a paragraph above the table: a <caption> would wrap to the table's width.
        links = download_links(self.download) if self.download else ""
        caption = " ".join(x for x in (self.caption, links) if x)
        out = [f'<p class="caption">{caption}</p>' if caption else ""]
        out.append(f'<div class="scroll"><table class="{classes}">')
        out.append("<thead><tr>")
        for markup, left in self.headers:
            inner = f'<button class="sort" type="button">{markup}</button>' if self.sortable else markup
            cls = ' class="l"' if left else ""
            out.append(f'<th scope="col"{cls}>{inner}</th>')
        out.append("</tr></thead><tbody>")
        for cells, row_cls, data in self.rows:
            attr = f' class="{h(row_cls)}"' if row_cls else ""
            attr += "".join(f' data-{h(k)}="{h(v)}"' for k, v in sorted(data.items()))
            out.append(f"<tr{attr}>" + "".join(c.render() for c in cells) + "</tr>")
        out.append("</tbody></table></div>")
        return "".join(out)


def page(title: str, body: str, *, home: str = "index.html", generated: str = "", script: bool = True) -> str:
    """A complete, self-contained page: inline CSS and JS, and a CSP that blocks every network load and
    every script other than ours (so an unescaped string could not run even if one slipped through).
    ``script=False``: no script at all (a page without sortable tables or filters; its CSP then allows
    none)."""
    css = asset("style.css")
    js = asset("sort.js") if script else ""
    script_src = f"script-src '{csp_hash(js)}'; " if script else ""
    csp = (
        f"default-src 'none'; {script_src}style-src '{csp_hash(css)}'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    footer = f'<footer class="muted"><main>{h(generated)}</main></footer>' if generated else ""
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{h(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{h(title)}</title><style>{css}</style></head><body>"
        f'<header class="top"><a href="{h(home)}">tram-bench leaderboard</a></header>'
        f"<main>{body}</main>{footer}"
        + (f"<script>{js}</script>" if script else "") + "</body></html>\n"
    )
