"""`bench prune MODEL --criterion C --macs-ratio R`: criterion-based structural pruning to a MACs target.

The pruned model is saved as a derived variant (see `zoo.derived`) and registered, so
`bench costs`, `bench run` and `bench report` can use it by name. The helpers below that
resolve the parent and save a derived variant are shared with `bench lowrank`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from bench.errors import BenchError
from bench.model_args import add_variants_option, load_variants, variants_folder
from bench.output import FORMATS, render

if TYPE_CHECKING:  # torch is imported by `run`, not when the parser is built
    import torch.nn as nn

MAX_RELATIVE_ERROR = 0.03  # a variant named "macs50" has 0.485 .. 0.515 of its parent's MACs
SUMMARY_COLUMNS = ["name", "parent", "macs", "parent_macs", "macs_ratio", "params", "parent_params", "spec"]


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench prune`."""
    from bench.pruning import CRITERIA, SCOPES

    p = sub.add_parser(
        "prune", help="prune a zoo model to a MACs ratio (Torch-Pruning) and save it as a new variant",
        description="Structurally prune MODEL with an importance criterion until its MACs (conv+linear, batch 1) "
                    "are MACS_RATIO x the original's, then save and register the result as a derived variant "
                    "(folder: $ZOOBENCH_VARIANTS or bench-out/variants). Weights are random unless --checkpoint "
                    "is given; with --scope global and a data-driven criterion the widths depend on them.")
    p.add_argument("model", help="registered model name (see `bench zoo list`)")
    p.add_argument("--criterion", required=True, choices=CRITERIA,
                   help="importance: l1/l2 filter magnitude, fpgm (geometric median), taylor (weight x gradient "
                        "on a synthetic batch), random")
    p.add_argument("--macs-ratio", required=True, type=float, metavar="R",
                   help="target MACs of the pruned model over the original's, in (0, 1)")
    p.add_argument("--round-to", type=int, metavar="N", help="keep channel counts multiples of N (e.g. 8)")
    p.add_argument("--scope", choices=SCOPES, default="local",
                   help="local: every layer loses the same share of channels (default); global: channels ranked "
                        "across layers")
    p.add_argument("--checkpoint", type=Path, metavar="PATH",
                   help="state_dict of MODEL to prune (read with torch.load(weights_only=True))")
    p.add_argument("--name", help="variant name (default: MODEL_prune_CRITERION_macsPCT[_rN][_global])")
    p.add_argument("--seed", type=int, default=0, help="seed of the random criterion and Taylor's synthetic batch")
    p.add_argument("--force", action="store_true", help="replace a derived variant of the same name")
    p.add_argument("--format", choices=FORMATS, default="table")
    add_variants_option(p)
    return p


def percent_label(ratio: float) -> str:
    """0.5 -> '50', 0.375 -> '37p5': a ratio as a name-safe percentage."""
    return f"{ratio * 100:.4g}".replace(".", "p")


def resolve_parent(name: str):
    """The registry entry of `name`, or BenchError."""
    from zoo.registry import UnknownModelError, get_entry

    try:
        return get_entry(name)
    except UnknownModelError as exc:
        raise BenchError(str(exc)) from None


def check_variant_name(name: str, force: bool, folder: Path | None = None) -> None:
    """BenchError if `name` is not a valid new derived-variant name (in `folder`, default: the variants folder)."""
    from zoo import derived
    from zoo.registry import list_models

    if not derived.NAME_PATTERN.match(name):
        raise BenchError(f"invalid variant name '{name}': use letters, digits, '_', '.', '-' (at most 120)")
    if name in list_models() and name not in list_models(tag="derived"):
        raise BenchError(f"'{name}' is a zoo model; choose another --name")
    folder = folder or derived.variants_dir()
    if derived.spec_path(name, folder).exists() and not force:
        raise BenchError(f"variant '{name}' already exists in {folder}; pass --force to replace it")


def build_parent(entry, checkpoint: Path | None) -> nn.Module:
    """The parent model, with the user's checkpoint loaded if given."""
    from bench.pruning import load_checkpoint

    model = entry.build()
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    return model.eval()


