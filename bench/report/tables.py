"""Tables of one slice: display rows, Markdown and CSV.

The CSV is for machines: one row per result, raw numbers (ms, absolute MACs and params), the
provenance repeated on every row so a file that is copied or concatenated still says where and
when it was measured. The Markdown table is for people: rounded numbers and units in headers.
"""
from __future__ import annotations

import csv
import io
import math
from typing import Any

import pandas as pd

from bench.noise import NOISY_MARK, is_noisy
from bench.report.data import CONFIG_COLUMNS, ReportSlice
from bench.report.memory import peak_mem_mib

CSV_COLUMNS = ("target", "machine", "arch", "batch", "model", "label", "family", "dataset", "dtype", "layout", "impl",
               "threads", "compile", "status", "message", "top1", "top1_kind", "top1_source", "macs", "params",
               "p50_ms", "p90_ms", "p99_ms", "ci_low_ms", "ci_high_ms", "samples", "pct_roofline", "peak_mem_mib",
               "baseline", "speedup",
               "on_front", "on_front_ci", "on_macs_front", "measured_on", "versions", "run_id")
MD_HEADERS = ("model", "family", "top-1 %", "top-1 source", "MMACs", "params (M)", "p50 ms", "p90 ms",
              "p50 95% CI (ms)", "% of roofline", "peak memory (MiB)", "speed-up vs family baseline", "Pareto front", "front (CI ties)", "MACs front")


def ordered_rows(s: ReportSlice) -> pd.DataFrame:
    """The slice's rows in table order: dataset, family, then fastest first (unmeasured last)."""
    df = s.rows.copy()
    df["_unmeasured"] = df["p50_ms"].isna()
    df["_dataset"] = df["dataset"].fillna("~")
    df = df.sort_values(["_dataset", "family", "_unmeasured", "p50_ms", "label"], kind="stable")
    return df.drop(columns=["_unmeasured", "_dataset"]).reset_index(drop=True)


def varying_settings(s: ReportSlice) -> list[str]:
    """Config columns that take more than one value in the slice (shown per row, not in the header)."""
    return [c for c in CONFIG_COLUMNS if c in s.rows.columns and s.rows[c].astype(str).nunique() > 1]


def constant_settings(s: ReportSlice) -> dict[str, str]:
    """Config columns with a single value in the slice, for the header line."""
    return {c: str(s.rows[c].iloc[0]) for c in CONFIG_COLUMNS
            if c in s.rows.columns and s.rows[c].astype(str).nunique() == 1}


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if hasattr(value, "item"):
        return value.item()
    return value


def csv_text(s: ReportSlice) -> str:
    """The slice as CSV (columns `CSV_COLUMNS`), provenance on every row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    prov = s.provenance
    extra = {"arch": prov.arch, "measured_on": prov.date_text(), "versions": prov.versions_text()}
    for _, r in ordered_rows(s).iterrows():
        derived = {"peak_mem_mib": peak_mem_mib(r)}  # from the row's extra, where `bench run` stores it
        writer.writerow([_plain(extra[c] if c in extra else derived[c] if c in derived else r.get(c))
                         for c in CSV_COLUMNS])
    return buf.getvalue()


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec)


def _ms(value: Any) -> str:
    """Milliseconds with 3-4 significant digits and never in e-notation."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _flag(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return "**yes**" if bool(value) else "no"


def _speedup(r: pd.Series) -> str:
    if pd.isna(r["speedup"]):
        return "–"
    if r["baseline"] == r["model"]:
        return "1.00× (baseline)"
    return f"{r['speedup']:.2f}× vs {r['baseline']}"


def accuracy_sources(s: ReportSlice) -> list[str]:
    """Distinct accuracy source texts in table order; the table cites them as [1], [2], ..."""
    df = ordered_rows(s)
    return list(dict.fromkeys(df.loc[df["top1"].notna(), "top1_source"].astype(str)))


def _source(r: pd.Series, sources: list[str]) -> str:
    if pd.isna(r["top1"]):
        return "–"
    return f"{r['top1_kind']} [{sources.index(str(r['top1_source'])) + 1}]"


