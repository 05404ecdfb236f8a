"""`bench zoo list|show`: browse the registry and its metadata."""
from __future__ import annotations

import argparse
import json

from bench.errors import BenchError
from bench.model_args import add_variants_option, load_variants
from bench.output import FORMATS, render


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench zoo`."""
    p = sub.add_parser("zoo", help="list registered variants or show one's metadata",
                       description="Browse the model zoo.")
    zsub = p.add_subparsers(dest="zoo_command", metavar="{list,show,catalog}")
    zsub.required = True
    lp = zsub.add_parser("list", help="list variants (wildcards: 'vgg16_cifar_p*')")
    lp.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern(s), comma-separated (default: all)")
    lp.add_argument("--family", help="only this family (wildcards allowed)")
    lp.add_argument("--tag", help="only variants with this tag (e.g. hetconv, cifar, imagenet)")
    lp.add_argument("--format", choices=FORMATS, default="table")
    add_variants_option(lp)
    sp = zsub.add_parser("show", help="show one variant's metadata")
    sp.add_argument("name")
    add_variants_option(sp)
    cp = zsub.add_parser("catalog", help="check or regenerate zoo/catalog.json (the names and metadata "
                                         "`import zoo` registers without importing the family modules)")
    cp.add_argument("--update", action="store_true", help="regenerate the catalog from the family modules")
    return p


def run(args: argparse.Namespace) -> int:
    """List or show; returns the exit status."""
    import zoo
    from zoo.registry import UnknownModelError

    if args.zoo_command == "catalog":
        return _catalog(args.update)
    load_variants(args)
    if args.zoo_command == "show":
        try:
            meta = zoo.get_meta(args.name)
        except UnknownModelError as exc:
            raise BenchError(str(exc)) from None
        print(json.dumps({"name": args.name, **meta.to_dict()}, indent=2))
        return 0
    try:
        names = zoo.resolve_patterns(args.pattern) if args.pattern != "*" else zoo.list_models()
    except UnknownModelError as exc:
        raise BenchError(str(exc)) from None
    selected = set(zoo.list_models(family=args.family, tag=args.tag))
    if args.family and not zoo.list_models(family=args.family):
        raise BenchError(f"family '{args.family}' matches no model; see `bench zoo list`")
    if args.tag and not zoo.list_models(tag=args.tag):
        raise BenchError(f"tag '{args.tag}' matches no model; see `bench zoo list`")
    names = [n for n in names if n in selected]
    if not names:
        raise BenchError("no model matches the pattern, --family and --tag together; see `bench zoo list`")
    rows = []
    for n in names:
        m = zoo.get_meta(n)
        rows.append({"name": n, "family": m.family, "dataset": m.dataset, "input_size": list(m.input_size),
                     "top1": m.reported.top1, "reported_macs": m.reported.macs, "tags": list(m.tags),
                     "paper": m.paper.title})
    cols = ["name", "family", "dataset", "input_size", "top1", "reported_macs"]
    print(render(rows, cols, args.format))
    return 0


def _catalog(update: bool) -> int:
    """`bench zoo catalog [--update]`: exit 1 when the catalog is stale and not updated."""
    from zoo import catalog

    if update:
        print(f"regenerated {catalog.write()}")
        return 0
    if catalog.load_current() is None:
        print(f"{catalog.CATALOG_PATH} is stale: `import zoo` falls back to importing every family module "
              "(slow); run `bench zoo catalog --update`")
        return 1
    print(f"{catalog.CATALOG_PATH} is current")
    return 0
