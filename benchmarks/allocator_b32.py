"""Does glibc's allocator decide batch-32 layer latencies? (devices.allocator)

Usage (quiet machine): .venv/bin/python benchmarks/allocator_b32.py [--rounds 3]

For glibc's defaults and for the thresholds bench pins (`devices.allocator.pin_malloc`), in fresh
processes, interleaved (default, pinned, default, ...): the full HetConv study's C64 H32 batch-32
operators (standard 3x3 conv, HetConv P4 [grouped] and [folded], GWC4+PWC, DWC+PWC; 1 thread;
one call of each per round, median of 15 rounds after 3). Prints each process's medians, then the
median over processes per setting and the pinned/default ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, statistics, sys, time, torch
sys.path.insert(0, sys.argv[1])
from devices.allocator import pin_malloc
state = pin_malloc()
from bench.claims.layer_ops import LayerOp
torch.set_num_threads(1)
ops = [LayerOp("standard"), LayerOp("hetconv", 4, "grouped"), LayerOp("hetconv", 4, "folded"), LayerOp("gwc_pwc", 4),
       LayerOp("dwc_pwc")]
mods = [o.build(64).eval() for o in ops]
x = torch.randn(32, 64, 32, 32)
ts = [[] for _ in mods]
with torch.inference_mode():
    for i in range(18):
        for k, m in enumerate(mods):
            t = time.perf_counter(); m(x); dt = (time.perf_counter() - t) * 1e3
            if i >= 3:
                ts[k].append(dt)
print(json.dumps({"state": state, "labels": [o.label for o in ops], "median_ms": [statistics.median(v) for v in ts]}))
"""


def main() -> int:
    """Fresh processes per allocator setting, interleaved; prints medians and pinned/default ratios."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="fresh processes per setting (interleaved)")
    args = ap.parse_args()
    per: dict[str, list[list[float]]] = {"default": [], "pinned": []}
    labels: list[str] = []
    for r in range(args.rounds):
        for setting in per:
            env = {**os.environ, "ZOOBENCH_MALLOC": setting}
            out = subprocess.run([sys.executable, "-c", CHILD, str(REPO)], env=env, capture_output=True, text=True,
                                 check=True).stdout
            d = json.loads(out.strip().splitlines()[-1])
            labels = d["labels"]
            per[setting].append(d["median_ms"])
            print(f"round {r + 1} {setting:7s} ({d['state']}): "
                  + "  ".join(f"{n} {v:.2f}" for n, v in zip(labels, d["median_ms"])), flush=True)
    med = {s: [statistics.median(p[i] for p in rows) for i in range(len(labels))] for s, rows in per.items()}
    for s, vals in med.items():
        print(f"{s:7s} median over {args.rounds} processes: " + "  ".join(f"{n} {v:.2f} ms" for n, v in zip(labels, vals)))
    print("pinned/default: " + "  ".join(f"{n} {p / d:.2f}" for n, p, d in zip(labels, med["pinned"], med["default"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
