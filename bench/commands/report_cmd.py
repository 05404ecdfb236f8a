"""`bench report`: Pareto charts, tables and an HTML page per target, machine and batch size."""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_DB = "bench-out/results.sqlite"
# bench-out/ is the scratch area; publishing into the committed reports/ folder is explicit (--out reports)
DEFAULT_OUT = "bench-out/report"


def _batch(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch must be a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"batch must be a positive integer, got '{text}'")
    return value


def _run_ids(text: str) -> list[str]:
    ids = [t.strip() for t in text.split(",") if t.strip()]
    if not ids:
        raise argparse.ArgumentTypeError(f"--run wants run ids separated by commas, got '{text}'")
    return ids


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench report`."""
    p = sub.add_parser(
        "report", help="write Pareto charts, tables and an HTML page from stored results",
        description="Write, per target, machine and batch size, under OUT/<target>-<machine>/batch-<B>/: "
                    "accuracy vs p50 latency and accuracy vs MACs charts with the Pareto front, a latency vs "
                    "MACs scatter with Spearman's rank correlation, README.md (Markdown table), results.csv and "
                    "a self-contained report.html. Accuracy is the zoo's reported top-1 with its source.")
    p.add_argument("--db", default=DEFAULT_DB, help=f"results database written by `bench run` (default {DEFAULT_DB})")
    p.add_argument("--target", help="only this target (cpu, cuda, mobile); default: every target in the database")
    p.add_argument("--batch", type=_batch, help="only this batch size; default: every batch size")
    p.add_argument("--run", type=_run_ids, metavar="ID[,ID]",
                   help="only these runs (default: every run, the newest measurement per grid cell)")
    p.add_argument("--latest", action="store_true", help="only the newest run of each target and machine")
    p.add_argument("--since", metavar="DATE", help="only runs started on or after DATE (e.g. 2026-11-22; UTC)")
    p.add_argument("--out", default=DEFAULT_OUT,
                   help=f"output folder (default {DEFAULT_OUT}/; `--out reports` publishes into the committed "
                        "reports/ folder). Files are only written inside it")
    return p


def run(args: argparse.Namespace) -> int:
    """Load the store, write every selected slice, print one line per folder written."""
    from bench.report.selection import select_runs
    from bench.report.source import check_selection, load_frames
    from bench.report.profiles import load_profiles
    from bench.report.writer import write_reports

    from bench.report.writer import check_out_dir

    db = Path(args.db)
    out = check_out_dir(Path(args.out))
    results, runs = load_frames(db)
    results, selection = select_runs(results, run_ids=args.run, latest=args.latest, since=args.since)
    check_selection(results, db, args.target, args.batch)
    written = write_reports(results, runs, out, target=args.target, batch=args.batch, selection=selection,
                            db=db, profiles=load_profiles(db))
    for w in written:
        n_ok = int((w.slice.rows["status"] == "ok").sum())
        print(f"{w.folder}: {len(w.slice.rows)} results ({n_ok} measured), {len(w.files)} files "
              f"[{w.slice.provenance.target_label()}]")
    return 0
