"""`bench export`: write runs from the SQLite store to a JSON file (to merge elsewhere)."""
from __future__ import annotations

import argparse
import sys

from bench import defaults


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench export`."""
    p = sub.add_parser("export", help="export runs to JSON",
                       description="Export runs (fingerprint, settings, results and raw samples) to one JSON "
                                   "file, e.g. from a GPU box or an ARM board; merge it with `bench import`.")
    p.add_argument("out", help="output JSON file")
    p.add_argument("--db", default=defaults.DEFAULT_DB, help="SQLite results file (default %(default)s)")
    p.add_argument("--run", action="append", default=None, help="only this run id (repeatable; default all)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing file that is not a zoobench export (never the database itself)")
    return p


def run(args: argparse.Namespace) -> int:
    """Export and report counts on stderr."""
    from pathlib import Path

    from bench.store import check_export_target, open_existing

    check_export_target(Path(args.out), Path(args.db), force=args.force)  # before opening anything
    with open_existing(args.db) as store:
        counts = store.export_json(args.out, run_ids=args.run, force=args.force)
    print(f"exported {counts['runs']} run(s), {counts['results']} result(s) to {args.out}", file=sys.stderr)
    return 0
