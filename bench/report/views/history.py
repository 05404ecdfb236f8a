"""History view (asv-style): p50 per model over the runs in the store, one page per target, machine
and batch, with the changes `bench compare`'s statistics call marked.

x is the run's start time, the hover names its git commit. Runs at the same commit are pooled into
one side, as `bench compare ID1,ID2 ID3,ID4` pools them, and each commit is compared with the
previous one by `bench.comparison.compare_runs` (no statistics here): several runs per commit give
real verdicts (a two-level bootstrap carrying the run-to-run spread); one separately made run per
commit gives `inconclusive`, as `bench compare` says, and nothing is marked. Needs the database
(raw samples); without it the lines are drawn with no verdicts.
"""
from __future__ import annotations

from html import escape

import pandas as pd

from bench.report.views.base import SiteData, ViewPage, slice_name, slice_slug
from bench.report.views.page import figure_div, list_html, table_html, view_html

NAME = "history"
TITLE = "History across runs and commits"
NEEDS = "two or more runs of one target, machine and batch size"
MARKS = {"slower": ("triangle-up", "#D55E00"), "faster": ("triangle-down", "#009E73")}


def commit_groups(rows: pd.DataFrame, runs: pd.DataFrame) -> list[tuple[str, list[str], str]]:
    """(commit, run ids, first start time) per commit, oldest first; a run without a commit is its own group."""
    commit = runs.set_index("run_id")["git_commit"].to_dict() if "git_commit" in runs.columns else {}
    starts = rows.groupby("run_id")["run_created_at"].first().sort_values()
    groups: dict[str, tuple[list[str], str]] = {}
    for rid, start in starts.items():
        key = str(commit.get(rid) or f"run {rid}")
        groups.setdefault(key, ([], str(start)))[0].append(str(rid))
    return sorted(((k, ids, start) for k, (ids, start) in groups.items()), key=lambda g: g[2])


def commit_changes(data: SiteData, groups, batch: int) -> tuple[list, list[str]]:
    """Per consecutive commit pair: the CellComparisons of this batch (from `compare_runs` on the
    pooled runs), with the newer group; and notes for pairs that could not be compared.

    Runs and comparisons are cached on `data`, so the pages of several batches of one target
    load and compare each pair of commits once."""
    from bench.comparison import compare_runs
    from bench.errors import BenchError
    from bench.runs import pool_runs, run_from_store
    from bench.store import ResultStore

    cache = data.cache.setdefault("history", {})
    changes, notes = [], []
    sides = []
    with ResultStore(data.db, readonly=True) as store:
        for commit, ids, start in groups:
            key = ("side", tuple(ids))
            if key not in cache:
                try:
                    cache[key] = pool_runs([run_from_store(store, rid) for rid in ids], f"commit {commit}")
                except BenchError as exc:
                    cache[key] = f"commit {commit}: runs not pooled ({exc})"
            sides.append(cache[key])
    notes += [s for s in sides if isinstance(s, str)]
    for (old, new), (_, new_group) in zip(zip(sides, sides[1:]), zip(groups, groups[1:])):
        if isinstance(old, str) or isinstance(new, str):
            continue
        key = ("compare", tuple(old.run_ids), tuple(new.run_ids))
        if key not in cache:
            try:
                cache[key] = compare_runs(old, new)
            except BenchError as exc:
                cache[key] = f"{old.label} -> {new.label}: not compared ({exc})"
        if isinstance(cache[key], str):
            notes.append(cache[key])
            continue
        changes.append((new_group, [c for c in cache[key].cells if c.batch == batch]))
    return changes, notes


def _label_by_cell(rows: pd.DataFrame) -> dict:
    from bench.runs import cell_from_record

    return {cell_from_record(rec, []).key(): rec["label"] for rec in rows.to_dict("records")
            if isinstance(rec.get("cell_key"), str)}


