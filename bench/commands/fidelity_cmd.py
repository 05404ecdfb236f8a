"""`bench fidelity`: check the timing core against torch.utils.benchmark and measure its overhead.

Two checks, printed as ratios (a benchmark, not a unit test):

1. For each model (default resnet18 and mobilenet_v2) at batch 1 on the CPU, after a long
   warm-up, our p50 (`bench.timing.measure`) and `torch.utils.benchmark.Timer.blocked_autorange`'s
   median are taken in alternating rounds in one process, on the same prepared callable, so both
   see the same machine state. Target: ratio within 5 %.
2. Harness overhead on a trivial model (nn.Identity on one element): our per-call p50, which
   includes the timer reads and call wrapping, against blocked_autorange's amortised cost of the
   same call. Target: under 20 us per iteration.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

from bench.errors import BenchError
from bench.output import FORMATS, render

RATIO_TOLERANCE = 0.05
OVERHEAD_TARGET_US = 20.0
MODEL_COLUMNS = ["check", "model", "threads", "ours_p50_ms", "autorange_median_ms", "ratio", "target", "verdict"]


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench fidelity`."""
    p = sub.add_parser("fidelity", help="compare our timing with torch.utils.benchmark; harness overhead",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="resnet18,mobilenet_v2", help="models to compare (default %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's current)")
    p.add_argument("--warmup", type=float, default=5.0, help="long warm-up per model in seconds (default 5)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per model (default 3)")
    p.add_argument("--min-run-time", type=float, default=2.0,
                   help="blocked_autorange min_run_time per round in seconds (default 2)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format")
    p.add_argument("--gate", action="store_true", help="exit 1 when a check misses its target")
    return p


def autorange_median_ms(fn: Callable[[], Any], threads: int, min_run_time: float) -> float:
    """Median per-call time (ms) from torch.utils.benchmark's blocked_autorange on `fn`."""
    from torch.utils.benchmark import Timer

    return Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads).blocked_autorange(
        min_run_time=min_run_time).median * 1e3


def _long_warmup(fn: Callable[[], Any], seconds: float) -> int:
    calls, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        fn()
        calls += 1
    return calls


def compare_model(name: str, threads: int, warmup_s: float, rounds: int, min_run_time: float) -> dict[str, Any]:
    """Interleaved rounds of our measure() and blocked_autorange on one model; their medians and ratio."""
    from bench.runner import TimingSettings, example_batch
    from bench.timing import measure
    from devices.cpu import CpuDevice
    from zoo.layers.reparam import deploy_form
    from zoo.registry import get_model

    device, fn = CpuDevice(), None
    try:  # prepare sets torch's threads for the process: cleanup puts them back, on error too
        fn = device.prepare(deploy_form(get_model(name), inplace=True), example_batch(name, 1), threads=threads)
        _long_warmup(fn, warmup_s)
        ours, ref = [], []
        timing = TimingSettings().to_dict()
        for r in range(rounds):
            # alternate who goes first so slow drift does not favour one side
            steps = [lambda: ours.append(measure(fn, **timing).stats.p50_ms),
                     lambda: ref.append(autorange_median_ms(fn, threads, min_run_time))]
            for step in steps if r % 2 == 0 else reversed(steps):
                step()
    finally:
        if fn is not None:
            fn.close()
        device.cleanup()
    o, b = statistics.median(ours), statistics.median(ref)
    ratio = o / b
    return dict(check="p50 vs blocked_autorange", model=name, threads=threads, ours_p50_ms=o, autorange_median_ms=b,
                ratio=ratio, target=f"within {RATIO_TOLERANCE:.0%}",
                verdict="ok" if abs(ratio - 1) <= RATIO_TOLERANCE else "outside")


def harness_overhead(threads: int, min_run_time: float) -> dict[str, Any]:
    """Our per-call p50 on a trivial model vs blocked_autorange's amortised cost of the same call."""
    import torch

    from bench.timing import measure
    from devices.cpu import CpuDevice

    device, fn = CpuDevice(), None
    try:  # as in compare_model: the thread count is restored however this ends
        fn = device.prepare(torch.nn.Identity(), torch.zeros(1, 1, 1, 1), threads=threads)
        _long_warmup(fn, 0.5)
        m = measure(fn, max_time_s=2.0)
        ours = m.stats.p50_ms
        bare = autorange_median_ms(fn, threads, min_run_time)
    finally:
        if fn is not None:
            fn.close()
        device.cleanup()
    overhead_us = (ours - bare) * 1e3
    wall_us = m.elapsed_s / len(m.samples_ms) * 1e6
    return dict(check="harness overhead (trivial model)", model="nn.Identity", threads=threads,
                ours_p50_ms=ours, autorange_median_ms=bare, ratio=ours / bare if bare else None,
                target=f"< {OVERHEAD_TARGET_US:.0f} us",
                verdict="ok" if ours * 1e3 < OVERHEAD_TARGET_US else "outside",
                overhead_us=overhead_us, per_call_us=ours * 1e3, wall_per_iteration_us=wall_us)


def run(args: argparse.Namespace) -> int:
    """Run both checks and print the ratios; with --gate exit 1 when a target is missed."""
    import torch

    import zoo
    from zoo.registry import UnknownModelError

    if args.rounds < 1 or args.warmup < 0 or args.min_run_time <= 0:
        raise BenchError("--rounds must be >= 1, --warmup >= 0 and --min-run-time > 0")
    try:
        names = zoo.resolve_patterns(args.models)
    except UnknownModelError as exc:
        raise BenchError(str(exc)) from None
    threads = args.threads if args.threads is not None else torch.get_num_threads()  # 0 is refused, not "default"
    if threads < 1:
        raise BenchError("--threads must be >= 1")
    rows = [compare_model(n, threads, args.warmup, args.rounds, args.min_run_time) for n in names]
    overhead = harness_overhead(threads, min(args.min_run_time, 1.0))
    rows.append(overhead)
    print(render(rows, MODEL_COLUMNS, args.format))
    if args.format == "table":
        print(f"# harness: per-call p50 {overhead['per_call_us']:.2f} us on nn.Identity, of which "
              f"{overhead['overhead_us']:.2f} us is timing overhead beyond the bare call; "
              f"{overhead['wall_per_iteration_us']:.2f} us wall per sampling iteration")
    missed = [r for r in rows if r["verdict"] != "ok"]
    return 1 if args.gate and missed else 0
