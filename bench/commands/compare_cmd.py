"""`bench compare BASE NEW`: per-cell latency comparison of two runs; exit 1 on a regression."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench import defaults
from bench.errors import BenchError
from bench.output import render

FORMATS = ("table", "json")
TABLE_COLUMNS = ["model", "impl", "batch", "dtype", "layout", "threads", "runs", "base_ms", "new_ms", "change", "ci",
                 "p_value", "threshold", "verdict", "gate", "note"]
_DESCRIPTION = """\
Compare two runs cell by cell (model, batch, dtype, layout, impl, threads, compile): ratio of
medians NEW/BASE with a 95% CI, and a verdict (faster / slower / unchanged / inconclusive /
not comparable). A regression is a significantly slower cell whose CI lower bound exceeds
1 + threshold.

Two separately made runs differ by more than their samples show (the machine's state
changes between processes), and one run per side cannot tell how much: such cells are
'inconclusive' (the ratio is shown, exit 0). For a verdict, pool several runs per side
(comma-separated run ids, or --all-runs for files): the CI is then a two-level bootstrap over
runs and samples. Or use `bench regress`, which interleaves both revisions on one machine.

BASE and NEW are each a run id in --db ('latest' and 'latest~N' work too), a results .sqlite
file (its newest run, or all with --all-runs), a JSON export (likewise), or several of these
joined by commas (pooled). The runs' machine fingerprints must match; fields known to jitter
(CPU clock reading, git commit, dates, free memory, load) are ignored, and a warning is
printed when the two sides ran under materially different load.

Exit status: 0 no regression, 1 regression, 2 usage error or fingerprints differ (without --force)."""


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench compare`."""
    p = sub.add_parser("compare", help="compare two runs; exit 1 on a latency regression", description=_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", metavar="BASE",
                   help="baseline: run id in --db, .sqlite file or JSON export; comma-separated to pool several")
    p.add_argument("new", metavar="NEW",
                   help="candidate: run id in --db, .sqlite file or JSON export; comma-separated to pool several")
    p.add_argument("--db", default=defaults.DEFAULT_DB, help="SQLite results file for run ids (default %(default)s)")
    p.add_argument("--all-runs", action="store_true",
                   help="a .sqlite or JSON file stands for all its runs, pooled (default: its newest run)")
    add_gate_arguments(p)
    p.add_argument("--force", action="store_true", help="compare even when the machine fingerprints differ")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    p.add_argument("--output", default=None, help="also write the report to this file (.json: JSON, else text)")
    return p


def add_gate_arguments(p: argparse.ArgumentParser) -> None:
    """--threshold, --threshold-for, --thresholds and --alpha (shared with `bench regress`)."""
    p.add_argument("--threshold", default=None,
                   help="slowdown that counts as a regression when significant, e.g. 5%% (default 5%%)")
    p.add_argument("--threshold-for", action="append", default=[], metavar="MODEL=PCT",
                   help="per-model threshold, MODEL may be a wildcard (repeatable), e.g. 'vgg16_cifar*=10%%'")
    p.add_argument("--thresholds", action="append", default=[], metavar="FILE",
                   help="TOML or JSON file mapping model names/wildcards to thresholds ('default' sets the default)")
    p.add_argument("--alpha", default="0.01", help="significance level of both tests (default %(default)s)")


def gate_settings(args: argparse.Namespace):
    """(Thresholds, alpha) from the gate arguments; BenchError on bad input."""
    from bench.thresholds import build_thresholds

    try:
        alpha = float(args.alpha)
    except ValueError:
        raise BenchError(f"--alpha: '{args.alpha}' is not a number") from None
    if not 0 < alpha < 1:
        raise BenchError(f"--alpha: {args.alpha} must be between 0 and 1")
    return build_thresholds(args.threshold, args.threshold_for, args.thresholds), alpha


# -- where BASE / NEW come from -------------------------------------------------------------------

def _is_json_file(path: Path) -> bool:
    if path.suffix.lower() == ".json":
        return True
    with path.open("rb") as fh:
        return fh.read(64).lstrip()[:1] in (b"{", b"[")


def _newest(runs: list[dict[str, Any]]) -> dict[str, Any]:
    # created_at has one-second resolution: among equals, the later one in the file is newer
    return max(enumerate(runs), key=lambda ir: (str(ir[1].get("created_at") or ""), ir[0]))[1]


