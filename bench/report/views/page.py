"""The HTML shell of a view page: provenance line, plotly.js inlined once, sortable tables, a link
back to the index. No network at view time, like the slice pages."""
from __future__ import annotations

from html import escape

from bench.report.html import SORT_JS, STYLE

PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def figure_div(fig, div_id: str) -> str:
    """A plotly figure as a <div> (plotly.js itself is inlined once by `view_html`)."""
    return '<div class="chart">' + fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                                               config=PLOT_CONFIG) + "</div>"


def table_html(headers: list[str], rows: list[list[str]], table_id: str = "") -> str:
    """A sortable table of text cells (numbers right-aligned)."""
    if not rows:
        return "<p><em>none</em></p>"
    tid = f' id="{escape(table_id)}"' if table_id else ""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)

    def cell(text: str) -> str:
        try:
            float(text.split(" ")[0].rstrip("x%×"))
            return f'<td class="num">{escape(text)}</td>'
        except ValueError:
            return f"<td>{escape(text)}</td>"

    body = "".join("<tr>" + "".join(cell(str(c)) for c in r) + "</tr>" for r in rows)
    return f'<div class="scroll"><table class="sortable"{tid}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def list_html(items: list[str]) -> str:
    """A bulleted list of text items."""
    return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def view_html(title: str, intro: str, sections: list[str]) -> str:
    """The full page: title, one-paragraph intro (text), the sections (HTML), back link to the index."""
    from bench.report.interactive import plotly_script

    return "\n".join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{STYLE}</style>{plotly_script()}</head><body>",
        '<p><a href="../index.html">&larr; report index</a></p>',
        f"<h1>{escape(title)}</h1>", f"<p>{escape(intro)}</p>", *sections,
        f"<script>{SORT_JS}</script></body></html>"]) + "\n"
