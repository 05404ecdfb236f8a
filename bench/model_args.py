"""The `--variants DIR` option and loading of saved variants, shared by commands that take model names.

`import zoo` registers code-defined variants only. Saved variants (`bench prune`, `bench
lowrank`) live in a folder and are registered here, explicitly, by the commands that resolve
model names: each adds `add_variants_option(parser)` and calls `load_variants(args)` before
resolving names. A spec that cannot be used is skipped with one warning line on stderr; it
never fails the command.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# kept equal to zoo.derived.ENV_VAR / DEFAULT_DIR (tests/test_model_args.py), without importing zoo here:
# building the parser must stay cheap
ENV_VAR = "ZOOBENCH_VARIANTS"
DEFAULT_DIR = Path("bench-out") / "variants"


def add_variants_option(parser: argparse.ArgumentParser) -> None:
    """Add `--variants DIR` (default: $ZOOBENCH_VARIANTS, else bench-out/variants)."""
    parser.add_argument("--variants", metavar="DIR", type=Path, default=None,
                        help=f"folder of saved variants (bench prune / bench lowrank) to load "
                             f"(default: ${ENV_VAR}, else {DEFAULT_DIR})")


def variants_folder(args: argparse.Namespace | None = None) -> Path:
    """The folder named by `--variants`, else $ZOOBENCH_VARIANTS, else bench-out/variants."""
    given = getattr(args, "variants", None) if args is not None else None
    return Path(given) if given is not None else Path(os.environ.get(ENV_VAR) or DEFAULT_DIR)


def load_variants(args: argparse.Namespace | None = None) -> list[str]:
    """Register the saved variants of `variants_folder(args)`; returns their names.

    Skipped specs (unreadable, malformed, unknown parent, name clash) are reported on ONE
    line on stderr. A missing default folder is normal (nothing saved yet); a missing folder
    the user named with --variants is a warning too.
    """
    from zoo.derived import scan_saved_variants

    folder = variants_folder(args)
    if not folder.is_dir():
        if getattr(args, "variants", None) is not None:
            sys.stderr.write(f"bench: warning: variants folder {folder} does not exist; no saved variants loaded\n")
        return []
    names, skipped = scan_saved_variants(folder)
    if skipped:
        details = "; ".join(f"{Path(what).name}: {why}" for what, why in skipped).replace("\n", " ")
        sys.stderr.write(f"bench: warning: skipped {len(skipped)} saved variant(s) in {folder}: {details}\n")
    return names


# -- model sources (timm:, tv:, PATH.py:NAME, PATH.pt2) ------------------------------------
SOURCES_HELP = ("model sources may be mixed with zoo names: timm:NAME (wildcards allowed), tv:NAME / "
                "torchvision:NAME, PATH.py:NAME[?key=value&...] (an nn.Module class or factory; loading the "
                "file RUNS ITS CODE, as pytest does), PATH.pt2 (torch.export.save)")


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """Add --input-size, --top1 and --dataset (used by model sources only)."""
    parser.add_argument("--input-size", metavar="CxHxW", default=None,
                        help="input size of model sources, e.g. 3x224x224 (required for PATH.py:NAME; "
                             "overrides timm/torchvision's own)")
    parser.add_argument("--top1", type=float, default=None,
                        help="a user-reported top-1 (%%) for the model sources given; shown as user-reported")
    parser.add_argument("--dataset", default=None, help="the dataset --top1 was measured on (default imagenet "
                                                        "for timm/tv, else unknown)")


def resolve_models(patterns: str, args: argparse.Namespace | None = None) -> list[str]:
    """Zoo names/wildcards and model sources, comma-separated, -> registered variant names.

    Each source is registered as a variant named by its spec (`zoo.sources`); BenchError (exit 2)
    on an unknown name, a pattern matching nothing or an unusable source.
    """
    import zoo
    from zoo.registry import UnknownModelError
    from zoo.sources import SourceError, is_source_spec, resolve_source

    from bench.errors import BenchError

    size = getattr(args, "input_size", None)
    top1, dataset = getattr(args, "top1", None), getattr(args, "dataset", None)
    out: list[str] = []
    used_source = False
    try:
        for part in (p.strip() for p in patterns.split(",")):
            if not part:
                continue
            if is_source_spec(part):
                used_source = True
                names = resolve_source(part, input_size=size, top1=top1, dataset=dataset)
            else:
                names = zoo.resolve_patterns(part)
            out.extend(n for n in names if n not in out)
    except (UnknownModelError, SourceError) as exc:
        raise BenchError(str(exc)) from None
    if not used_source and (size is not None or top1 is not None):
        raise BenchError("--input-size/--top1 apply to model sources (timm:, tv:, PATH.py:NAME, PATH.pt2) only")
    return out