def display_rows(s: ReportSlice) -> list[dict[str, str]]:
    """Formatted table rows keyed by `MD_HEADERS` (plus "settings" when settings vary).

    The source column gives the kind (paper, torchvision metadata, measured) and a reference
    number into `accuracy_sources`, which the pages list under the table.
    """
    settings = varying_settings(s)
    sources = accuracy_sources(s)
    out = []
    for _, r in ordered_rows(s).iterrows():
        ci = "–" if pd.isna(r["ci_low_ms"]) else f"{_ms(r['ci_low_ms'])}–{_ms(r['ci_high_ms'])}"
        row = {
            "model": r["label"] if r["status"] == "ok" else f"{r['label']} ({r['status']})",
            "family": str(r["family"]),
            "top-1 %": _fmt(r["top1"], ".2f"),
            "top-1 source": _source(r, sources),
            "MMACs": _fmt(r["macs"] / 1e6 if pd.notna(r["macs"]) else None, ".2f"),
            "params (M)": _fmt(r["params"] / 1e6 if pd.notna(r["params"]) else None, ".3f"),
            # a noisy p50 (time cap hit before the CI target) is shown, but marked as imprecise
            "p50 ms": _ms(r["p50_ms"]) + (f" ({NOISY_MARK})" if is_noisy(r["status"], r.get("stop_reason")) else ""),
            "p90 ms": _ms(r["p90_ms"]),
            "p50 95% CI (ms)": ci,
            # blank without a stored profile of the cell (bench.report.profiles)
            "% of roofline": _fmt(r.get("pct_roofline"), ".1f"),
            "peak memory (MiB)": _fmt(peak_mem_mib(r), ".3g"),
            "speed-up vs family baseline": _speedup(r),
            "Pareto front": _flag(r["on_front"]),
            "front (CI ties)": _flag(r["on_front_ci"]),
            "MACs front": _flag(r["on_macs_front"]),
        }
        if settings:
            row["settings"] = ", ".join(f"{c}={r[c]}" for c in settings)
        out.append(row)
    return out


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[dict[str, str]]) -> str:
    """A GitHub-flavoured Markdown table of `display_rows` output."""
    if not rows:
        return "_no results_\n"
    headers = list(rows[0].keys())
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_md_cell(r[h]) for h in headers) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def no_accuracy_rows(s: ReportSlice) -> list[tuple[str, str]]:
    """(label, reason) for every row without an accuracy: in the tables, not in accuracy charts."""
    df = ordered_rows(s)
    missing = df[df["top1"].isna()]
    return [(r["label"], r["no_accuracy_reason"] or "no accuracy") for _, r in missing.iterrows()]


def unmeasured_rows(s: ReportSlice) -> list[tuple[str, str, str]]:
    """(label, status, message) for cells without a latency (oom, unsupported, error, ...)."""
    df = ordered_rows(s)
    bad = df[(df["status"] != "ok") | df["p50_ms"].isna()]
    return [(r["label"], str(r["status"]), str(r["message"] or "") if pd.notna(r["message"]) else "")
            for _, r in bad.iterrows()]


def compression_rows(s: ReportSlice) -> list[dict[str, str]]:
    """"MACs saved vs latency saved" for every measured compressed variant (a `parent` in its
    metadata) whose parent was measured in the same slice: how much of the MACs saving became time."""
    ok = s.measured()
    base = {r["model"]: r for _, r in ok.iterrows()}
    out = []
    for _, r in ordered_rows(s).iterrows():
        parent = r.get("parent")
        if r["status"] != "ok" or not isinstance(parent, str) or parent not in base:
            continue
        p = base[parent]
        if pd.isna(r["macs"]) or pd.isna(p["macs"]) or not p["macs"] or pd.isna(r["p50_ms"]):
            continue
        macs_saved = 1 - r["macs"] / p["macs"]
        time_saved = 1 - r["p50_ms"] / p["p50_ms"]
        out.append({
            "variant": r["label"], "parent": parent,
            "MACs saved": f"{macs_saved:.1%}", "latency saved (p50)": f"{time_saved:.1%}",
            "latency saved / MACs saved": f"{time_saved / macs_saved:.2f}" if macs_saved > 0 else "–",
            "p50 ms (variant / parent)": f"{_ms(r['p50_ms'])} / {_ms(p['p50_ms'])}",
        })
    return out
