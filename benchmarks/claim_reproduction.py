"""Does a quick claim study reproduce the full one? Per-case latency ratios of the pairs both share.

Usage (from the repository root):

    .venv/bin/python benchmarks/claim_reproduction.py FULL_DIR QUICK_DIR

FULL_DIR / QUICK_DIR: the --out folders of `bench claim hetconv --repeat N` (each holds repeat-*/
with the study's layers CSV). For every (case, pair) present in all repeats of both, prints the full
study's median ratio (HetConv P / standard conv, PC / DWC+PWC, network variant / baseline), each quick
repeat's ratio and the largest relative deviation (issue 19 asks for at most 5 %), the HetConv impl each
repeat compared (the calibration pass picks it; the quick study offers only grouped and folded), and
the deviation from the full repeats that compared the same impl.
"""
import csv, glob, statistics, sys

def impl_of(label):
    """'hetconv P4 [grouped]' -> 'grouped' ('' for operators without impls)."""
    return label.split("[")[1].rstrip("]") if "[" in label else ""


def ratios(path):
    """{(case, pair): ratio} of one repeat's layers CSV; `impls[(case, pair)]` the HetConv impl compared."""
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
                impls[(path, case, f"P{r['part']} / standard")] = r["impl"]
            if r["kind"] == "hetconv" and dwc and int(r["part"]) == int(r["channels"]):
                out[(case, "PC / DWC+PWC")] = float(r["p50_ms"]) / float(dwc[0]["p50_ms"])
                impls[(path, case, "PC / DWC+PWC")] = r["impl"]
        if case.startswith("network"):
            p = {r["operator"]: float(r["p50_ms"]) for r in rs}
            if "vgg16_cifar_pc" in p and "vgg16_cifar_dwc_pwc" in p:
                out[(case, "PC / DWC+PWC")] = p["vgg16_cifar_pc"] / p["vgg16_cifar_dwc_pwc"]
            for m in p:
                if m.startswith("vgg16_cifar_p") and "vgg16_cifar" in p:
                    out[(case, f"{m} / vgg16_cifar")] = p[m] / p["vgg16_cifar"]
    return out

impls = {}
full_dir, quick_dir = sys.argv[1], sys.argv[2]
full_paths = sorted(glob.glob(f"{full_dir}/repeat-*/*layers.csv"))
quick_paths = sorted(glob.glob(f"{quick_dir}/repeat-*/*layers.csv"))
fulls = [ratios(p) for p in full_paths]
quicks = [ratios(p) for p in quick_paths]
shared = sorted(set.intersection(*[set(f) for f in fulls]) & set.intersection(*[set(q) for q in quicks]))
worst = worst_same = 0
# the last column compares each quick repeat with the full repeats that compared the same HetConv impl (the
# quick study offers fewer impls: grouped, folded), "-" when none did
print(f"{'case':<16} {'pair':<34} {'full median':>11} {'quick per repeat':>28} {'max dev':>8}  impls full | quick"
      f"  {'same impl':>9}")
for k in shared:
    f = statistics.median(x[k] for x in fulls)
    qs = [q[k] for q in quicks]
    dev = max(abs(q / f - 1) for q in qs)
    worst = max(worst, dev)
    f_impl = [impls.get((p, *k), "") for p in full_paths]
    q_impl = [impls.get((p, *k), "") for p in quick_paths]
    same = []
    for q, qi in zip(qs, q_impl):
        match = [x[k] for x, fi in zip(fulls, f_impl) if fi == qi]
        if match:
            same.append(abs(q / statistics.median(match) - 1))
    same_dev = max(same) if len(same) == len(qs) else None
    if same_dev is not None:
        worst_same = max(worst_same, same_dev)
    names = f"{','.join(i or '-' for i in f_impl)} | {','.join(i or '-' for i in q_impl)}"
    print(f"{k[0]:<16} {k[1]:<34} {f:>11.3f} {' '.join(f'{q:.3f}' for q in qs):>28} {dev:>8.1%}  {names}"
          f"  {'-' if same_dev is None else f'{same_dev:.1%}':>9}")
print(f"{len(shared)} shared pairs; largest deviation of a quick repeat from the full study's median: {worst:.1%}; "
      f"against full repeats that compared the same impl: {worst_same:.1%}")
