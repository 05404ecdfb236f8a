"""`bench import`: merge a JSON export into the SQLite store without duplicating runs."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import defaults


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench import`."""
    p = sub.add_parser("import", help="merge a JSON export into the results database",
                       description="Merge runs from a `bench export` JSON file. A run already present gains "
                                   "only the cells it lacks, so importing twice adds nothing. The whole file is "
                                   "validated first (the first bad field is named by its JSON path) and imported "
                                   "in one transaction: all of it or nothing.")
    p.add_argument("src", metavar="IN.json", help="JSON file written by `bench export`")
    p.add_argument("--db", default=defaults.DEFAULT_DB, help="SQLite results file (default %(default)s)")
    return p


def run(args: argparse.Namespace) -> int:
    """Import and report counts on stderr."""
    from bench.store import ResultStore, load_export_model

    doc = load_export_model(Path(args.src))  # validate in full before creating or touching the database
    with ResultStore(args.db) as store:
        s = store.import_doc(doc, args.src)
    print(f"imported {s.runs_added} new run(s), {s.results_added} result(s); "
          f"{s.results_skipped} already present", file=sys.stderr)
    return 0
