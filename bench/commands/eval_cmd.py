"""`bench eval MODEL [MODEL2] --checkpoint CK.pt [--checkpoint CK2.pt] --data KIND:DIR`: measured accuracy.

Top-1 and top-5 with exact (Clopper-Pearson) 95 % intervals on the user's data; with two
models, both on the same images and an exact McNemar test of their difference; with
`--device mobile`, the exported .pte on the same images and its top-1 drift from eager.
Results go to the result store with `--db`. Heavy imports live inside `run` so that
`bench --help` stays fast.
"""
from __future__ import annotations

import argparse

DEFAULT_DB = "bench-out/results.sqlite"
DEVICES = ("cpu", "cuda", "mobile")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return value


def _triple(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 0.5,0.5,0.5, got '{text}'") from None
    if len(values) not in (1, 3):
        raise argparse.ArgumentTypeError(f"expected one or three numbers, got '{text}'")
    return values * 3 if len(values) == 1 else values


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench eval`."""
    p = sub.add_parser(
        "eval", help="measure top-1/top-5 of a checkpoint on your data (CIFAR batches, ImageFolder)",
        description="Evaluate MODEL with the weights in --checkpoint on the data in --data: top-1 and top-5 with "
                    "exact (Clopper-Pearson) 95%% intervals, n and throughput. Two models (each with its own "
                    "--checkpoint, in order) are evaluated on the same images and compared with an exact McNemar "
                    "test. --device mobile also runs the ExecuTorch .pte (XNNPACK) on the same images and reports "
                    "its top-1 difference from eager. Checkpoints are read with torch.load(weights_only=True).")
    p.add_argument("models", nargs="+", metavar="MODEL", help="one or two registered model names")
    p.add_argument("--checkpoint", action="append", required=True, metavar="CK.pt",
                   help="state_dict of the model (train or deploy form); repeat once per model, in order")
    p.add_argument("--data", required=True, metavar="KIND:DIR",
                   help="cifar10:DIR or cifar100:DIR (official python-batch format, test split) or imagefolder:DIR")
    p.add_argument("--device", choices=DEVICES, default="cpu",
                   help="cpu or cuda: eager; mobile: eager on cpu plus the exported .pte (default cpu)")
    p.add_argument("--batch", type=_positive_int, default=256, help="images per batch (default 256)")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate N images evenly spaced over the data (same images for every model and target)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (default 2)")
    p.add_argument("--mean", type=_triple, metavar="R,G,B", help="normalisation mean (default: the model's data config)")
    p.add_argument("--std", type=_triple, metavar="R,G,B", help="normalisation std (default: the model's data config)")
    p.add_argument("--crop-pct", type=float, help="center-crop fraction (default: the model's data config)")
    p.add_argument("--interpolation", choices=("bilinear", "bicubic", "nearest"), help="resize interpolation")
    p.add_argument("--db", nargs="?", const=DEFAULT_DB, metavar="PATH",
                   help=f"store the results in this database (--db alone: {DEFAULT_DB}; put it after MODEL)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--format", choices=("table", "json"), default="table")
    return p


def run(args: argparse.Namespace) -> int:
    """Evaluate, print, optionally store; 0 on success."""
    import json
    import sys

    from bench.accuracy.summary import summary_lines
    from bench.accuracy.session import EvalRequest, evaluate_request
    from bench.errors import BenchError

    if len(args.models) > 2:
        raise BenchError(f"bench eval takes one or two models, got {len(args.models)}")
    if len(args.checkpoint) != len(args.models):
        raise BenchError(f"give one --checkpoint per model ({len(args.models)} model(s), "
                         f"{len(args.checkpoint)} checkpoint(s))")
    if args.limit is not None and args.limit < 1:
        raise BenchError(f"--limit must be a positive number of images, got {args.limit}")
    if args.workers < 0:
        raise BenchError(f"--workers must be >= 0, got {args.workers}")
    request = EvalRequest(models=list(args.models), checkpoints=list(args.checkpoint), data=args.data,
                          device=args.device, batch=args.batch, limit=args.limit, workers=args.workers,
                          overrides=dict(mean=args.mean, std=args.std, crop_pct=args.crop_pct,
                                         interpolation=args.interpolation),
                          progress=not args.no_progress and sys.stderr.isatty())
    outcome = evaluate_request(request)
    if args.db:
        outcome.save(args.db)
    if args.format == "json":
        print(json.dumps(outcome.to_dict(), indent=2, default=str))
    else:
        print("\n".join(summary_lines(outcome)))
        if args.db:
            print(f"stored in {args.db}")
    return 0
