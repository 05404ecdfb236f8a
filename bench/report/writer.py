"""Write report files: `<out>/<target>-<machine-slug>/batch-<B>/` per slice, plus an index.

Per slice: `README.md` (Markdown page with the table), `results.csv`, `report.html`
(self-contained) and one PNG per chart. Each file is written to a temporary name and renamed,
so an interrupted report never leaves a half-written file; chart files from an earlier report
that this one no longer draws are removed so a folder never mixes two reports.
"""
from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.report.charts import slice_charts
from bench.report.data import ReportSlice, build_slices, fleet_target_of
from bench.report.html import html_page
from bench.report.markdown import markdown_page
from bench.report.selection import Selection
from bench.report.tables import csv_text

CHART_GLOBS = ("accuracy-vs-*.png", "latency-vs-macs.png", "roofline-*.png", "time-by-op-kind*.png")


@dataclass
class WrittenSlice:
    """A slice and the files written for it."""

    slice: ReportSlice
    folder: Path
    files: list[Path] = field(default_factory=list)


def machine_slug(hardware: str, arch: str | None = None) -> str:
    """A folder-safe short name ("Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", "x86_64" ->
    "intel-xeon-gold-6338-x86-64"): trademark marks, "CPU @ clock" and "Processor" dropped."""
    text = hardware.lower()
    text = re.sub(r"\((r|tm)\)", " ", text)
    text = re.sub(r"\bcpu\s*@\s*[\d.]+\s*[gm]hz", " ", text)
    text = re.sub(r"\b(processor|cpu)\b", " ", text)
    if arch and arch != "unknown" and arch not in text:
        text = f"{text} {arch}"
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return slug[:60].rstrip("-") or "unknown-machine"


def target_folder(out: Path, s: ReportSlice) -> Path:
    """`<out>/<target>-<machine-slug>`, the machine named by the hardware that ran the model.

    Both parts are slugs ([a-z0-9-] only), so a stored or imported name holding `/` or `..`
    can never place a file outside `out`."""
    prov = s.provenance
    name = f"{path_slug(str(s.target))}-{machine_slug(prov.hardware(), prov.folder_arch())}"
    fleet = fleet_target_of(s.machine)
    if fleet:  # two fleet workers of one hardware: one folder each (the label's tail tells them apart)
        name += "-fleet-" + re.sub(r"[^a-z0-9]+", "-", fleet.lower()).strip("-")[-40:].strip("-")
    return _confined(out, out / name)


