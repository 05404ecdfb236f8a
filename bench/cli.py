"""The `bench` console script: one sub-command per module in `bench.commands`.

Each command module defines `add_parser(subparsers)` (returning its parser) and
`run(args) -> int`; the plain `run` functions are what tests call. Exit codes: 0 ok,
1 regression / refuted claim where asked to gate, 2 usage or environment error.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from bench.errors import BenchError

# name -> module under bench.commands; a command is listed here once its module exists.
COMMANDS = {
    "zoo": "zoo_cmd",
    "costs": "costs_cmd",
    "run": "run_cmd",
    "results": "results_cmd",
    "export": "export_cmd",
    "import": "import_cmd",
    "fidelity": "fidelity_cmd",
    "report": "report_cmd",
    "claim": "claim_cmd",
    "compare": "compare_cmd",
    "regress": "regress_cmd",
    "prune": "prune_cmd",
    "lowrank": "lowrank_cmd",
    "eval": "eval_cmd",
}


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with a single line (no usage dump) on a bad argument."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"bench: error: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every command registered."""
    parser = _Parser(prog="bench", description="zoobench: latency and cost benchmarks for efficient CNNs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module in COMMANDS.items():
        mod = importlib.import_module(f"bench.commands.{module}")
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    import warnings

    # fvcore and torch.jit print deprecation noise on every trace; it says nothing about the user's input
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except BenchError as exc:
        sys.stderr.write(f"bench: error: {exc}\n")
        return exc.code
    except KeyboardInterrupt:
        sys.stderr.write("bench: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