def _run_in_db(spec: str, db: str, role: str):
    """Resolve 'latest', 'latest~N' or a literal run id against the store `db`; its RunData."""
    from bench.runs import run_from_store
    from bench.store import open_existing

    if not Path(db).exists():
        raise BenchError(f"{role} '{spec}' is not a file, and there is no database {db} to look it up in (--db)")
    with open_existing(db) as store:
        if spec == "latest" or spec.startswith("latest~"):
            back = spec[len("latest~"):] if "~" in spec else "0"
            if not back.isdigit():
                raise BenchError(f"{role} '{spec}': use latest or latest~N with N a whole number")
            ids = store.run_ids()
            if int(back) >= len(ids):
                raise BenchError(f"{role} '{spec}': {db} has only {len(ids)} run(s)")
            spec = str(ids[-1 - int(back)])
        if store.run_info(spec) is None:
            raise BenchError(f"{role} '{spec}' is neither a file nor a run id in {db}; see `bench results --db {db}`")
        return run_from_store(store, spec)


def _runs_of(spec: str, db: str, role: str, all_runs: bool) -> list:
    """The runs one comma-free spec names: a file's newest run (or all of them), or one run in `db`."""
    from bench.runs import latest_run_id, run_from_export, run_from_store
    from bench.store import ResultStore, load_export

    path = Path(spec)
    if path.is_file():
        if _is_json_file(path):
            doc = load_export(path)
            if not doc["runs"]:
                raise BenchError(f"{role}: {path} holds no runs")
            chosen = doc["runs"] if all_runs else [_newest(doc["runs"])]
            return [run_from_export(r, str(path)) for r in chosen]
        with ResultStore(path) as store:
            ids = store.run_ids() if all_runs else [latest_run_id(store)]
            if not ids:
                raise BenchError(f"{path} has no runs")
            return [run_from_store(store, rid) for rid in ids]
    if path.is_dir():
        raise BenchError(f"{role}: {path} is a directory; give a .sqlite file, a JSON export or a run id")
    return [_run_in_db(spec, db, role)]


def load_side(spec: str, db: str, role: str, all_runs: bool = False):
    """RunData for BASE or NEW: one or several (comma-separated, pooled) files or run ids in `db`."""
    from bench.runs import pool_runs

    parts = [p.strip() for p in spec.split(",") if p.strip()] if "," in spec and not Path(spec).exists() else [spec]
    if not parts:
        raise BenchError(f"{role}: '{spec}' names no run")
    runs = [run for part in parts for run in _runs_of(part, db, role, all_runs)]
    if len(runs) == 1:
        return runs[0]
    ids = [rid for r in runs for rid in r.run_ids]
    if len(set(ids)) != len(ids):
        raise BenchError(f"{role}: '{spec}' names the same run twice")
    return pool_runs(runs, f"{len(runs)} runs pooled ({', '.join(ids)})")


# -- rendering ------------------------------------------------------------------------------------

def _pct(x: float | None) -> str | None:
    return None if x is None else f"{x - 1:+.1%}"


def table_rows(comparison) -> list[dict[str, Any]]:
    """Rows for the text table: ratios as signed percentages, the CI as a range."""
    rows = []
    for c in comparison.cells:
        row = c.to_row()
        row.update(change=_pct(c.ratio), ci=None if c.ci_low is None else f"[{_pct(c.ci_low)}, {_pct(c.ci_high)}]",
                   runs=f"{c.runs_base}/{c.runs_new}",
                   threshold=f"{c.threshold:.1%}", gate="REGRESSION" if c.regression else "",
                   p_value=None if c.p_value is None else f"{c.p_value:.2g}")
        rows.append(row)
    return rows


def _side_line(role: str, side) -> str:
    from bench.fingerprint import machine_label

    commit = (side.git_commit or "?")[:12] + ("-dirty" if (side.git_commit or "").endswith("-dirty") else "")
    return (f"# {role}: {side.label}; commit {commit}; {side.created_at or '?'}; "
            f"{machine_label(side.target, side.fingerprint)}")


def contended_line(comparison) -> str:
    """A warning naming the cells the contention guard flagged on either side ("" when none)."""
    sides = [(name, sorted(c.cell.label() for c in side.cells.values() if c.contended))
             for name, side in (("BASE", comparison.base), ("NEW", comparison.new))]
    parts = [f"{name}: {', '.join(cells[:5])}" + (f" (+{len(cells) - 5} more)" if len(cells) > 5 else "")
             for name, cells in sides if cells]
    if not parts:
        return ""
    return ("WARNING: cells measured under contention (bench.guard flagged them after its retries): "
            + "; ".join(parts))


