"""Does a layer's latency depend on what the measuring process ran before? (devices.allocator)

Usage (quiet machine): .venv/bin/python benchmarks/allocator_history.py [--rounds 8]

For glibc's default malloc and for pinned thresholds (`devices.allocator.pin_malloc`, which bench
applies: see benchmarks/allocator_b32.py for why; at batch 1 this benchmark found no effect), in fresh processes: times three C128 H16 batch-1
operators of the HetConv study (standard 3x3 conv, HetConv P4 [grouped], DWC+PWC; 1 thread,
interleaved, median of 200 rounds) first in the fresh process, then after the process has run the full study's C64 H32 operators at batch 1 and 32 (what the full study runs before this
case). Prints the medians and the after/fresh ratio per operator and process, then the median
ratio over the processes per setting (measured: no history effect, both ~1). This VM's speed
switches by ~20 % on a ~1 s scale, so one process says little: use several rounds.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import statistics, sys, time, torch
sys.path.insert(0, {repo!r})
from devices.allocator import pin_malloc
state = pin_malloc()
from bench.claims.hetconv_config import FULL
from bench.claims.hetconv_study import ops_for
from bench.claims.layer_ops import LayerOp
torch.set_num_threads(1)
x = torch.randn(1, 128, 16, 16)
ops = {{"standard": LayerOp("standard"), "P4": LayerOp("hetconv", 4, "grouped"), "DWC+PWC": LayerOp("dwc_pwc")}}
mods = {{n: o.build(128).eval() for n, o in ops.items()}}
def probe():
    # interleaved (one call of each per round) so a change of the machine's speed hits all three alike
    ts = {{n: [] for n in mods}}
    with torch.inference_mode():
        for i in range(220):
            for n, m in mods.items():
                t = time.perf_counter(); m(x); dt = (time.perf_counter() - t) * 1e3
                if i >= 20:
                    ts[n].append(dt)
    return {{n: statistics.median(v) for n, v in ts.items()}}
fresh = probe()
for b in (1, 32):
    xx = torch.randn(b, 64, 32, 32)
    history = [o.build(64).eval() for o in ops_for(64, FULL)]
    with torch.inference_mode():
        for _ in range(3):
            for m in history:
                m(xx)
del history, xx
after = probe()
print(state)
for n in mods:
    print(f"{{n}} {{fresh[n]:.4f}} {{after[n]:.4f}}")
"""


def main() -> int:
    """Fresh processes per allocator setting, interleaved; prints medians and after/fresh ratios."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=8, help="fresh processes per setting (interleaved)")
    args = ap.parse_args()
    ratios: dict[str, dict[str, list[float]]] = {"default": {}, "pinned": {}}
    for r in range(args.rounds):
        for setting in ("default", "pinned"):
            env = {**os.environ, "ZOOBENCH_MALLOC": setting}
            out = subprocess.run([sys.executable, "-c", CHILD.format(repo=str(REPO))], env=env, capture_output=True,
                                 text=True, check=True).stdout.splitlines()
            cells = [line.split() for line in out[1:]]
            for n, a, b in cells:
                ratios[setting].setdefault(n, []).append(float(b) / float(a))
            print(f"round {r + 1} {setting:7s} ({out[0]}): " + "  ".join(
                f"{n} {float(a):.3f} -> {float(b):.3f} ms ({float(b) / float(a):.2f}x)" for n, a, b in cells), flush=True)
    for setting, per_op in ratios.items():
        print(f"{setting:7s} after/fresh over {args.rounds} processes: " + "  ".join(
            f"{n} median {statistics.median(v):.3f} [{min(v):.2f}, {max(v):.2f}]" for n, v in per_op.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
