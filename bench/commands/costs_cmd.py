"""`bench costs [PATTERN]`: MACs, params and activations of zoo variants (deploy form)."""
from __future__ import annotations

import argparse
import os
import sys

from bench.errors import BenchError
from bench.model_args import SOURCES_HELP, add_source_options, add_variants_option, load_variants, resolve_models
from bench.output import FORMATS, render

COLUMNS = ["name", "family", "input_size", "macs", "executed_macs", "params", "other_ops", "activations",
           "unsupported_ops"]


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench costs`."""
    p = sub.add_parser("costs", help="count MACs/params of variants (deploy form)",
                       description="Count MACs, params and activations of zoo variants on their deploy form. "
                                   "Convention: 1 MAC = one multiply-add.")
    p.add_argument("pattern", nargs="?", default="*", help="model name or wildcard(s), comma-separated; " + SOURCES_HELP.replace("%", "%%"))
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--impl", help="HetConv implementation to count (default: each model's own)")
    p.add_argument("--check", action="store_true",
                   help="compare the zoo's models with the declared-costs table; exit 1 on change (saved variants "
                        "are listed apart, never checked)")
    p.add_argument("--update", action="store_true",
                   help="rewrite the declared-costs table for the selected zoo models (saved variants are never "
                        "declared) and regenerate the zoo catalog")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_variants_option(p)
    add_source_options(p)
    p.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                   help="worker processes (default: cores, at most 4; 1 = in this process)")
    return p


def run(args: argparse.Namespace) -> int:
    """Count and print; with --check/--update compare with or rewrite the declared table."""
    import zoo
    from bench.costs import CONVENTION, many_model_costs
    from bench import declared
    from zoo.layers.hetconv import IMPLS

    if args.impl and args.impl not in IMPLS:
        raise BenchError(f"unknown HetConv impl '{args.impl}'; choose from {', '.join(IMPLS)}")
    load_variants(args)
    if args.pattern == "*":
        names = zoo.list_models()
    else:
        names = resolve_models(args.pattern, args)
    saved: list[str] = []
    if args.check or args.update:
        # saved variants are the user's, not the zoo's: never declared, never counted here, never a reason to fail
        derived = set(zoo.list_models(tag="derived")) | set(zoo.list_models(tag="user"))
        saved = [n for n in names if n in derived]
        names = [n for n in names if n not in derived]
    from tqdm import tqdm

    if args.jobs < 1:
        raise BenchError(f"--jobs must be >= 1, got {args.jobs}")
    with tqdm(total=len(names), desc="costs", unit="model", file=sys.stderr,
              disable=args.no_progress or not sys.stderr.isatty()) as bar:
        rows = many_model_costs(names, impl=args.impl, jobs=args.jobs, on_done=lambda: bar.update(1))
    if args.update:
        from zoo import catalog

        path = declared.update(rows)
        print(f"updated {len(rows)} rows in {path}", file=sys.stderr)
        print(f"regenerated {catalog.write()}", file=sys.stderr)
        if saved:
            print(declared.format_saved(saved), file=sys.stderr)
        return 0
    if args.check:
        diffs, missing = declared.check(rows)
        if diffs or missing:
            print(declared.format_diff(diffs, missing))
        else:
            print(f"declared costs unchanged for {len(rows)} models")
        if saved:
            print(declared.format_saved(saved))
        return 1 if diffs or missing else 0
    if args.format == "table":
        print(f"# {CONVENTION}")
    print(render(rows, COLUMNS, args.format))
    return 0
