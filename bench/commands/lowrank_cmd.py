"""`bench lowrank MODEL --rank-ratio R | --energy E`: factorise every KxK conv (LRPET-style).

Each plain KxK conv becomes a rank-r KxK conv followed by a 1x1 conv, initialised from the
truncated SVD of its weight; the result is saved and registered as a derived variant.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.commands.prune_cmd import (SUMMARY_COLUMNS, build_parent, check_variant_name, percent_label,
                                      resolve_parent, save_derived)
from bench.errors import BenchError
from bench.model_args import add_variants_option, load_variants, variants_folder
from bench.output import FORMATS, render


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench lowrank`."""
    p = sub.add_parser(
        "lowrank", help="factorise a model's KxK convs to low rank and save it as a new variant",
        description="Replace every plain KxK conv of MODEL by a rank-r KxK conv followed by a 1x1 conv (truncated "
                    "SVD of its weight), then save and register the result as a derived variant (folder: "
                    "$ZOOBENCH_VARIANTS or bench-out/variants). Layers whose factorised form would not save MACs "
                    "stay dense. --energy picks ranks from the singular values, so it depends on the weights.")
    p.add_argument("model", help="registered model name (see `bench zoo list`)")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--rank-ratio", type=float, metavar="R", help="rank = R x the layer's full rank, R in (0, 1)")
    how.add_argument("--energy", type=float, metavar="E",
                     help="smallest rank keeping a share E of sum(singular value^2), E in (0, 1)")
    p.add_argument("--checkpoint", type=Path, metavar="PATH",
                   help="state_dict of MODEL to factorise (read with torch.load(weights_only=True))")
    p.add_argument("--name", help="variant name (default: MODEL_lowrank_rPCT or MODEL_lowrank_ePCT)")
    p.add_argument("--force", action="store_true", help="replace a derived variant of the same name")
    p.add_argument("--format", choices=FORMATS, default="table")
    add_variants_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Factorise, save, register and print a summary row."""
    from zoo.derived import DerivedSpec
    from zoo.lowrank import factorize_model

    flag, value = ("--rank-ratio", args.rank_ratio) if args.rank_ratio is not None else ("--energy", args.energy)
    if not 0 < value < 1:
        raise BenchError(f"{flag} must be in (0, 1), got {value}")
    load_variants(args)  # a saved variant can be the parent; existing names must be known
    entry = resolve_parent(args.model)
    name = args.name or f"{entry.name}_lowrank_{flag[2]}{percent_label(value)}"
    check_variant_name(name, args.force, variants_folder(args))
    model = build_parent(entry, args.checkpoint)
    ranks = factorize_model(model, rank_ratio=args.rank_ratio, energy=args.energy)
    if not ranks:
        raise BenchError(f"no conv of {entry.name} saves MACs when factorised with {flag} {value}; nothing saved")
    spec = DerivedSpec(name=name, parent=entry.name, kind="lowrank", lowrank_ranks=ranks, method=dict(
        rank_ratio=args.rank_ratio, energy=args.energy, factorised_layers=len(ranks),
        checkpoint=str(args.checkpoint) if args.checkpoint else None))
    row = save_derived(spec, model, args.force, variants_folder(args))
    if args.energy is not None and args.checkpoint is None:
        print("note: ranks chosen from random weights (no --checkpoint): they say nothing about a trained model",
              file=sys.stderr)
    print(render([row], SUMMARY_COLUMNS, args.format))
    return 0