def header_lines(comparison) -> list[str]:
    """What was compared with what, and how the fingerprints matched."""
    from bench.fingerprint_match import JITTER_FIELDS, describe_fields

    fp = comparison.fingerprint
    lines = [_side_line("BASE", comparison.base), _side_line("NEW ", comparison.new)]
    if fp.differing:
        lines.append(f"# WARNING: fingerprints differ (compared anyway, --force): {describe_fields(fp.differing)}")
    else:
        lines.append("# fingerprints match")
    shown = {k: v for k, v in fp.jittered.items() if k in JITTER_FIELDS}
    if shown:
        lines.append(f"# ignored (known to jitter): {describe_fields(shown)}")
    if comparison.load_warning:
        lines.append(f"# {comparison.load_warning}")
    contended = contended_line(comparison)
    if contended:
        lines.append(f"# {contended}")
    if any(c.ci_method == "rounds" for c in comparison.cells):
        paired = ", paired (made side by side)" if comparison.base.interleaved and comparison.new.interleaved else ""
        lines.append(f"# CIs: two-level bootstrap over the pooled runs ({len(comparison.base.run_ids)} BASE, "
                     f"{len(comparison.new.run_ids)} NEW{paired}), then the samples within each")
    return lines


def footer_lines(comparison) -> list[str]:
    """The summary and one line per regression."""
    from bench.comparison import ADVICE_ONE_RUN

    lines = [comparison.summary_line()]
    if comparison.inconclusive:
        lines.append(f"INCONCLUSIVE {len(comparison.inconclusive)} cell(s), not gated: {ADVICE_ONE_RUN}")
    for c in comparison.regressions:
        lines.append(f"REGRESSION {c.model} b{c.batch} {c.dtype} {c.layout} t{c.threads}"
                     + (f" {c.impl}" if c.impl else "")
                     + f": {c.base_ms:.4g} -> {c.new_ms:.4g} ms ({_pct(c.ratio)}, 95% CI "
                       f"[{_pct(c.ci_low)}, {_pct(c.ci_high)}], p={c.p_value:.2g}): CI lower bound > threshold "
                       f"{c.threshold:.1%}")
    return lines


def text_report(comparison) -> str:
    """The full human report: header, table, summary."""
    return "\n".join([*header_lines(comparison), render(table_rows(comparison), TABLE_COLUMNS, "table"),
                      *footer_lines(comparison)])


def json_report(comparison) -> dict[str, Any]:
    """The full report as a JSON-friendly dict."""
    def side(s) -> dict[str, Any]:
        """One side's provenance."""
        return {"label": s.label, "run_ids": s.run_ids, "target": s.target, "git_commit": s.git_commit,
                "created_at": s.created_at, "fingerprint": s.fingerprint, "interleaved": s.interleaved}

    fp = comparison.fingerprint
    return {"base": side(comparison.base), "new": side(comparison.new),
            "fingerprint": {"match": fp.ok, "forced": comparison.forced,
                            "differing": {k: list(v) for k, v in fp.differing.items()},
                            "ignored_jitter": {k: list(v) for k, v in fp.jittered.items()}},
            "threshold": comparison.default_threshold, "alpha": comparison.alpha,
            "counts": comparison.counts(), "regressions": len(comparison.regressions),
            "load_warning": comparison.load_warning, "contended_warning": contended_line(comparison) or None,
            "cells": [c.to_row() for c in comparison.cells]}


def emit(comparison, fmt: str, output: str | None) -> int:
    """Print the report (and write it to `output`); return the exit status (1 on a regression)."""
    import json

    doc = json.dumps(json_report(comparison), indent=2, default=str)
    text = doc if fmt == "json" else text_report(comparison)
    print(text)
    if comparison.forced:
        print("bench: warning: fingerprints differ; compared anyway (--force)", file=sys.stderr)
    if comparison.load_warning:
        print(f"bench: {comparison.load_warning.lower()}", file=sys.stderr)
    if contended_line(comparison):
        print(f"bench: {contended_line(comparison).lower()}", file=sys.stderr)
    if output:
        out = Path(output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text((doc if out.suffix.lower() == ".json" else text_report(comparison)) + "\n")
    return 1 if comparison.regressions else 0


def run(args: argparse.Namespace) -> int:
    """Load both sides, compare, print; exit 1 on a regression."""
    from bench.comparison import compare_runs

    thresholds, alpha = gate_settings(args)
    base = load_side(args.base, args.db, "BASE", args.all_runs)
    new = load_side(args.new, args.db, "NEW", args.all_runs)
    comparison = compare_runs(base, new, thresholds, alpha=alpha, force=args.force)
    return emit(comparison, args.format, args.output)
