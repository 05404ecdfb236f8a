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
