"""The `bench` console script: one sub-command per module in `bench.commands`.

Each command module defines `add_parser(subparsers)` (returning its parser) and
`run(args) -> int`; the plain `run` functions are what tests call. Exit codes: 0 ok,
1 regression / refuted claim where asked to gate, 2 usage or environment error, 3 internal
error, 130 interrupted, 141 broken pipe (see `main`).

Start-up: only the command being run has its module imported (`bench --help` imports
none); the others appear as placeholders with their one-line SUMMARIES.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from bench.errors import BenchError

# name -> (module under bench.commands, its `bench --help` line). The line is here so that
# listing commands imports none of their modules; tests/test_cli_startup.py keeps it equal to
# the help each module registers. A new command is its module plus one line here.
COMMAND_TABLE: dict[str, tuple[str, str]] = {
    "zoo": ("zoo_cmd", "list registered variants or show one's metadata"),
    "costs": ("costs_cmd", "count MACs/params of variants (deploy form)"),
    "run": ("run_cmd", "measure latency over a grid and store results"),
    "results": ("results_cmd", "list stored results"),
    "export": ("export_cmd", "export runs to JSON"),
    "import": ("import_cmd", "merge a JSON export into the results database"),
    "fidelity": ("fidelity_cmd", "compare our timing with torch.utils.benchmark; harness overhead"),
    "report": ("report_cmd", "write Pareto charts, tables and an HTML page from stored results"),
    "claim": ("claim_cmd", "test a paper's speed claims with measurements (hetconv)"),
    "compare": ("compare_cmd", "compare two runs; exit 1 on a latency regression"),
    "regress": ("regress_cmd", "compare latency with a baseline git revision, interleaved on this machine"),
    "prune": ("prune_cmd", "prune a zoo model to a MACs ratio (Torch-Pruning) and save it as a new variant"),
    "lowrank": ("lowrank_cmd", "factorise a model's KxK convs to low rank and save it as a new variant"),
    "eval": ("eval_cmd", "measure top-1/top-5 of a checkpoint on your data (CIFAR batches, ImageFolder)"),
    "profile": ("profile_cmd", "per-layer profile of models: time, MACs, bytes, GFLOP/s, roofline floor"),
    "ceilings": ("ceilings_cmd", "measure peak FLOP/s and memory bandwidth (cached per machine) against the nominal ISA peak"),
    "worker": ("worker_cmd", "serve this host's device to a fleet's Dask scheduler (bench run --cluster)"),
    "cluster": ("cluster_cmd", "start a local fleet (scheduler + N workers on 127.0.0.1) for bench run --cluster"),
}
COMMANDS = {name: module for name, (module, _) in COMMAND_TABLE.items()}
SUMMARIES = {name: summary for name, (_, summary) in COMMAND_TABLE.items()}


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with a single line (no usage dump) on a bad argument."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"bench: error: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; every command registered in full, or only command `only`.

    With `only`, the other commands are placeholders (name and summary): enough for
    `bench --help` and for argparse's "invalid choice" message, without importing them.
    """
    parser = _Parser(prog="bench", description="zoobench: latency and cost benchmarks for efficient CNNs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=SUMMARIES.get(name), add_help=False)
            continue
        mod = importlib.import_module(f"bench.commands.{module}")
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
    return parser


def command_in(argv: list[str]) -> str:
    """The command `argv` names ("" when none: then no command module needs importing)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return ""


DEBUG_FLAG = "--debug"
DEBUG_ENV = "ZOOBENCH_DEBUG"
EXIT_OK, EXIT_FOUND, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 3, 130, 141


def _split_debug(argv: list[str]) -> tuple[list[str], bool]:
    """Remove `--debug` (before any `--`) from argv; debug is also on with ZOOBENCH_DEBUG=1."""
    import os

    end = argv.index("--") if "--" in argv else len(argv)
    debug = DEBUG_FLAG in argv[:end]
    rest = [a for a in argv[:end] if a != DEBUG_FLAG] + argv[end:]
    return rest, debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:2000]


def _quiet_broken_pipe() -> int:
    """stdout's reader went away (`bench ... | head`): stop quietly, and keep Python from
    complaining again when it flushes stdout at exit."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE


def _environment_error(exc: BaseException) -> str | None:
    """One-line text for failures of the machine rather than of zoobench (disk full, permissions,
    a locked or read-only SQLite file); None for anything else."""
    import sqlite3

    if isinstance(exc, sqlite3.OperationalError):
        return f"results database: {exc}"
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, OSError) and exc.errno is not None:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status.

    0 ok; 1 a regression / refuted claim where the command gates; 2 bad input or environment
    (one line on stderr); 3 internal error (one line; `--debug` or ZOOBENCH_DEBUG=1 re-raises
    it with the traceback); 130 Ctrl-C; 141 stdout closed early (`| head`), both without traceback.
    """
    argv, debug = _split_debug(list(sys.argv[1:] if argv is None else argv))
    try:
        import warnings

        # fvcore and torch.jit print deprecation noise on every trace; it says nothing about the user's input
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        from devices.allocator import pin_malloc

        pin_malloc()  # before anything is measured: batch-32 layers re-faulted trimmed heap pages (devices.allocator)
        parser = build_parser(command_in(argv))
        args = parser.parse_args(argv)
        args._argv = list(argv)  # what `--repeat` reruns in fresh processes
        code = int(args._run(args) or 0)
        sys.stdout.flush()  # a closed pipe must fail here, inside the handlers, not at interpreter exit
        return code
    except BenchError as exc:
        sys.stderr.write(f"bench: error: {_one_line(exc)}\n")
        return exc.code
    except KeyboardInterrupt:
        sys.stderr.write("bench: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback unless asked
        if debug:
            raise
        env = _environment_error(exc)
        if env is not None:
            sys.stderr.write(f"bench: error: {_one_line(env)}\n")
            return EXIT_USAGE
        sys.stderr.write(f"bench: internal error: {type(exc).__name__}: {_one_line(exc)[:300]} "
                         f"(a bug in zoobench; rerun with {DEBUG_FLAG} or {DEBUG_ENV}=1 for the traceback)\n")
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
