"""Do quiet rounds make a group's ratios reproducible? Fresh processes, windows of a group's length.

Usage (from the repository root, nothing else running):

    .venv/bin/python benchmarks/quiet_rounds_windows.py --processes 6 --seconds 12 --window-s 3

Each of `--processes` fresh processes times the quick claim study's C128 H16 batch-1 group (standard
conv, HetConv P1/P2/P4/P16/P64/PC [grouped], GWC2/4/16/64+PWC, DWC+PWC; threads 1) interleaved for
`--seconds` and hands back every round. The rounds are cut into windows of about `--window-s` (a
claim-study group's length, `group_min_time_s`); per window and compared pair the ratio of medians is
computed over every round and over the quiet rounds (bench.quiet_rounds) at several tolerances. Printed:
per tolerance and pair, max/min - 1 of the ratio over all windows of all processes (how far two groups
measured minutes apart can disagree), and the share of rounds kept.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from statistics import median

CHILD = r"""
import json, sys, time
import torch
from bench.claims.layer_ops import LayerOp
from bench.timing import measure_interleaved
from devices.registry import get_device

dev = get_device("cpu")
C, H, seconds = 128, 16, float(sys.argv[1])
ops = ([LayerOp("standard")] + [LayerOp("hetconv", p, "grouped") for p in (1, 2, 4, 16, 64, C)]
       + [LayerOp("gwc_pwc", p) for p in (2, 4, 16, 64)] + [LayerOp("dwc_pwc")])
x = torch.randn(1, C, H, H)
prepared = [dev.prepare(op.build(C), x) for op in ops]
torch.set_num_threads(1)
t0 = time.perf_counter()
ms = measure_interleaved([p.run for p in prepared], timer=dev.timer(), ci_target=0.0, min_samples=2,
                         max_iters=100000, max_time_s=seconds, warmup_max_time_s=1.0)
print(json.dumps({"labels": [op.label for op in ops], "samples": [m.samples_ms for m in ms],
                  "seconds": time.perf_counter() - t0}))
"""
TOLERANCES = (None, 0.05, 0.10, 0.25)


def pairs_of(labels: list[str]) -> list[tuple[int, int]]:
    """Each HetConv P vs standard, and PC vs DWC+PWC (the pairs the claim study compares)."""
    het = [i for i, lab in enumerate(labels) if lab.startswith("hetconv")]
    return [(i, labels.index("standard")) for i in het] + [(het[-1], labels.index("DWC+PWC"))]


def windows(samples: list[list[float]], seconds: float, window_s: float) -> list[list[list[float]]]:
    """The group's rounds cut into consecutive windows of about `window_s` seconds."""
    rounds = len(samples[0])
    per = max(1, int(rounds * window_s / seconds))
    return [[s[w:w + per] for s in samples] for w in range(0, rounds - per + 1, per)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--window-s", type=float, default=3.0)
    args = ap.parse_args(argv)
    from bench.quiet_rounds import quiet_rounds

    groups, labels = [], None
    for k in range(args.processes):
        out = subprocess.run([sys.executable, "-c", CHILD, str(args.seconds)], capture_output=True, text=True,
                             check=True)
        d = json.loads(out.stdout)
        labels = d["labels"]
        groups += windows(d["samples"], d["seconds"], args.window_s)
        print(f"process {k + 1}: {len(d['samples'][0])} rounds in {d['seconds']:.1f} s", flush=True)
    pairs = pairs_of(labels)
    print(f"{len(groups)} windows of ~{args.window_s:g} s; ratio spread = max/min - 1 over the windows")
    for tol in TOLERANCES:
        ratios: dict[tuple[int, int], list[float]] = {p: [] for p in pairs}
        kept = []
        for g in groups:
            q = quiet_rounds(g, tol)
            kept.append(len(q.kept) / q.taken)
            for a, b in pairs:
                ratios[(a, b)].append(median(q.select(g[a])) / median(q.select(g[b])))
        spread = {p: max(v) / min(v) - 1 for p, v in ratios.items()}
        name = "all rounds" if tol is None else f"quiet {tol:.0%}"
        cells = " ".join(f"{labels[a].split()[1]}/{labels[b][:3]} {s:5.1%}" for (a, b), s in spread.items())
        print(f"{name:<11} kept {median(kept):4.0%}  worst {max(spread.values()):5.1%} | {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
