"""`bench profile MODELS`: per-layer time, MACs, bytes and roofline floor, stored one row per layer."""
from __future__ import annotations

import argparse
import sys

from bench import defaults
from bench.errors import BenchError
from bench.model_args import SOURCES_HELP, add_source_options, add_variants_option, load_variants, resolve_models
from bench.output import FORMATS, render

HELP = "per-layer profile of models: time, MACs, bytes, GFLOP/s, roofline floor"
COLUMNS = ["layer", "kind", "in_shape", "out_shape", "macs", "bytes", "ms", "pct", "gflops", "intensity", "floor_ms",
           "pct_floor"]
_DESCRIPTION = """\
Profile models layer by layer on one device (cpu: torch.profiler, CPU self time; cuda: torch.profiler,
CUDA kernel time; mobile: ExecuTorch ETDump per XNNPACK op). Per layer: module path, op
kind, input/output shapes, MACs (the `bench costs` convention at this batch, so the layers add up
to the model), bytes moved (tensors read + written at the dtype; views move nothing), median time
over profiled iterations (ms, % of the layers' total), GFLOP/s (FLOPs = 2 x MACs), arithmetic
intensity (FLOPs/byte) and the roofline floor max(FLOPs/peak, bytes/bandwidth) with % of floor
achieved. Per model: coverage = sum of layer times / end-to-end p50 measured by the timing core
in the same process, and the profiler's overhead. Ceilings come from `bench ceilings` (cached per
machine; measured here when missing unless --no-roofline). Stored in --db: table `profiles` (one
row per model) and `profile_layers` (one row per layer)."""


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench profile`."""
    p = sub.add_parser("profile", help=HELP, description=_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", help="model names or wildcards, comma-separated; 'default' = the `bench run` subset; "
                   + SOURCES_HELP.replace("%", "%%"))
    p.add_argument("--device", default="cpu",
                   help="cpu (torch.profiler), cuda (torch.profiler, kernel time) or mobile (ExecuTorch ETDump on this host); "
                        "default cpu")
    p.add_argument("--batch", default="1", help="batch size (default 1)")
    p.add_argument("--impl", default=None, help="HetConv impl (default: each model's own)")
    p.add_argument("--threads", default=None, help="intra-op threads (default: torch's current)")
    p.add_argument("--dtype", default="fp32", help="fp32, fp16 or bf16 (default fp32)")
    p.add_argument("--iters", default="20", help="profiled iterations per model (default 20)")
    p.add_argument("--max-time", default="2", help="sampling cap in seconds of the end-to-end p50 (default 2)")
    p.add_argument("--no-roofline", action="store_true", help="no ceilings: skip the floor columns")
    p.add_argument("--db", default=defaults.DEFAULT_DB, help="SQLite results file (default %(default)s)")
    p.add_argument("--format", choices=FORMATS, default="table")
    add_variants_option(p)
    add_source_options(p)
    return p


def _one_int(text: str, what: str) -> int:
    from bench.grid import parse_int_list

    values = parse_int_list(text, what)
    if len(values) != 1 or values[0] < 1:
        raise BenchError(f"--{what} takes one integer >= 1, got '{text}'")
    return values[0]


def _models(args: argparse.Namespace) -> list[str]:
    load_variants(args)
    if args.models.strip() == defaults.DEFAULT_MODELS_KEYWORD:
        return list(defaults.DEFAULT_MODELS)
    names = resolve_models(args.models, args)  # zoo names, wildcards and model sources (timm:, tv:, ...)
    if not names:
        raise BenchError(f"'{args.models}' selects no model")
    return names


def _header(name: str, s: dict, status: str, message: str) -> list[str]:
    if status != "ok":
        return [f"# {name}: {status}: {message}"]
    fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    return [f"# {name}  impl {s.get('impl') or '-'}  batch {s['batch']}  {s['dtype']}  threads {s['threads']}",
            f"# end-to-end p50 {s['e2e_p50_ms']:.4g} ms (timing core, {s['e2e_samples']} samples); layers sum "
            f"{s['layers_ms']:.4g} ms; coverage {s['coverage']:.3f}; profiler overhead "
            f"{fmt(s['profiler_overhead'] and 100 * s['profiler_overhead'], '+.1f')}% ({s['iterations']} profiled "
            f"iterations, median {fmt(s['profiled_iter_ms'], '.4g')} ms); outside any layer "
            f"{fmt(s['unattributed_ms'], '.3g')} ms; profiler: {s['profiler']}",
            f"# MACs {fmt(s['macs'], ',')}; bytes {fmt(s['bytes'], ',')}; roofline floor {fmt(s['floor_ms'], '.4g')} ms = "
            f"{fmt(s['pct_floor'], '.1f')}% of p50 (peak {fmt(s['peak_gflops'], '.1f')} GFLOP/s, "
            f"bandwidth {fmt(s['bandwidth_gbs'], '.1f')} GB/s)"] + (
        # mobile: which XNNPACK ops carry MACs and bytes (bench.profiling.pte_layers)
        [f"# per-op MACs/bytes: {s['op_mapping']} (MACs of mapped ops {fmt(s.get('mapped_macs'), ',')})"]
        if s.get("op_mapping") else [])


def run(args: argparse.Namespace) -> int:
    """Profile each model, store it, print per-model tables; exit 2 on bad input or a target without
    a profiler. A model that fails is stored with its status and the others go on."""
    from bench.profiling import storage
    from bench.profiling.ceilings import ceilings_for
    from bench.profiling.profile import check_profiler, profile_model
    from bench.store import ResultStore
    from devices.base import DTYPES, UnsupportedCell
    from devices.registry import canonical_name, get_device, machine_label
    from zoo.layers.hetconv import IMPLS

    target = canonical_name(args.device)
    try:
        check_profiler(target)
    except UnsupportedCell as exc:
        raise BenchError(str(exc)) from None
    if args.dtype not in DTYPES:
        raise BenchError(f"unknown dtype '{args.dtype}'; choose from {', '.join(DTYPES)}")
    if args.impl and args.impl not in IMPLS:
        raise BenchError(f"unknown HetConv impl '{args.impl}'; choose from {', '.join(IMPLS)}")
    batch, iters = _one_int(args.batch, "batch"), _one_int(args.iters, "iters")
    threads = _one_int(args.threads, "threads") if args.threads else None
    try:
        max_time = float(args.max_time)
    except ValueError:
        raise BenchError(f"--max-time takes seconds, got '{args.max_time}'") from None
    names = _models(args)
    device = get_device(target)
    timing = dict(max_time_s=max_time, warmup_max_time_s=max_time, min_samples=defaults.MIN_SAMPLES)
    out = []
    with ResultStore(args.db) as store:
        ceilings = None
        if not args.no_roofline:
            try:
                ceilings, cached = ceilings_for(store, device, threads, args.dtype)
            except BenchError as exc:  # e.g. mobile at fp16: the profiles say why, the floor stays blank
                print(f"bench: no roofline floor: {exc}", file=sys.stderr)
            else:
                if not cached:
                    print(f"bench: measured ceilings of {target} in {ceilings.measured_s:.1f} s (cached in {args.db})",
                          file=sys.stderr)
        fp = device.fingerprint(threads=threads)
        machine = machine_label(target, fp)
        for name in names:
            status, message, result = "ok", "", None
            try:
                result = profile_model(name, device, batch=batch, impl=args.impl, dtype=args.dtype, threads=threads,
                                       iterations=iters, timing=timing, ceilings=ceilings)
            except UnsupportedCell as exc:
                status, message = "unsupported", str(exc)
            except Exception as exc:  # noqa: BLE001 - one model's failure is its stored result
                status, message = "error", f"{type(exc).__name__}: {exc}"[:300]
            summary = result.summary if result else {}
            cell = dict(model=name, target=target, machine=machine, batch=batch, dtype=args.dtype,
                        impl=summary.get("impl", args.impl), threads=summary.get("threads", threads))
            pid = storage.save_profile(store, cell, status, message, summary or None,
                                       result.layers if result else None, fp)
            out.append((name, pid, status, message, summary, result.layers if result else []))
    _print(out, args.format, machine, args.db)
    return 0


def _print(out: list, fmt: str, machine: str, db: str) -> None:
    import json

    if fmt == "json":
        print(json.dumps([dict(model=n, profile_id=pid, status=st, message=msg, summary=s, layers=rows)
                          for n, pid, st, msg, s, rows in out], indent=1, default=str))
        return
    if fmt == "csv":
        rows = [dict(model=n, **r) for n, _pid, _st, _msg, _s, layer_rows in out for r in layer_rows]
        print(render(rows, ["model"] + COLUMNS, "csv"), end="")
        return
    print(f"# measured on: {machine}; stored in {db}; 1 MAC = one multiply-add, FLOPs = 2 x MACs, GB = 1e9 bytes; "
          "pct_floor > 100: faster than the DRAM roof (the layer's data stayed in cache)")
    for n, _pid, st, msg, s, rows in out:
        print("\n".join(_header(n, s, st, msg)))
        if rows:
            print(render(rows, COLUMNS, "table"))
        print()
