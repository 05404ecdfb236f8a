"""The Markdown page of one slice (README.md, so a repository browser shows it in the folder)."""
from __future__ import annotations

from bench.report.charts import Chart
from bench.report.data import ReportSlice
from bench.report.fronts import RankComparison
from bench.report.notes import READING_NOTES, header_items, rank_lines
from bench.report.tables import (accuracy_sources, compression_rows, display_rows, markdown_table, no_accuracy_rows,
                                 unmeasured_rows)


def markdown_page(s: ReportSlice, charts: list[Chart], ranks: RankComparison) -> str:
    """Header with provenance, chart images (relative links), the table and the side lists."""
    lines = [f"# {s.provenance.target_label()}, batch {s.batch}", ""]
    lines += [f"- **{name}**: {value}" for name, value in header_items(s)]
    lines += ["", "Written by `bench report`; `results.csv` holds the same rows with raw numbers, "
                  "`report.html` is a self-contained page.", ""]
    if charts:
        lines += ["## Charts", ""]
        for chart in charts:
            lines += [f"![{chart.title}]({chart.stem}.png)", ""]
    lines += ["## Latency vs MACs", ""] + [f"- {line}" for line in rank_lines(ranks)] + [""]
    lines += ["## Results", "", markdown_table(display_rows(s))]
    sources = accuracy_sources(s)
    if sources:
        lines += ["Accuracy sources:", ""] + [f"{i}. {src}" for i, src in enumerate(sources, 1)] + [""]
    compressed = compression_rows(s)
    if compressed:
        lines += ["## Compressed variants: MACs saved vs latency saved", "",
                  "Each pruned / low-rank variant against its dense parent (measured in this slice).", "",
                  markdown_table(compressed)]
    missing = no_accuracy_rows(s)
    lines += ["## No accuracy", ""]
    if missing:
        lines += ["In the table above, not in the accuracy charts:", ""]
        lines += [f"- {label}: {reason}" for label, reason in missing]
    else:
        lines += ["Every variant has a reported accuracy."]
    unmeasured = unmeasured_rows(s)
    if unmeasured:
        lines += ["", "## Not measured", ""]
        lines += [f"- {label}: {status}" + (f" ({msg})" if msg else "") for label, status, msg in unmeasured]
    lines += ["", "## How to read this page", ""] + [f"- {note}" for note in READING_NOTES]
    return "\n".join(lines) + "\n"
