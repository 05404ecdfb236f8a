"""`bench claim NAME`: test a paper's speed claims on a target, with verdicts (studies in bench.claims.registry)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.claims.registry import get_study, study_names
from bench.errors import BenchError
from bench.guard_args import add_guard_options, guard_settings

DEFAULT_OUT = "bench-out/claims"


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench claim`."""
    names = ", ".join(study_names())
    p = sub.add_parser(
        "claim", help=f"test a paper's speed claims with measurements ({names})",
        description="Measure a paper's speed claims on a target and write a verdict table with evidence. "
                    f"Studies: {names}; `bench claim` without a name lists them.")
    p.add_argument("claim", nargs="?", metavar="NAME", help=f"which study: {names} (omit to list them)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | mobile (alias arm); default cpu")
    p.add_argument("--quick", action="store_true", help="a small sweep (a few minutes at most on 2 CPU cores)")
    p.add_argument("--threads", type=int, help="CPU threads during the study (default: torch's default); "
                                               "restored afterwards")
    p.add_argument("--db", default="bench-out/results.sqlite", help="result store (every cell is stored)")
    p.add_argument("--out", default=DEFAULT_OUT,
                   help=f"folder for the report files (default {DEFAULT_OUT}; publish with --out reports/claims)")
    p.add_argument("--force", action="store_true", help="replace report files that already exist")
    p.add_argument("--gate", action="store_true", help="exit 1 if any claim is refuted")
    p.add_argument("--repeat", type=int, default=None, metavar="N",
                   help="run the study N times, each in a fresh process (reports in OUT/repeat-K); publish a "
                        "verdict only where all repeats agree, else 'unstable' (OUT/<report>-repeats.md)")
    p.add_argument("--summary-json", default=None, help=argparse.SUPPRESS)  # a repeat's verdicts, for its parent
    add_guard_options(p)
    return p


def _run_repeated(args: argparse.Namespace, study) -> int:
    """N fresh processes of the same command; aggregate their verdicts (bench.claims.repeats)."""
    import json

    from bench.claims.repeats import UNSTABLE, aggregate, render_markdown
    from bench.claims.verdicts import REFUTED
    from bench.repeat import run_repeats
    from devices.registry import get_device

    out = Path(args.out)
    device = get_device(args.device)
    stem = Path(study.report_files(device.name, device.fingerprint(threads=args.threads))[0]).stem
    target = out / f"{stem}-repeats.md"
    if target.exists() and not args.force:
        raise BenchError(f"{target} exists; pass --force to replace it")
    summaries = [out / f"repeat-{k}" / "summary.json" for k in range(1, args.repeat + 1)]
    codes = run_repeats(args._argv, args.repeat,
                        lambda k: ["--out", str(out / f"repeat-{k}"), "--summary-json", str(summaries[k - 1])])
    failed = [k for k, (code, path) in enumerate(zip(codes, summaries), 1) if code not in (0, 1) or not path.exists()]
    if failed:
        raise BenchError(f"repeat(s) {', '.join(map(str, failed))} failed; see their output above")
    verdicts = aggregate([json.loads(p.read_text()) for p in summaries])
    header = [f"# {study.name} claims over {args.repeat} repeats ({args.device}, "
              f"{'quick' if args.quick else 'full'}, threads {args.threads or 'default'})", "",
              "Per-repeat reports (with load and calibration figures): "
              + ", ".join(f"repeat-{k}/" for k in range(1, args.repeat + 1))]
    out.mkdir(parents=True, exist_ok=True)
    target.write_text(render_markdown(verdicts, args.repeat, header))
    width = max((len(v.claim) for v in verdicts), default=0)
    for v in verdicts:
        extra = f"  ({', '.join(v.per_repeat)})" if v.verdict == UNSTABLE else ""
        print(f"{v.verdict:>13}  {v.claim:<{width}}{extra}")
    print(f"\n{args.repeat} repeats; report: {target}")
    return 1 if (args.gate and any(v.verdict == REFUTED for v in verdicts)) else 0


def _list_studies() -> int:
    width = max(len(n) for n in study_names())
    for name in study_names():
        print(f"{name:<{width}}  {get_study(name).help}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the study, store every cell, write the report, print the verdicts."""
    if args.claim is None:
        return _list_studies()
    study = get_study(args.claim)
    if args.threads is not None and args.threads < 1:
        raise BenchError(f"--threads must be >= 1, got {args.threads}")
    from bench.repeat import check_repeat

    guard_cfg = guard_settings(args)
    if check_repeat(args.repeat) > 1:
        return _run_repeated(args, study)

    import torch

    from bench.claims.base import StudyCell, StudyContext, config_name, run_study
    from bench.claims.report_base import ReportFolder
    from bench.grid import Cell
    from bench.runner import make_guard
    from bench.stats import summarize
    from bench.store import ResultStore
    from devices.cpu import set_threads
    from devices.registry import get_device

    device = get_device(args.device)
    cfg = study.config(args.quick)
    previous_threads = torch.get_num_threads()
    try:
        threads = set_threads(args.threads)
        fp = device.fingerprint(threads=threads)
        # before measuring: a long study must not end in a report it may not write
        folder = ReportFolder(Path(args.out), study.report_files(device.name, fp), force=args.force)
        folder.check()
        store = ResultStore(args.db)
        settings = {"study": f"claim-{study.name}", "config": config_name(cfg), "threads": threads}
        if guard_cfg.enabled:
            settings["guard"] = guard_cfg.to_dict()
        run_id = store.start_run(device.name, fp, settings)
        guard = make_guard(store, run_id, device, guard_cfg)
        if guard is not None:
            guard.baseline(None)  # at the start of the study, at the threads set above

        def on_result(cell: StudyCell, m) -> None:
            key = Cell(model=cell.model, batch=cell.batch, dtype="fp32", layout="nchw", impl=cell.impl,
                       threads=threads)
            store.add_result(run_id, key, summarize(m.samples_ms), m.samples_ms, {"macs": cell.macs},
                             family=cell.family, warmup_iters=m.warmup_iters, stop_reason=m.stop_reason,
                             extra=dict(m.extra) or None)

        def progress(msg: str) -> None:
            print(f"[claim {study.name}] {msg}", file=sys.stderr, flush=True)

        result = run_study(study, device, cfg, StudyContext(device.name, fp, on_result, progress, guard))
        store.finish_run(run_id)
    finally:
        torch.set_num_threads(previous_threads)  # the study's thread count is not left behind for the caller
    md = study.write_report(result, folder)
    if args.summary_json:  # a repeat of `--repeat N`: its verdicts for the parent's aggregation
        import json

        from bench.claims.repeats import summary_of

        Path(args.summary_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary_json).write_text(json.dumps(summary_of(result.verdicts), indent=1))
    width = max((len(v.claim) for v in result.verdicts), default=0)
    for v in result.verdicts:
        print(f"{v.verdict:>13}  {v.claim:<{width}}")
    print(f"\nrun {run_id} stored in {args.db}; report: {md} ({result.elapsed_s:.0f} s)")
    refuted = any(v.verdict == "refuted" for v in result.verdicts)
    return 1 if (args.gate and refuted) else 0
