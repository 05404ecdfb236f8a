"""The figures issue 14's closing note quotes: coverage, profiler overhead and % of roofline per model,
and the measured ceilings against the nominal ISA peak. Optionally, the wall time of profiling the
default subset (designed to take at most 2 minutes, ceilings cached).

Usage (from the repository root, on a quiet machine for meaningful figures):

    .venv/bin/python benchmarks/profile_figures.py [--device cpu|cuda|mobile] [--threads 1] [--db bench-out/profile-figures.sqlite]
        [--models resnet18,mobilenet_v2,vgg16_cifar,vgg16_cifar_p4,vgg16_cifar_pc] [--default-subset]

Every step runs the CLI in a fresh process (`python -m bench ceilings` / `profile`, JSON output) into
--db, so the figures are those a user gets and stay in the database for `bench report`.
Expected on a quiet machine: coverage 0.85-1.15 for models of 1 ms or more; a measured/nominal
ratio below 1 (the nominal figure assumes two FMA units at the maximum clock).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODELS = "resnet18,mobilenet_v2,vgg16_cifar,vgg16_cifar_p4,vgg16_cifar_pc"
DEFAULT_SUBSET_BUDGET_S = 120.0


def bench_json(*args: str) -> tuple[object, float]:
    """(parsed JSON stdout, wall seconds) of `python -m bench ARGS --format json` in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench", *args, "--format", "json"], cwd=REPO,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"bench {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout), wall


def fmt(value, spec: str) -> str:
    """`value` formatted, '-' when missing."""
    return "-" if value is None else format(value, spec)


def main() -> int:
    """Print the ceilings, then one line per model, then (optionally) the default subset's wall time."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or mobile (default cpu; --default-subset: cpu only)")
    ap.add_argument("--threads", default="1", help="intra-op threads (default 1, as the published CPU report)")
    ap.add_argument("--db", default="bench-out/profile-figures.sqlite", help="results database (kept)")
    ap.add_argument("--models", default=MODELS, help=f"comma-separated (default {MODELS})")
    ap.add_argument("--iters", default="20", help="profiled iterations per model (default 20)")
    ap.add_argument("--default-subset", action="store_true",
                    help="also time `bench profile default --device cpu` (ceilings cached) against 2 minutes")
    args = ap.parse_args()
    common = ["--threads", args.threads, "--db", args.db]

    ceil, wall = bench_json("ceilings", "--device", args.device, *common)
    c = ceil[0] if isinstance(ceil, list) else ceil
    print(f"# ceilings of {args.device} (threads {c.get('threads')}, {c.get('dtype')}; {wall:.1f} s incl. start-up"
          f"{', cached' if c.get('cached') else ''}):")
    print(f"  GEMM {fmt(c.get('gemm_gflops'), '.1f')} GFLOP/s, conv {fmt(c.get('conv_gflops'), '.1f')} GFLOP/s, "
          f"copy {fmt(c.get('copy_gbs'), '.1f')} GB/s, triad {fmt(c.get('triad_gbs'), '.1f')} GB/s, "
          f"add {fmt(c.get('add_gbs'), '.1f')} GB/s")
    print(f"  peak {fmt(c.get('peak_gflops'), '.1f')} GFLOP/s vs nominal {fmt(c.get('nominal_gflops'), '.1f')} "
          f"GFLOP/s = {fmt(c.get('nominal_ratio'), '.2f')} ({c.get('nominal_basis') or 'no nominal figure'})")

    docs, wall = bench_json("profile", args.models, "--device", args.device, "--iters", args.iters, *common)
    print(f"\n# per model ({wall:.1f} s for {len(docs)} models incl. start-up)")
    print(f"{'model':<18} {'p50 ms':>9} {'coverage':>9} {'overhead':>9} {'% roofline':>11}  status")
    for d in docs:
        s = d.get("summary") or {}
        overhead = s.get("profiler_overhead")
        print(f"{d['model']:<18} {fmt(s.get('e2e_p50_ms'), '9.3f')} {fmt(s.get('coverage'), '9.3f')} "
              f"{fmt(overhead and 100 * overhead, '+8.1f')}% {fmt(s.get('pct_floor'), '10.1f')}%  "
              f"{d['status']}{(': ' + d['message']) if d.get('message') else ''}")

    if args.default_subset and args.device == "cpu":
        docs, wall = bench_json("profile", "default", "--device", "cpu", *common)
        ok = sum(d["status"] == "ok" for d in docs)
        verdict = "within" if wall <= DEFAULT_SUBSET_BUDGET_S else "OVER"
        print(f"\n# bench profile default --device cpu: {wall:.1f} s for {len(docs)} models ({ok} ok), "
              f"{verdict} the {DEFAULT_SUBSET_BUDGET_S:.0f} s budget (ceilings cached above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
