"""How steady is this machine's calibration kernel when nothing else runs? (bench.guard)

Usage (quiet machine): .venv/bin/python benchmarks/calibration_series.py [--seconds 100] [--threads 1]
    [--device cpu|mobile] [--json out.json]

Every 0.5 s times 5 blocks of the guard's calibration kernel (the device's own, as `bench run`
uses). Prints, for three ways of reading the machine: one block, the median of 5 blocks (the
guard's reading), and the median of readings spread over ~1.5 s, how far they drift above
(a) a baseline of 3 back-to-back blocks at the start (the old guard) and (b) the typical speed
(the median over the whole series), with the share beyond 15/25/35 %; and the tolerance the
guard's spaced baseline would set from the first 8 readings.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile."""
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def describe(name: str, values: list[float], base: float) -> str:
    """Drift of `values` over `base`: quantiles and the share beyond the tolerances."""
    d = [v / base - 1 for v in values]
    beyond = "  ".join(f">{t:.0%} {sum(x > t for x in d)}/{len(d)}" for t in (0.15, 0.25, 0.35))
    return (f"  {name:24s} median {quantile(d, .5):+.1%}  p95 {quantile(d, .95):+.1%}  max {max(d):+.1%}  {beyond}")


def main() -> int:
    """Sample the kernel, print the drift table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=100.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", help="also write the raw blocks here")
    args = ap.parse_args()
    from devices.allocator import pin_malloc
    from bench.guard import BASELINE_READINGS, baseline_rule, kernel_factory_for
    from devices.registry import get_device

    pin_malloc()  # as in every bench process
    kernel = kernel_factory_for(args.device, get_device(args.device))(args.threads, "fp32")
    rows: list[list[float]] = []
    t0 = time.time()
    while time.time() - t0 < args.seconds:
        rows.append([round(time.time() - t0, 2)] + [kernel() for _ in range(5)])
        time.sleep(0.5)
    if args.json:
        Path(args.json).write_text(json.dumps(rows))
    blocks = [r[1] for r in rows]
    readings = [median(r[1:]) for r in rows]
    spread3 = [median(readings[i:i + 3]) for i in range(0, len(readings) - 2, 3)]
    old_base = median(rows[0][1:4])
    typical = median(readings)
    print(f"{args.device}, threads {args.threads}: {len(rows)} readings over {rows[-1][0]:.0f} s; "
          f"block {min(blocks):.4g}-{max(blocks):.4g} ms, typical reading {typical:.4g} ms")
    for label, base in (("vs 3 back-to-back blocks at the start (old guard)", old_base),
                        ("vs the typical speed (median over the series)", typical)):
        print(label)
        print(describe("one block", blocks, base))
        print(describe("median of 5 blocks", readings, base))
        print(describe("median over ~1.5 s", spread3, base))
    first = readings[:BASELINE_READINGS]
    b, spread, tol = baseline_rule(first)
    print(f"spaced baseline from the first {len(first)} readings: {b:.4g} ms ({b / typical - 1:+.1%} vs typical), "
          f"quiet spread {spread:+.1%} -> tolerance {tol:.0%}; readings beyond it: "
          f"{sum(r / b - 1 > tol for r in readings)}/{len(readings)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
