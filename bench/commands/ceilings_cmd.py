"""`bench ceilings`: peak FLOP/s and memory bandwidth of this machine, cached per fingerprint."""
from __future__ import annotations

import argparse

from bench import defaults
from bench.errors import BenchError
from bench.output import FORMATS, render

HELP = "measure peak FLOP/s and memory bandwidth (cached per machine) against the nominal ISA peak"
COLUMNS = ["target", "threads", "dtype", "gemm_gflops", "conv_gflops", "peak_gflops", "copy_gbs", "triad_gbs", "add_gbs",
           "bandwidth_gbs", "nominal_gflops", "nominal_ratio", "nominal_basis", "cached", "measured_s"]


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench ceilings`."""
    p = sub.add_parser("ceilings", help=HELP, description=(
        "Measure a target's ceilings on its own runtime at the thread count and dtype in use: peak FLOP/s (a large "
        "GEMM and a dense 3x3 conv; the better one) and memory bandwidth (a large copy / triad, or on mobile an "
        "elementwise add; the better one; GB = 1e9 bytes). cpu: torch on the host; cuda: torch on the GPU (CUDA "
        "events); mobile: ExecuTorch XNNPACK programs on the host runtime, exported once and cached on disk. The "
        "peak is compared with the nominal one of the host CPU's ISA where it applies (FMA lanes x 2 x 2 FMA units "
        "assumed x cores x max clock). Cached per machine in --db; `bench profile` and `bench report` use them "
        "for the roofline floor."))
    p.add_argument("--device", default="cpu", help="cpu, cuda or mobile (default cpu)")
    p.add_argument("--threads", default=None, help="intra-op threads (default: torch's current)")
    p.add_argument("--dtype", default="fp32", help="fp32, fp16 or bf16 (default fp32)")
    p.add_argument("--force", action="store_true", help="measure again even when cached")
    p.add_argument("--db", default=defaults.DEFAULT_DB, help="SQLite results file (default %(default)s)")
    p.add_argument("--format", choices=FORMATS, default="table")
    return p


def run(args: argparse.Namespace) -> int:
    """Print the (cached or freshly measured) ceilings."""
    from bench.grid import parse_int_list
    from bench.profiling.ceilings import ceilings_for
    from bench.store import ResultStore
    from devices.base import DTYPES
    from devices.registry import canonical_name, get_device

    target = canonical_name(args.device)
    if args.dtype not in DTYPES:
        raise BenchError(f"unknown dtype '{args.dtype}'; choose from {', '.join(DTYPES)}")
    threads = None
    if args.threads:
        values = parse_int_list(args.threads, "threads")
        if len(values) != 1 or values[0] < 1:
            raise BenchError(f"--threads takes one integer >= 1, got '{args.threads}'")
        threads = values[0]
    device = get_device(target)
    with ResultStore(args.db) as store:
        ceilings, cached = ceilings_for(store, device, threads, args.dtype, remeasure=args.force)
    row = {**ceilings.to_dict(), "cached": cached}
    if args.format == "table":
        print(f"# ceilings of {target}; cached in {args.db}; {'from cache' if cached else 'measured now'}; "
              f"{ceilings.method or device.ceilings_method()}")
    print(render([row], COLUMNS, args.format))
    return 0
