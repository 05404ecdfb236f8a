"""`bench costs [PATTERN]`: MACs, params and activations of zoo variants (deploy form)."""
from __future__ import annotations

import argparse
import sys

from bench.errors import BenchError
from bench.output import FORMATS, render

COLUMNS = ["name", "family", "input_size", "macs", "executed_macs", "params", "other_ops", "activations",
           "unsupported_ops"]


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench costs`."""
    p = sub.add_parser("costs", help="count MACs/params of variants (deploy form)",
                       description="Count MACs, params and activations of zoo variants on their deploy form. "
                                   "Convention: 1 MAC = one multiply-add.")
    p.add_argument("pattern", nargs="?", default="*", help="model name or wildcard(s), comma-separated")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--impl", help="HetConv implementation to count (default: each model's own)")
    p.add_argument("--check", action="store_true", help="compare with the declared-costs table; exit 1 on change")
    p.add_argument("--update", action="store_true", help="rewrite the declared-costs table for the selected models")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    """Count and print; with --check/--update compare with or rewrite the declared table."""
    import zoo
    from bench.costs import CONVENTION, model_costs
    from bench import declared
    from zoo.registry import UnknownModelError
    from zoo.layers.hetconv import IMPLS

    if args.impl and args.impl not in IMPLS:
        raise BenchError(f"unknown HetConv impl '{args.impl}'; choose from {', '.join(IMPLS)}")
    try:
        names = zoo.list_models() if args.pattern == "*" else zoo.resolve_patterns(args.pattern)
    except UnknownModelError as exc:
        raise BenchError(str(exc)) from None
    from tqdm import tqdm

    rows = []
    for n in tqdm(names, desc="costs", unit="model", disable=args.no_progress or not sys.stderr.isatty(),
                  file=sys.stderr):
        rows.append(model_costs(n, impl=args.impl).to_dict())
    if args.update:
        path = declared.update(rows)
        print(f"updated {len(rows)} rows in {path}", file=sys.stderr)
        return 0
    if args.check:
        diffs, missing = declared.check(rows)
        if diffs or missing:
            print(declared.format_diff(diffs, missing))
            return 1
        print(f"declared costs unchanged for {len(rows)} models")
        return 0
    if args.format == "table":
        print(f"# {CONVENTION}")
    print(render(rows, COLUMNS, args.format))
    return 0
