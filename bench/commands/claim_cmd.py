"""`bench claim hetconv`: test the HetConv paper's speed claims on a target, with verdicts."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import BenchError

CLAIMS = ("hetconv",)


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench claim`."""
    p = sub.add_parser(
        "claim", help="test a paper's speed claims with measurements (hetconv)",
        description="Measure the HetConv paper's claims (MACs formula, speed-up vs P, matched-MACs HetConv vs "
                    "DWC+PWC, 'zero latency' depth, CUDA streams) and write a verdict table with evidence.")
    p.add_argument("claim", choices=CLAIMS, help="which paper's claims")
    p.add_argument("--device", default="cpu", help="cpu | cuda | mobile (alias arm); default cpu")
    p.add_argument("--quick", action="store_true", help="a small sweep (under 3 minutes on 2 CPU cores)")
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's default)")
    p.add_argument("--db", default="bench-out/results.sqlite", help="result store (every cell is stored)")
    p.add_argument("--out", default="reports/claims", help="folder for the Markdown report, charts and CSV")
    p.add_argument("--gate", action="store_true", help="exit 1 if any claim is refuted")
    return p


def run(args: argparse.Namespace) -> int:
    """Run the study, store every cell, write the report, print the verdicts."""
    from bench.claims.hetconv_config import FULL, QUICK
    from bench.claims.hetconv_report import write_study
    from bench.claims.hetconv_study import run_hetconv_study
    from bench.grid import Cell
    from bench.stats import summarize
    from bench.store import ResultStore
    from devices.cpu import set_threads
    from devices.registry import get_device

    if args.threads is not None and args.threads < 1:
        raise BenchError(f"--threads must be >= 1, got {args.threads}")
    device = get_device(args.device)
    threads = set_threads(args.threads)
    cfg = QUICK if args.quick else FULL
    store = ResultStore(args.db)
    fp = device.fingerprint(threads=threads)
    run_id = store.start_run(device.name, fp, {"study": f"claim-{args.claim}", "config": cfg.name, "threads": threads})

    def on_result(info, m) -> None:
        cell = Cell(model=info["model"], batch=info["batch"], dtype="fp32", layout="nchw", impl=info["impl"],
                    threads=threads)
        store.add_result(run_id, cell, summarize(m.samples_ms), m.samples_ms, {"macs": info["macs"]},
                         family=info["family"], warmup_iters=m.warmup_iters, stop_reason=m.stop_reason)

    def progress(msg: str) -> None:
        print(f"[claim {args.claim}] {msg}", file=sys.stderr, flush=True)

    study = run_hetconv_study(device, cfg, on_result=on_result, progress=progress)
    store.finish_run(run_id)
    md = write_study(study, Path(args.out))
    width = max(len(v.claim) for v in study.verdicts)
    for v in study.verdicts:
        print(f"{v.verdict:>13}  {v.claim:<{width}}")
    print(f"\nrun {run_id} stored in {args.db}; report: {md} ({study.elapsed_s:.0f} s)")
    refuted = any(v.verdict == "refuted" for v in study.verdicts)
    return 1 if (args.gate and refuted) else 0
