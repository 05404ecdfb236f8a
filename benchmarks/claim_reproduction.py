"""Does a quick claim study reproduce the full one? Per-case latency ratios of the pairs both share.

Usage (from the repository root):

    .venv/bin/python benchmarks/claim_reproduction.py FULL_DIR QUICK_DIR

FULL_DIR / QUICK_DIR: the --out folders of `bench claim hetconv --repeat N` (each holds repeat-*/
with the study's layers CSV). For every (case, pair) present in all repeats of both, prints the full
study's median ratio (HetConv P / standard conv, PC / DWC+PWC, network variant / baseline), each quick
repeat's ratio and the largest relative deviation (issue 19 asks for at most 5 %).
"""
import csv, glob, statistics, sys

def ratios(path):
    rows = [r for r in csv.DictReader(open(path)) if r["phase"] == "compared"]
    out = {}
    by_case = {}
    for r in rows:
        by_case.setdefault(r["case"], []).append(r)
    for case, rs in by_case.items():
        std = [r for r in rs if r["operator"] == "standard"]
        dwc = [r for r in rs if r["operator"] == "DWC+PWC"]
        for r in rs:
            if r["kind"] == "hetconv" and std:
                out[(case, f"P{r['part']} / standard")] = float(r["p50_ms"]) / float(std[0]["p50_ms"])
            if r["kind"] == "hetconv" and dwc and int(r["part"]) == int(r["channels"]):
                out[(case, "PC / DWC+PWC")] = float(r["p50_ms"]) / float(dwc[0]["p50_ms"])
        if case.startswith("network"):
            p = {r["operator"]: float(r["p50_ms"]) for r in rs}
            if "vgg16_cifar_pc" in p and "vgg16_cifar_dwc_pwc" in p:
                out[(case, "PC / DWC+PWC")] = p["vgg16_cifar_pc"] / p["vgg16_cifar_dwc_pwc"]
            for m in p:
                if m.startswith("vgg16_cifar_p") and "vgg16_cifar" in p:
                    out[(case, f"{m} / vgg16_cifar")] = p[m] / p["vgg16_cifar"]
    return out

full_dir, quick_dir = sys.argv[1], sys.argv[2]
fulls = [ratios(p) for p in sorted(glob.glob(f"{full_dir}/repeat-*/*layers.csv"))]
quicks = [ratios(p) for p in sorted(glob.glob(f"{quick_dir}/repeat-*/*layers.csv"))]
shared = sorted(set.intersection(*[set(f) for f in fulls]) & set.intersection(*[set(q) for q in quicks]))
worst = 0
print(f"{'case':<16} {'pair':<34} {'full median':>11} {'quick per repeat':>28} {'max dev':>8}")
for k in shared:
    f = statistics.median(x[k] for x in fulls)
    qs = [q[k] for q in quicks]
    dev = max(abs(q / f - 1) for q in qs)
    worst = max(worst, dev)
    print(f"{k[0]:<16} {k[1]:<34} {f:>11.3f} {' '.join(f'{q:.3f}' for q in qs):>28} {dev:>8.1%}")
print(f"{len(shared)} shared pairs; largest deviation of a quick repeat from the full study's median: {worst:.1%}")