def path_slug(text: str) -> str:
    """A name safe as one path component: lower-case letters, digits and single dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "unknown"


def _confined(out: Path, path: Path) -> Path:
    """`path` if it lies inside `out` (after resolving links), else ValueError: a bug, never user data."""
    if not path.resolve().is_relative_to(out.resolve()):
        raise ValueError(f"report path {path} escapes the output folder {out}")
    return path


def check_out_dir(out: Path) -> Path:
    """The report's output folder, checked (not created: nothing is written before the data is
    read); BenchError (one line) when it is a file or lies under one."""
    from bench.errors import BenchError

    if out.exists() and not out.is_dir():
        raise BenchError(f"--out {out} is a file; give a folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise BenchError(f"--out {out}: {parent} is a file, not a folder")
            break
    return out


def _write_atomic(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed write (disk full, Ctrl-C) leaves no stray temporary file
        raise
    return path


PROFILES_PAGE = "profiles.html"  # per slice: the profiled models' op-kind and roofline charts


def write_slice(s: ReportSlice, out: Path, profiles=None) -> WrittenSlice:
    """Render and write every file of one slice; returns the folder and files. `profiles` (a
    `bench.report.profiles.ProfileSet`) adds the op-kind and roofline charts of profiled models."""
    from bench.report.opkind import profile_charts

    folder = _confined(out, target_folder(out, s) / f"batch-{path_slug(str(s.batch))}")
    folder.mkdir(parents=True, exist_ok=True)
    written = WrittenSlice(s, folder)
    charts, ranks = slice_charts(s.rows, s.datasets_with_accuracy(), s.provenance, s.batch)
    extra = profile_charts(s, profiles)
    pngs = []
    for chart in charts + extra:
        buf = io.BytesIO()
        chart.figure.savefig(buf, format="png", dpi=chart.figure.dpi)
        png = buf.getvalue()
        pngs.append((chart, png))
        written.files.append(_write_atomic(folder / f"{chart.stem}.png", png))
    keep = {p.name for p in written.files}
    for pattern in CHART_GLOBS:
        for stale in folder.glob(pattern):
            if stale.name not in keep:
                stale.unlink()
    written.files.append(_write_atomic(folder / "README.md", markdown_page(s, charts + extra, ranks).encode()))
    written.files.append(_write_atomic(folder / "results.csv", csv_text(s).encode()))
    from bench.report.html import profiles_page
    from bench.report.opkind_live import opkind_divs
    from bench.report.roofline_live import roofline_divs

    # the profiled models' charts get a page of their own: with a dozen profiled models inline, the
    # slice page grew past 9 MB and 2 s to interactive (issue 17's budget is 8 MB / 2 s)
    main_pngs, profile_pngs = pngs[:len(charts)], pngs[len(charts):]
    divs = roofline_divs(s, profiles)
    bars = opkind_divs(s, profiles)
    has_profiles = bool(profile_pngs or divs or bars)
    html = html_page(s, main_pngs, ranks, profiles_link=PROFILES_PAGE if has_profiles else None)
    written.files.append(_write_atomic(folder / "report.html", html.encode()))
    stale_profiles = folder / PROFILES_PAGE
    if has_profiles:
        written.files.append(_write_atomic(stale_profiles, profiles_page(s, profile_pngs, divs, bars).encode()))
    else:
        stale_profiles.unlink(missing_ok=True)
    return written


def index_page(target_dir: Path, slices: list[WrittenSlice]) -> str:
    """Markdown index of one `<target>-<machine>` folder: one line per batch with its provenance."""
    first = slices[0].slice.provenance
    lines = [f"# {first.target_label()}", "", "| batch | measured on | versions | pages |", "|---|---|---|---|"]
    for w in sorted(slices, key=lambda w: w.slice.batch):
        prov = w.slice.provenance
        rel = w.folder.relative_to(target_dir).as_posix()
        lines.append(f"| {w.slice.batch} | {prov.date_text()} | {prov.versions_text()} | "
                     f"[Markdown]({rel}/README.md), [HTML]({rel}/report.html), [CSV]({rel}/results.csv) |")
    return "\n".join(lines) + "\n"


def site_index(out: Path, slices: list[WrittenSlice], views: list[tuple] | None = None) -> str:
    """`<out>/index.html`: one row per page written (target, machine, batch, runs, date), linked;
    then the views (`views`: (view module, its pages) pairs, see `bench.report.views`)."""
    from html import escape

    from bench.report.html import STYLE

    rows = []
    for w in sorted(slices, key=lambda w: (w.slice.target, w.slice.machine, w.slice.batch)):
        prov = w.slice.provenance
        rel = (w.folder / "report.html").relative_to(out).as_posix()
        cells = [prov.target_label(), w.slice.machine, str(w.slice.batch), ", ".join(prov.run_ids),
                 prov.date_text(), str(int((w.slice.rows["status"] == "ok").sum()))]
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells)
                    + f'<td><a href="{escape(rel)}">page</a></td></tr>')
    head = "".join(f"<th>{h}</th>" for h in ("target", "machine", "batch", "runs", "measured on", "results", ""))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>zoobench report index</title>'
            f"<style>{STYLE}</style></head><body><h1>zoobench report index</h1>"
            f"<p>One page per target, machine and batch size written by this report.</p>"
            f'<table id="index"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f"{views_index(views or [])}</body></html>\n")


def views_index(views: list[tuple]) -> str:
    """The index's "Views" section: each registered view's pages linked, or what it needs."""
    from html import escape

    parts = ["<h2>Views</h2>", '<table id="views"><thead><tr><th>view</th><th>page</th><th>summary</th></tr>'
             "</thead><tbody>"]
    for module, pages in views:
        if not pages:
            parts.append(f"<tr><td>{escape(module.TITLE)}</td><td>none</td>"
                         f"<td>needs {escape(module.NEEDS)}</td></tr>")
        for page in pages:
            parts.append(f"<tr><td>{escape(module.TITLE)}</td><td><a href=\"views/{escape(page.filename)}\">"
                         f"{escape(page.title)}</a></td><td>{escape(page.summary)}</td></tr>")
    return "".join(parts) + "</tbody></table>"


def write_views(results: pd.DataFrame, runs: pd.DataFrame, out: Path, written: list[WrittenSlice],
                db: Path | None) -> list[tuple]:
    """Build every registered view from what the report read and write its pages to `<out>/views/`.

    View pages of an earlier report that this one no longer writes are removed."""
    from bench.report.views.base import SiteData
    from bench.report.views.registry import view_modules

    data = SiteData(results, runs, [w.slice for w in written], db)
    folder = _confined(out, out / "views")
    folder.mkdir(parents=True, exist_ok=True)
    done, keep = [], set()
    for module in view_modules():
        pages = module.build(data)
        for page in pages:
            page.filename = path_slug_file(page.filename)  # the index links the name actually written
            keep.add(_write_atomic(folder / page.filename, page.html.encode()).name)
        done.append((module, pages))
    for stale in folder.glob("*.html"):
        if stale.name not in keep:
            stale.unlink()
    return done


def path_slug_file(name: str) -> str:
    """A view page's file name made folder-safe (slug stem, .html kept)."""
    stem = name[:-5] if name.endswith(".html") else name
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:150] + ".html"


def write_reports(results: pd.DataFrame, runs: pd.DataFrame, out: Path, *, target: str | None = None,
                  batch: int | None = None, selection: Selection | None = None,
                  db: Path | None = None, profiles=None) -> list[WrittenSlice]:
    """Write every slice of `results` (optionally one target / batch) under `out`, the views under
    `out/views/` and `out/index.html`; [] if none match.

    `selection` says which runs `results` was cut to; each page lists what it left out. `db`: the
    store `results` came from, for the views that read raw samples (None: they say so). `profiles`
    (`bench.report.profiles.ProfileSet`) gives the "% of roofline" column and the profile charts."""
    if profiles is not None:
        results = profiles.attach(results)
    slices = build_slices(results, runs, target=target, batch=batch, selection=selection)
    written = [write_slice(s, Path(out), profiles) for s in slices]
    by_folder: dict[Path, list[WrittenSlice]] = {}
    for w in written:
        by_folder.setdefault(w.folder.parent, []).append(w)
    for folder, group in by_folder.items():
        _write_atomic(folder / "README.md", index_page(folder, group).encode())
    if written:
        views = write_views(results, runs, Path(out), written, db)
        _write_atomic(Path(out) / "index.html", site_index(Path(out), written, views).encode())
    return written
