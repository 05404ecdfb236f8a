"""`bench regress --baseline REF`: measure REF and the working tree in interleaved rounds; exit 1 on a regression."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench import defaults
from bench.commands.compare_cmd import FORMATS, add_gate_arguments, gate_settings, json_report, text_report
from bench.errors import BenchError

_DESCRIPTION = """\
Gate latency on a shared machine: check the baseline revision REF out in a temporary git
worktree, then run `bench run` of REF and of the current working tree (uncommitted changes
included) in alternating processes for --rounds rounds (BASE NEW, NEW BASE, ...), pool each
revision's samples per cell and compare them as `bench compare` does. The worktree is removed
afterwards. Raw runs and the report are written to --out (base.sqlite, new.sqlite,
report.txt, report.json): upload that folder as the CI artifact.

Exit status: 0 no regression, 1 regression, 2 usage error or a failed run."""


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench regress`."""
    p = sub.add_parser("regress", help="compare latency with a baseline git revision, interleaved on this machine",
                       description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", required=True, metavar="REF", help="git revision to compare against (e.g. origin/main)")
    p.add_argument("--models", default=defaults.DEFAULT_MODELS_KEYWORD,
                   help="model names or wildcards, comma-separated (default: bench run's 'default' subset)")
    p.add_argument("--rounds", default="5", help="alternating rounds per revision (default %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | mobile (default %(default)s)")
    p.add_argument("--batch", default=None, help="batch sizes, comma-separated (default 1)")
    p.add_argument("--threads", default=None, help="intra-op threads, comma-separated (default: torch's)")
    p.add_argument("--max-time", default="2", help="sampling cap per cell per round in seconds (default %(default)s)")
    p.add_argument("--warmup-max-time", default="2",
                   help="warm-up cap per cell per round in seconds (default %(default)s)")
    p.add_argument("--min-samples", default=None, help="fewest samples per cell per round (default: bench run's)")
    add_gate_arguments(p)
    p.add_argument("--force", action="store_true", help="compare even when the two revisions' fingerprints differ")
    p.add_argument("--out", default="bench-out/regress", help="folder for the raw runs and the report "
                                                             "(default %(default)s; replaced on each regress)")
    p.add_argument("--format", choices=FORMATS, default="table", help="report format on stdout (default table)")
    return p


def _settings(args: argparse.Namespace):
    import zoo
    from bench.grid import parse_int_list, parse_positive_float
    from bench.regress import RegressSettings
    from devices.registry import canonical_name
    from zoo.registry import UnknownModelError

    canonical_name(args.device)
    rounds = parse_int_list(args.rounds, "rounds")
    if len(rounds) != 1:
        raise BenchError("--rounds takes one integer")
    for text, what in ((args.batch, "batch"), (args.threads, "threads"), (args.min_samples, "min-samples")):
        if text is not None:
            parse_int_list(text, what)
    if args.models.strip() != defaults.DEFAULT_MODELS_KEYWORD:
        try:  # fail before checking anything out; the baseline may still lack a model (reported per cell)
            zoo.resolve_patterns(args.models)
        except UnknownModelError as exc:
            raise BenchError(str(exc)) from None
    return RegressSettings(models=args.models, device=args.device, rounds=rounds[0], batch=args.batch,
                           threads=args.threads, max_time_s=parse_positive_float(args.max_time, "max-time"),
                           warmup_max_time_s=parse_positive_float(args.warmup_max_time, "warmup-max-time"),
                           min_samples=int(args.min_samples) if args.min_samples else None)


def round_lines(result) -> list[str]:
    """One line per compared cell: its NEW/BASE change in every round (consistency evidence)."""
    lines = []
    for c in result.comparison.cells:
        changes = result.round_changes.get(c.key(), [])
        text = " ".join("n/a" if r is None else f"{r - 1:+.1%}" for r in changes)
        lines.append(f"per-round change {c.model} b{c.batch} {c.dtype} {c.layout} t{c.threads}: {text}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Validate, run the rounds, write the report to --out and print it; exit 1 on a regression."""
    from bench.regress import regress

    settings = _settings(args)
    thresholds, alpha = gate_settings(args)
    out_dir = Path(args.out)
    result = regress(args.baseline, settings, out_dir, thresholds, alpha, force=args.force)
    comparison = result.comparison
    doc = json_report(comparison)
    doc["regress"] = {"baseline": args.baseline, "baseline_commit": result.revisions["base"].commit,
                      "rounds": settings.rounds, "models": settings.models, "seconds": round(result.seconds, 1),
                      "round_changes": [{"cell": list(k), "changes": v} for k, v in result.round_changes.items()]}
    text = "\n".join([text_report(comparison), *round_lines(result),
                      f"# {settings.rounds} round(s) in {result.seconds:.0f} s; raw runs in {out_dir}"])
    (out_dir / "report.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    (out_dir / "report.txt").write_text(text + "\n")
    print(json.dumps(doc, indent=2, default=str) if args.format == "json" else text)
    return 1 if comparison.regressions else 0
