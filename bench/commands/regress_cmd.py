"""`bench regress --baseline REF`: measure REF and the working tree in interleaved rounds; exit 1 on a regression."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench import defaults
from bench.commands.compare_cmd import FORMATS, add_gate_arguments, gate_settings, json_report, text_report
from bench.errors import BenchError
from bench.guard_args import add_guard_options, guard_settings
from bench.model_args import SOURCES_HELP, add_source_options, resolve_models

_DESCRIPTION = """\
Gate latency on a shared machine: check the baseline revision REF out in a temporary git
worktree, start one measuring process per revision (each running its own revision's code)
and, for every cell, alternate short bursts of calls between them (ABBA) so that whatever
else the machine does hits both alike. Each of --rounds rounds uses fresh processes; the
rounds are pooled per cell and compared as `bench compare` does (ratio of medians with a
bootstrap CI, Mann-Whitney U, threshold). The worktree is removed afterwards. Raw runs and
the report are written to --out (base.sqlite, new.sqlite, report.txt, report.json): upload
that folder as the CI artifact.

Exit status: 0 no regression, 1 regression, 2 usage error or a failed worker."""


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench regress`."""
    p = sub.add_parser("regress", help="compare latency with a baseline git revision, interleaved on this machine",
                       description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", required=True, metavar="REF", help="git revision to compare against (e.g. origin/main)")
    p.add_argument("--models", default=defaults.DEFAULT_MODELS_KEYWORD,
                   help="model names or wildcards, comma-separated (default: bench run's 'default' subset); "
                        + SOURCES_HELP.replace("%", "%%") + " A relative PATH.py is each revision's own copy")
    add_source_options(p)
    p.add_argument("--rounds", default="3", help="rounds, each with fresh processes (default %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | mobile (default %(default)s)")
    p.add_argument("--batch", default="1", help="batch sizes, comma-separated (default 1)")
    p.add_argument("--threads", default=None, help="intra-op threads (default: torch's)")
    p.add_argument("--max-time", default="4",
                   help="sampling time per cell per round, both revisions together, s (default %(default)s)")
    p.add_argument("--warmup-max-time", default="2", help="warm-up cap per cell per round, s (default %(default)s)")
    p.add_argument("--burst-ms", default="20", help="length of one revision's turn, ms (default %(default)s)")
    p.add_argument("--min-samples", default="20",
                   help="fewest samples per revision per cell per round (default %(default)s)")
    p.add_argument("--no-pin", action="store_true",
                   help="do not pin both workers to the same CPUs (pinned by default where the OS allows)")
    add_gate_arguments(p)
    p.add_argument("--force", action="store_true", help="compare even when the two revisions' fingerprints differ")
    p.add_argument("--out", default="bench-out/regress", help="folder for the raw runs and the report "
                                                             "(default %(default)s; replaced on each regress)")
    p.add_argument("--format", choices=FORMATS, default="table", help="report format on stdout (default table)")
    add_guard_options(p)
    return p


def _one_int(text: str, what: str) -> int:
    from bench.grid import parse_int_list

    values = parse_int_list(text, what)
    if len(values) != 1:
        raise BenchError(f"--{what} takes one integer")
    return values[0]


def _settings(args: argparse.Namespace):
    from bench.grid import parse_int_list, parse_positive_float
    from bench.regress import RegressSettings
    from devices.registry import canonical_name

    device = canonical_name(args.device)
    rounds = _one_int(args.rounds, "rounds")
    if args.models.strip() == defaults.DEFAULT_MODELS_KEYWORD:
        models = tuple(defaults.DEFAULT_MODELS)
    else:
        # names are resolved in the working tree; a model the baseline lacks is reported per cell
        models = tuple(resolve_models(args.models, args))
    if not models:
        raise BenchError("--models selects no model")
    return RegressSettings(models=models, device=device, rounds=rounds, batches=parse_int_list(args.batch, "batch"),
                           threads=_one_int(args.threads, "threads") if args.threads else None,
                           max_time_s=parse_positive_float(args.max_time, "max-time"),
                           warmup_max_time_s=parse_positive_float(args.warmup_max_time, "warmup-max-time"),
                           burst_ms=parse_positive_float(args.burst_ms, "burst-ms"),
                           min_samples=_one_int(args.min_samples, "min-samples"), pin=not args.no_pin,
                           input_size=args.input_size)


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
    guard_cfg = guard_settings(args)
    guard = None
    if guard_cfg.enabled:
        from bench.guard import Guard, kernel_factory_for

        # the driver's CPU share says nothing about the workers': no share check, calibration and load only
        guard = Guard(guard_cfg, kernel_factory_for(settings.device), host_bound=False)
    out_dir = Path(args.out)
    result = regress(args.baseline, settings, out_dir, thresholds, alpha, force=args.force, guard=guard)
    comparison = result.comparison
    doc = json_report(comparison)
    doc["regress"] = {"baseline": args.baseline, "baseline_commit": result.revisions["base"].commit,
                      "rounds": settings.rounds, "models": list(settings.models), "seconds": round(result.seconds, 1),
                      "round_changes": [{"cell": k.to_dict(), "changes": v} for k, v in result.round_changes.items()]}
    text = "\n".join([text_report(comparison), *round_lines(result),
                      f"# {settings.rounds} round(s) in {result.seconds:.0f} s; raw runs in {out_dir}"])
    (out_dir / "report.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    (out_dir / "report.txt").write_text(text + "\n")
    print(json.dumps(doc, indent=2, default=str) if args.format == "json" else text)
    return 1 if comparison.regressions else 0
