"""The contention guard's command-line options, shared by `bench run` and `bench claim`.

Only argparse at import time (command modules import this at top level; `bench --help` stays fast).
"""
from __future__ import annotations

import argparse

from bench.errors import BenchError


def add_guard_options(p: argparse.ArgumentParser) -> None:
    """--guard/--no-guard, --guard-tolerance, --guard-retries, --guard-pause (bench run and bench claim)."""
    g = p.add_argument_group("contention guard (docs/contention.md)")
    g.add_argument("--guard", action=argparse.BooleanOptionalAction, default=True,
                   help="time a calibration GEMM and read the load around every cell; retry and flag contended "
                        "cells (default on)")
    g.add_argument("--guard-tolerance", default="15%",
                   help="least calibration slow-down that counts as contention; raised to 1.5x the machine's quiet "
                        "spread measured at the start, at most 50%% (default %(default)s)")
    g.add_argument("--guard-retries", type=int, default=2, help="retries of a contended cell (default %(default)s)")
    g.add_argument("--guard-pause", default=None,
                   help="seconds to wait before a retry (default $ZOOBENCH_GUARD_PAUSE_S, else 5)")


def guard_settings(args: argparse.Namespace):
    """GuardSettings from the guard options (BenchError on bad values)."""
    import os

    from bench.grid import parse_fraction
    from bench.guard import PAUSE_S, GuardSettings

    if args.guard_retries < 0:
        raise BenchError(f"--guard-retries must be >= 0, got {args.guard_retries}")
    pause_text = args.guard_pause if args.guard_pause is not None else os.environ.get("ZOOBENCH_GUARD_PAUSE_S")
    try:
        pause = PAUSE_S if pause_text is None else float(pause_text)
    except ValueError:
        raise BenchError(f"--guard-pause must be a number of seconds, got {pause_text!r}") from None
    if pause < 0:
        raise BenchError(f"--guard-pause must be >= 0, got {pause}")
    return GuardSettings(enabled=bool(args.guard), tolerance=parse_fraction(args.guard_tolerance, "guard-tolerance"),
                         retries=args.guard_retries, pause_s=pause)