def save_derived(spec, model: nn.Module, force: bool, folder: Path | None = None) -> dict:
    """Save `model` as derived variant `spec` in `folder` and register it, check it rebuilds identically; summary row.

    On any failure nothing stays on disk or in the registry.
    """
    import torch

    from bench.costs import count_module, example_input, model_costs
    from zoo import derived
    from zoo.layers.reparam import deploy_form
    from zoo.lowrank import factorize_model

    folder = folder or derived.variants_dir()
    example = example_input(spec.parent)
    reference = derived.get_entry(spec.parent).build()
    if spec.lowrank_ranks:
        factorize_model(reference, ranks=spec.lowrank_ranks, init="random")
    spec.resized = derived.structure_diff(reference, model)
    counts = count_module(deploy_form(model), example)
    parent = model_costs(spec.parent)
    spec.costs = dict(macs=counts["macs"], params=counts["params"], parent_macs=parent.macs,
                      parent_params=parent.params)
    try:
        path = derived.save_variant(spec, model, folder, overwrite=force)
    except FileExistsError as exc:
        raise BenchError(str(exc)) from None
    except OSError as exc:  # save_variant has already cleaned up
        raise BenchError(f"could not save variant '{spec.name}' in {folder}: "
                         f"{exc.strerror or exc}") from None
    try:
        derived.register_spec(spec, folder, replace=True)
        rebuilt = derived.get_entry(spec.name).build()
        with torch.no_grad():
            same = torch.equal(rebuilt(example), model.eval()(example))
        if not same:
            raise BenchError(f"variant '{spec.name}' does not rebuild to the same function; not saved")
    except BaseException:
        derived.delete_variant(spec.name, folder)
        raise
    return dict(name=spec.name, parent=spec.parent, macs=spec.costs["macs"], parent_macs=parent.macs,
                macs_ratio=round(spec.costs["macs"] / parent.macs, 4), params=spec.costs["params"],
                parent_params=parent.params, spec=str(path))


def run(args: argparse.Namespace) -> int:
    """Prune, save, register and print a summary row."""
    from bench.costs import example_input
    from bench.pruning import prune_to_macs
    from zoo.derived import DerivedSpec

    if not 0 < args.macs_ratio < 1:
        raise BenchError(f"--macs-ratio must be in (0, 1), got {args.macs_ratio}")
    if args.round_to is not None and args.round_to < 1:
        raise BenchError(f"--round-to must be a positive integer, got {args.round_to}")
    load_variants(args)  # a saved variant can be the parent; existing names must be known
    entry = resolve_parent(args.model)
    name = args.name or (f"{entry.name}_prune_{args.criterion}_macs{percent_label(args.macs_ratio)}"
                         + (f"_r{args.round_to}" if args.round_to else "") + ("_global" if args.scope == "global" else ""))
    check_variant_name(name, args.force, variants_folder(args))
    model = build_parent(entry, args.checkpoint)
    outcome = prune_to_macs(model, example_input(entry.name), args.criterion, args.macs_ratio,
                            round_to=args.round_to, scope=args.scope, seed=args.seed)
    if abs(outcome.relative_error) > MAX_RELATIVE_ERROR:
        hint = "; try a smaller --round-to" if args.round_to else "; --scope global moves in finer steps" \
            if args.scope == "local" else ""
        raise BenchError(f"could not reach MACs ratio {args.macs_ratio} within 3 % (closest: "
                         f"{outcome.macs_ratio:.3f}){hint}; nothing saved")
    spec = DerivedSpec(name=name, parent=entry.name, kind="pruned", method=dict(
        criterion=args.criterion, macs_ratio=args.macs_ratio, round_to=args.round_to, scope=args.scope,
        seed=args.seed, checkpoint=str(args.checkpoint) if args.checkpoint else None,
        channel_ratio=round(outcome.channel_ratio, 6), frozen_layers=outcome.frozen))
    row = save_derived(spec, outcome.model, args.force, variants_folder(args))
    if args.checkpoint is None and args.criterion != "random":
        print("note: random weights (no --checkpoint): the kept channels, and with --scope global the widths, "
              "say nothing about a trained model", file=sys.stderr)
    print(render([row], SUMMARY_COLUMNS, args.format))
    return 0
