"""A self-contained HTML page of one slice: interactive charts (plotly.js inlined), a sortable,
filterable results table, links to the PNG charts beside it; no network fetches.

No scripts, fonts, stylesheets or images are loaded from anywhere: the page opens offline and
can be mailed as one file; the static PNG charts are inlined too, folded under the interactive ones.
"""
from __future__ import annotations

import base64
from html import escape

from bench.report.charts import Chart
from bench.report.data import ReportSlice
from bench.report.fronts import RankComparison
from bench.report.notes import READING_NOTES, header_items, rank_lines
from bench.report.tables import accuracy_sources, compression_rows, display_rows, no_accuracy_rows, unmeasured_rows

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1400px; padding: 0 16px; color: #222; }
h1 { font-size: 1.45em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
dl.prov { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; font-size: 0.92em; }
dl.prov dt { font-weight: 600; } dl.prov dd { margin: 0; }
figure { margin: 12px 0 24px; } figure img { width: 100%; max-width: 1250px; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
table { border-collapse: collapse; font-size: 0.82em; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; white-space: nowrap; }
th { background: #f4f4f4; position: sticky; top: 0; }
tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
.tools { margin: 8px 0; } .tools input { padding: 3px 6px; width: 22em; }
th.sortable { cursor: pointer; } th.sortable:after { content: " \\2195"; color: #aaa; }
.chart { border: 1px solid #eee; margin: 10px 0 20px; }
"""
# Sort any table with class "sortable" on a header click: numbers numerically, text after them.
SORT_JS = """
(function () {
  function key(td) { var t = td.textContent.trim(); var n = parseFloat(t.replace(/[^0-9.eE+-].*$/, ""));
    return isNaN(n) ? [1, t.toLowerCase()] : [0, n]; }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var body = table.tBodies[0];
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.className = "sortable";
      th.addEventListener("click", function () {
        var asc = th.getAttribute("data-sort") !== "asc";
        Array.prototype.forEach.call(table.tHead.rows[0].cells, function (o) { o.removeAttribute("data-sort"); });
        th.setAttribute("data-sort", asc ? "asc" : "desc");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) { var x = key(a.cells[col]), y = key(b.cells[col]);
          var c = x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0); return asc || x[0] !== y[0] ? c : -c; });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
"""
# Filter the results table's rows by a substring (its sorting is SORT_JS's, shared with the view pages).
FILTER_JS = """
(function () {
  var table = document.getElementById("results"); if (!table) return;
  var body = table.tBodies[0], input = document.getElementById("filter"), count = document.getElementById("shown");
  input.addEventListener("input", function () {
    var q = input.value.toLowerCase(), n = 0;
    Array.prototype.forEach.call(body.rows, function (r) {
      var show = r.textContent.toLowerCase().indexOf(q) >= 0; r.style.display = show ? "" : "none"; if (show) n++; });
    count.textContent = n;
  });
})();
"""
NUMERIC_HEADERS = {"top-1 %", "MMACs", "params (M)", "p50 ms", "p90 ms", "p50 95% CI (ms)", "% of roofline",
                   "peak memory (MiB)"}


def png_data_uri(png: bytes) -> str:
    """A `data:` URI for PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table_html(rows: list[dict[str, str]], table_id: str = "") -> str:
    if not rows:
        return "<p><em>no results</em></p>"
    headers = list(rows[0].keys())
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for r in rows:
        cells = []
        for h in headers:
            text = escape(r[h]).replace("**yes**", "<strong>yes</strong>")
            cls = ' class="num"' if h in NUMERIC_HEADERS else ""
            cells.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    tid = f' id="{table_id}" class="sortable"' if table_id else ""  # the results table sorts (SORT_JS)
    return f'<div class="scroll"><table{tid}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _list_html(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def html_page(s: ReportSlice, charts: list[tuple[Chart, bytes]], ranks: RankComparison,
              profiles_link: str | None = None) -> str:
    """The full page: provenance, interactive charts (PNG files linked), rank summary, sortable and
    filterable table, side lists, notes. `profiles_link`: the page beside it with the profiled
    models' charts (`profiles_page`), linked when given."""
    from bench.report.interactive import interactive_charts, plotly_script

    title = f"{s.provenance.target_label()}, batch {s.batch}"
    prov = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in header_items(s))
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
             f"<title>{escape(title)}</title><style>{STYLE}</style>{plotly_script()}</head><body>",
             f"<h1>{escape(title)}</h1>", f'<dl class="prov">{prov}</dl>']
    live = interactive_charts(s)
    if live:
        parts.append("<h2>Charts</h2><p>Hover a point for its numbers; click a family in the legend to hide "
                     "or show it (double-click: only that family).</p>")
        parts += [f'<div class="chart">{div}</div>' for _, div in live]
    if profiles_link:
        parts.append(f'<p>Profiled models (time by op kind, rooflines): <a href="{escape(profiles_link)}">'
                     f'{escape(profiles_link)}</a></p>')
    if charts:  # inline too, so the page stays one self-contained file
        parts.append("<details><summary>Static charts (PNG, for papers; also written beside this page)</summary>")
        for chart, png in charts:
            parts.append(f'<figure><img alt="{escape(chart.title)}" src="{png_data_uri(png)}">'
                         f"<figcaption>{escape(chart.title)}</figcaption></figure>")
        parts.append("</details>")
    parts += ["<h2>Latency vs MACs</h2>", _list_html(rank_lines(ranks))]
    table = display_rows(s)
    parts += ["<h2>Results</h2>",
              f'<div class="tools"><input id="filter" type="search" placeholder="filter rows (model, family, ...)"> '
              f'<span id="shown">{len(table)}</span> of {len(table)} rows; click a header to sort</div>',
              _table_html(table, "results")]
    sources = accuracy_sources(s)
    if sources:
        parts += ["<p>Accuracy sources:</p>", "<ol>" + "".join(f"<li>{escape(src)}</li>" for src in sources) + "</ol>"]
    compressed = compression_rows(s)
    if compressed:
        parts += ["<h2>Compressed variants: MACs saved vs latency saved</h2>", _table_html(compressed)]
    missing = no_accuracy_rows(s)
    parts.append("<h2>No accuracy</h2>")
    if missing:
        parts += ["<p>In the table above, not in the accuracy charts:</p>",
                  _list_html([f"{label}: {reason}" for label, reason in missing])]
    else:
        parts.append("<p>Every variant has a reported accuracy.</p>")
    unmeasured = unmeasured_rows(s)
    if unmeasured:
        lines = [f"{label}: {status}" + (f" ({msg})" if msg else "") for label, status, msg in unmeasured]
        parts += ["<h2>Not measured</h2>", _list_html(lines)]
    parts += ["<h2>How to read this page</h2>", _list_html(list(READING_NOTES)), f"<script>{SORT_JS}{FILTER_JS}</script>",
              "</body></html>"]
    return "\n".join(parts) + "\n"


def profiles_page(s: ReportSlice, charts: list[tuple[Chart, bytes]], divs: list[str],
                  opkind_divs: list[str] | None = None) -> str:
    """The slice's profile page: interactive time-by-op-kind bars (`bench.report.opkind_live`) and
    rooflines (`bench.report.roofline_live`), then the op-kind and roofline PNGs, with the slice's
    provenance; self-contained like `html_page`."""
    from bench.report.interactive import plotly_script

    title = f"Profiled models: {s.provenance.target_label()}, batch {s.batch}"
    prov = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in header_items(s))
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
             f"<title>{escape(title)}</title><style>{STYLE}</style>{plotly_script() if divs or opkind_divs else ''}"
             "</head><body>",
             f"<h1>{escape(title)}</h1>", '<p><a href="report.html">back to the slice page</a></p>',
             f'<dl class="prov">{prov}</dl>']
    if opkind_divs:
        parts.append("<h2>Time by op kind</h2><p>The profiled models side by side; hover a part for its op kind, "
                     "ms per pass and share of the model.</p>")
        parts += [f'<div class="chart opkind">{div}</div>' for div in opkind_divs]
    if divs:
        parts.append("<h2>Rooflines of the profiled models</h2><p>Hover a layer for its path and numbers.</p>")
        parts += [f'<div class="chart">{div}</div>' for div in divs]
    if charts:
        parts.append("<h2>Time by op kind and rooflines (PNG, also written beside this page)</h2>")
        for chart, png in charts:
            parts.append(f'<figure><img alt="{escape(chart.title)}" src="{png_data_uri(png)}">'
                         f"<figcaption>{escape(chart.title)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