def history_page(data: SiteData, s, rows: pd.DataFrame) -> ViewPage | None:
    """The page of one slice's history; None with fewer than two runs."""
    import plotly.graph_objects as go

    from bench.report.charts import family_colors, hex_color
    from bench.report.data import add_labels

    ok = rows[(rows["status"] == "ok") & rows["p50_ms"].notna()]
    if ok["run_id"].nunique() < 2:
        return None
    ok = add_labels(ok.reset_index(drop=True))
    ok["when"] = pd.to_datetime(ok["run_created_at"], utc=True, format="ISO8601")
    groups = commit_groups(ok, data.runs)
    commit_of = {rid: commit for commit, ids, _ in groups for rid in ids}
    colors = family_colors(ok.drop_duplicates("label")["family"].astype(str).tolist())
    fig = go.Figure()
    for label, part in ok.sort_values("when").groupby("label", sort=True):
        family = str(part["family"].iloc[0])
        fig.add_trace(go.Scatter(
            x=part["when"], y=part["p50_ms"], mode="lines+markers", name=str(label), legendgroup=family,
            line=dict(color=hex_color(colors[family]), width=1),
            hovertext=[f"<b>{escape(str(label))}</b><br>p50 {r.p50_ms:.3g} ms<br>run {escape(str(r.run_id))}<br>"
                       f"commit {escape(commit_of.get(r.run_id, '?')[:12])}" for r in part.itertuples()],
            hoverinfo="text"))
    notes = [f"{ok['run_id'].nunique()} runs at {len(groups)} commits; runs at one commit are pooled and each "
             "commit is compared with the previous one by `bench compare`'s statistics."]
    marked = []
    if data.db is None:
        notes.append("No database given: no verdicts (they need the raw samples).")
    else:
        changes, problems = commit_changes(data, groups, s.batch)
        notes += problems
        labels = _label_by_cell(ok)
        inconclusive = 0
        for (commit, ids, start), cells in changes:
            inconclusive += sum(c.verdict == "inconclusive" for c in cells)
            new_rows = ok[ok["run_id"].isin(ids)]
            for c in cells:
                if c.verdict not in MARKS:
                    continue
                label = labels.get(c.cell, c.model)
                where = new_rows[new_rows["label"] == label]
                marked.append(dict(commit=commit, when=where["when"].min() if len(where) else pd.Timestamp(start),
                                   label=label, verdict=c.verdict, regression=c.regression, ratio=c.ratio,
                                   ci=(c.ci_low, c.ci_high), y=where["p50_ms"].median() if len(where) else c.new_ms))
        if inconclusive:
            notes.append(f"{inconclusive} cell comparisons inconclusive: one separately made run per commit "
                         "(run the commit several times, or use `bench regress`, for a verdict).")
    for verdict, (symbol, color) in MARKS.items():
        these = [m for m in marked if m["verdict"] == verdict]
        if these:
            fig.add_trace(go.Scatter(
                x=[m["when"] for m in these], y=[m["y"] for m in these], mode="markers", name=f"{verdict} (bench compare)",
                marker=dict(symbol=symbol, size=14, color=color, line=dict(color="black", width=1)),
                hovertext=[f"<b>{escape(str(m['label']))}</b><br>{verdict} at {escape(m['commit'][:12])}: "
                           f"{m['ratio']:.3g}x (95% CI {m['ci'][0]:.3g}–{m['ci'][1]:.3g})"
                           + ("<br>regression" if m["regression"] else "") for m in these], hoverinfo="text"))
    fig.update_layout(title=f"p50 per run, {escape(slice_name(s))}", template="simple_white", height=560,
                      hovermode="closest")
    fig.update_xaxes(title="run start (UTC)", showgrid=True)
    fig.update_yaxes(type="log", title="p50 latency (ms, log scale)", showgrid=True)
    table = table_html(["commit", "model", "verdict", "ratio new/old", "95% CI", "regression"],
                       [[m["commit"][:12], str(m["label"]), m["verdict"], f"{m['ratio']:.3g}",
                         f"{m['ci'][0]:.3g}–{m['ci'][1]:.3g}", "yes" if m["regression"] else "no"] for m in marked],
                       "history-changes")
    return ViewPage(f"history-{slice_slug(s)}.html", f"History, {slice_name(s)}",
                    f"{ok['run_id'].nunique()} runs, {len(groups)} commits, {len(marked)} changes marked",
                    view_html(f"History, {slice_name(s)}", "p50 of each model in every run of this slice.",
                              ["<h2>Chart</h2>", list_html(notes), figure_div(fig, "history-chart"),
                               "<h2>Changes called by bench compare</h2>", table]))


def build(data: SiteData) -> list[ViewPage]:
    """One page per slice measured in two or more runs."""
    from bench.report.data import TARGET_ALIASES

    results = data.results.assign(target=data.results["target"].map(lambda t: TARGET_ALIASES.get(t, t)))
    pages = []
    for s in data.slices:
        rows = results[(results["target"] == s.target) & (results["machine"] == s.machine)
                       & (results["batch"] == s.batch)]
        page = history_page(data, s, rows)
        if page is not None:
            pages.append(page)
    return pages
