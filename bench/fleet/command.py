"""`bench run --cluster`: the run command's options turned into a fleet sweep and its summary."""
from __future__ import annotations

import argparse

from bench.errors import BenchError
from bench.output import render

SUMMARY_COLUMNS = ["target", "model", "impl", "batch", "dtype", "layout", "threads", "status", "p50_ms", "ci_low_ms",
                   "ci_high_ms", "samples", "contended", "message"]


def check_args(args: argparse.Namespace) -> None:
    """Refuse what a fleet sweep does not take (BenchError, one line)."""
    if args.device:
        raise BenchError("--device and --cluster exclude each other: with --cluster the workers own the devices; "
                         "choose them with --targets")
    if not args.targets:
        raise BenchError("--cluster needs --targets, e.g. --targets 'cuda:*,cpu:*'")
    if args.repeat is not None:
        raise BenchError("--repeat does not combine with --cluster")
    for what in ("connect_timeout", "worker_timeout"):
        value = getattr(args, what)
        if not value > 0:
            raise BenchError(f"--{what.replace('_', '-')} must be > 0, got {value}")


def run(args: argparse.Namespace, spec, timing, guard=None) -> int:
    """Sweep `spec` over the fleet at `args.cluster` (each worker guarding its cells with the
    GuardSettings `guard`), then print one row per stored cell."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise BenchError("bench run --cluster needs Dask distributed: pip install -e '.[fleet]'") from None
    from bench.fleet.driver import FleetOptions, run_fleet
    from bench.fleet.resources import parse_patterns
    from bench.store import ResultStore

    opts = FleetOptions(args.cluster, parse_patterns(args.targets), connect_timeout=args.connect_timeout,
                        worker_timeout=args.worker_timeout)
    with ResultStore(args.db) as store:
        try:
            report = run_fleet(store, opts, spec, timing, resume=args.resume, progress=not args.no_progress,
                               guard=guard)
        except KeyboardInterrupt:
            raise BenchError(f"interrupted; finished cells are stored in {args.db}; "
                             "run the same command with --resume to continue", code=130) from None
    rows = []
    for target, o in report.outcomes:
        st = o.measurement.stats if o.measurement else None
        c = o.cell
        rows.append(dict(target=target, model=c.model, impl=o.impl, batch=c.batch, dtype=c.dtype, layout=c.layout,
                         threads=c.threads, status=o.status, p50_ms=st.p50_ms if st else None,
                         ci_low_ms=st.ci_low_ms if st else None, ci_high_ms=st.ci_high_ms if st else None,
                         samples=st.samples if st else None, contended=o.info.get("contended"),
                         message=o.message))
    if args.format == "table":
        for r in report.runs:
            print(f"# run {r.run_id}  target {r.name}  {r.done} cell(s) stored, "
                  f"{r.cells_total - len(r.todo)} already done")
        print(f"# stored in {args.db}")
    print(render(rows, SUMMARY_COLUMNS, args.format))
    return 0
