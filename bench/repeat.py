"""`--repeat N`: run the same command N times, each in a fresh process, into the same database.

A fresh process per repeat means fresh imports, allocator and thread pools, so what differs
between repeats is what a user rerunning the command would see. The children are the same
`bench` command line with `--repeat` removed (plus what the caller adds per repeat).
"""
from __future__ import annotations

import subprocess
import sys
from typing import Callable, Sequence

from bench.errors import BenchError


def without_repeat(argv: Sequence[str]) -> list[str]:
    """`argv` with every `--repeat N` / `--repeat=N` removed."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--repeat":
            skip = True
            continue
        if arg.startswith("--repeat="):
            continue
        out.append(arg)
    return out


def check_repeat(n: int | None) -> int:
    """The repeat count (1 when not given); BenchError below 1."""
    if n is None:
        return 1
    if n < 1:
        raise BenchError(f"--repeat must be >= 1, got {n}")
    return n


def run_repeats(argv: Sequence[str], n: int, extra: Callable[[int], list[str]] | None = None,
                runner: Callable[[list[str]], int] | None = None) -> list[int]:
    """Run `bench <argv without --repeat> <extra(k)>` n times in turn; the exit status of each.

    `runner` (tests) replaces starting a process; it gets the full child command line.
    """
    base = [sys.executable, "-m", "bench", *without_repeat(argv)]
    codes = []
    for k in range(1, n + 1):
        cmd = base + (extra(k) if extra else [])
        print(f"bench: repeat {k}/{n}: {' '.join(cmd[2:])}", file=sys.stderr, flush=True)
        codes.append(runner(cmd) if runner else subprocess.run(cmd).returncode)
    return codes
