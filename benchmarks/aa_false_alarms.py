"""Does the latency gate cry wolf, and does it catch a real slowdown?

Usage (from the repository root):

    .venv/bin/python benchmarks/aa_false_alarms.py [--trials 10] [--mode interleaved|sequential|processes]

Per trial and model, a BASE instance of the model is measured together with candidates and
each candidate is judged by the same verdict code as `bench compare` (`bench.compare.compare_cell`,
default threshold 5 %, alpha 0.01):

- `A/A`: a second, separately built instance of the identical model: any regression is a
  false alarm;
- `+2%` and `+10%`: the identical model (its own instance) behind `InjectedSlowdown`, a
  test-only wrapper that busy-waits after every call until the process has spent that
  fraction of the call's own CPU time again: 2 % / 10 % more work per call, which a loaded
  machine stretches just as it stretches the model's own work. +10 % must be flagged every
  time; +2 % (real, but below the threshold) never.

Two more rows per trial need no extra measurement: `x1.02` and `x1.10` are the A/A
instance's own samples multiplied by 1.02 / 1.10, i.e. a slowdown of exactly that size on
the real noise of this machine (same expectations: +10 % flagged, +2 % not).

Modes (how BASE and candidates share the machine):
- `interleaved` (default): one process, calls alternate BASE, A/A, +2%, +10%, BASE, ...
  (`bench.timing.measure_interleaved`), the protocol `bench claim` uses;
- `sequential`: one `measure` pass per candidate after BASE's, like two `bench run`s back to
  back (order rotated per trial);
- `processes`: through `bench regress`'s own machinery (`bench.regress.run_round`): a BASE
  and a NEW worker process of the same source tree, bursts of calls alternated between them,
  --rounds rounds with fresh processes, pooled and compared with `compare_runs`. For +2 % /
  +10 % the NEW worker's models are wrapped in `InjectedSlowdown` (`install_injection`).
  This is the end-to-end behaviour of `bench regress` (no x1.02 / x1.10 rows here).

Exit status 0 when there was no false alarm, every +10 % was flagged and no +2 % was; else 1.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

CANDIDATES = (("A/A", 0.0), ("+2%", 0.02), ("+10%", 0.10))
DEFAULT_MODELS = "resnet20_cifar,vgg16_cifar_p4,mobilenet_cifar"


class InjectedSlowdown:
    """Test-only wrapper: every call does `fraction` more CPU work than the wrapped call did.

    After the wrapped call it busy-waits (spins, so the core stays busy as real extra work
    would) until the process has used `fraction` of the call's own CPU time again. Extra
    work, not extra wall time: on a loaded machine a call's wall time is mostly waiting for
    a core, and spinning for a fraction of it would inject several times `fraction` of
    work (measured on a 2-core machine at load 8: a "+2 %" wall-time spin came out as
    +10..+38 %). Extra CPU work is stretched by the load exactly as the model's own work
    is. Exact for one intra-op thread (the script's default), where the model's CPU time
    is the calling thread's.
    """

    def __init__(self, fn: Callable[[], Any], fraction: float) -> None:
        self.fn, self.fraction = fn, fraction

    def __call__(self) -> Any:
        c0 = time.process_time_ns()
        out = self.fn()
        c1 = time.process_time_ns()
        target = c1 + int((c1 - c0) * self.fraction)
        while time.process_time_ns() < target:
            pass
        return out


def install_injection(fraction: float) -> None:
    """In a `bench regress` worker: wrap every prepared model in InjectedSlowdown(fraction).

    Patches `devices.registry.get_device` before the worker imports it; used through
    `injected_worker_boot`, never by zoobench itself.
    """
    import devices.registry as registry

    original = registry.get_device

    def get_device(*args: Any, **kwargs: Any):
        device = original(*args, **kwargs)
        prepare = device.prepare

        def slowed_prepare(*pargs: Any, **pkwargs: Any):
            prepared = prepare(*pargs, **pkwargs)
            prepared.run = InjectedSlowdown(prepared.run, fraction)
            return prepared

        device.prepare = slowed_prepare
        return device

    registry.get_device = get_device


def injected_worker_boot(fraction: float) -> str:
    """Launch code for a regress worker whose models are all `fraction` slower."""
    from bench.regress import WORKER_PATH

    here = str(Path(__file__).resolve().parent)
    return (f"import sys, runpy; sys.path.append({here!r}); import aa_false_alarms as aa; "
            f"aa.install_injection({fraction!r}); "
            f"runpy.run_path({str(WORKER_PATH)!r}, run_name='__zoobench_regress_worker__')")


@dataclass
class Judgement:
    """One candidate's comparison with BASE in one trial."""

    trial: int
    model: str
    candidate: str
    injected: float
    change: float
    ci_low: float
    ci_high: float
    p_value: float
    verdict: str
    flagged: bool


def _prepare(device, model_name: str, threads: int):
    from bench.runner import example_batch
    from zoo.layers.reparam import deploy_form
    from zoo.registry import get_model

    model = deploy_form(get_model(model_name), inplace=True)
    return device.prepare(model, example_batch(model_name, 1), threads=threads)


def _cell(model: str, threads: int, samples: list[float]):
    from bench.compare import Cell, CellData

    return CellData(Cell(model=model, threads=threads), samples_ms=samples)


def _minus_one(x: float | None) -> float:
    return float("nan") if x is None else x - 1


def _judge(trial: int, model: str, threads: int, base: list[float], cand: list[float], label: str, injected: float,
           threshold: float, interleaved: bool) -> Judgement:
    from bench.compare import compare_cell

    # sequential passes are separately made runs: the gate then calls them inconclusive (no CI drawn)
    c = compare_cell(_cell(model, threads, base), _cell(model, threads, cand), threshold, interleaved=interleaved)
    return Judgement(trial, model, label, injected, c.ratio - 1, _minus_one(c.ci_low), _minus_one(c.ci_high),
                     float("nan") if c.p_value is None else c.p_value, c.verdict, c.regression)


def _timing(args: argparse.Namespace) -> dict[str, Any]:
    from bench.runner import TimingSettings

    t = TimingSettings(max_time_s=args.max_time, warmup_max_time_s=args.warmup_max_time)
    return t.to_dict()


def in_process_trial(trial: int, model: str, args: argparse.Namespace) -> list[Judgement]:
    """BASE and the three candidates in one process (interleaved or sequential), judged."""
    from bench.timing import measure, measure_interleaved
    from devices.registry import get_device

    device = get_device("cpu")
    # Every side gets its own instance (built from identical code): a wrapper around BASE's
    # instance would find BASE's weights hot in cache and make the position in the rotation matter.
    fns = [_prepare(device, model, args.threads).run for _ in range(1 + len(CANDIDATES))]
    fns = fns[:2] + [InjectedSlowdown(fn, f) for fn, (_, f) in zip(fns[2:], CANDIDATES[1:])]
    timing = _timing(args)
    shift = trial % len(fns)
    order = list(range(len(fns)))[shift:] + list(range(len(fns)))[:shift]  # who goes first rotates per trial
    if args.mode == "interleaved":
        by_index = dict(zip(order, (m.samples_ms for m in measure_interleaved([fns[i] for i in order], **timing))))
    else:
        by_index = {i: measure(fns[i], **timing).samples_ms for i in order}
    samples = [by_index[i] for i in range(len(fns))]
    inter = args.mode == "interleaved"
    judged = [_judge(trial, model, args.threads, samples[0], samples[1 + i], label, frac, args.threshold, inter)
              for i, (label, frac) in enumerate(CANDIDATES)]
    # The A/A instance's own samples scaled by 1 + f: a slowdown of exactly f on this machine's real
    # noise, without the question of how a loaded scheduler stretches injected work.
    return judged + [_judge(trial, model, args.threads, samples[0], [x * (1 + f) for x in samples[1]],
                            f"x{1 + f:.2f}", f, args.threshold, inter) for _, f in CANDIDATES[1:]]


def processes_trial(trial: int, models: str, args: argparse.Namespace) -> list[Judgement]:
    """`bench regress`'s machinery on the same tree: per candidate, a BASE worker and a NEW worker
    (NEW's models wrapped in InjectedSlowdown for +2 % / +10 %), bursts alternated, pooled, compared."""
    from bench.compare import Thresholds, all_runs_in_store, compare_runs, pool_runs
    from bench.fingerprint import REPO_ROOT
    from bench.regress import BASE, NEW, RegressSettings, Revision, WorkerProcess, run_round

    settings = RegressSettings(models=tuple(models.split(",")), rounds=args.rounds, threads=args.threads,
                               max_time_s=args.max_time, warmup_max_time_s=args.warmup_max_time)
    revs = {BASE: Revision(BASE, "tree", REPO_ROOT), NEW: Revision(NEW, "tree", REPO_ROOT)}
    out = []
    for label, fraction in CANDIDATES:
        def spawn(rev: Revision, s: RegressSettings, fraction: float = fraction) -> WorkerProcess:
            boot = injected_worker_boot(fraction) if rev.name == NEW and fraction else None
            return WorkerProcess(rev, s, boot=boot)

        with tempfile.TemporaryDirectory(prefix="zoobench-aa-") as tmp:
            dbs = {name: Path(tmp) / f"{name}.sqlite" for name in revs}
            for _ in range(settings.rounds):
                run_round(revs, settings, dbs, spawn, log=lambda _: None)
            base = pool_runs(all_runs_in_store(dbs[BASE]), "A")
            new = pool_runs(all_runs_in_store(dbs[NEW]), "A'")
            base.interleaved = new.interleaved = True  # as `bench regress` does: rounds made side by side
        comparison = compare_runs(base, new, Thresholds(default=args.threshold))
        out += [Judgement(trial, c.model, label, fraction, c.ratio - 1, _minus_one(c.ci_low), _minus_one(c.ci_high),
                          float("nan") if c.p_value is None else c.p_value, c.verdict, c.regression)
                for c in comparison.cells if c.ratio is not None]
    return out


def summarize(judgements: list[Judgement]) -> dict[str, dict[str, int]]:
    """Per candidate: comparisons made and how many were flagged as regressions."""
    out: dict[str, dict[str, int]] = {}
    for j in judgements:
        row = out.setdefault(j.candidate, {"comparisons": 0, "flagged": 0})
        row["comparisons"] += 1
        row["flagged"] += int(j.flagged)
    return out


def passed(summary: dict[str, dict[str, int]]) -> bool:
    """No A/A or +2 % flag, every +10 % flagged (injected and scaled alike)."""
    quiet = all(summary.get(k, {}).get("flagged", 0) == 0 for k in ("A/A", "+2%", "x1.02"))
    caught = all(summary[k]["flagged"] == summary[k]["comparisons"] for k in ("+10%", "x1.10") if k in summary)
    return quiet and caught


def _line(j: Judgement) -> str:
    return (f"trial {j.trial:2d} {j.model:18s} {j.candidate:5s} change {j.change:+7.2%} "
            f"CI [{j.ci_low:+.2%}, {j.ci_high:+.2%}] p={j.p_value:.2g} {j.verdict:9s}"
            f"{'  REGRESSION' if j.flagged else ''}")


def main(argv: list[str] | None = None) -> int:
    """Run the trials, print every judgement and the counts; exit 0 when the gate behaved."""
    import torch

    from bench.grid import parse_fraction

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=10, help="trials per model (default 10)")
    p.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated zoo models (default %(default)s)")
    p.add_argument("--mode", choices=("interleaved", "sequential", "processes"), default="interleaved")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    p.add_argument("--max-time", type=float, default=8.0,
                   help="sampling cap per measurement in s (interleaved: for all four together; default 8)")
    p.add_argument("--warmup-max-time", type=float, default=2.0, help="warm-up cap, s (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="processes mode: rounds per comparison (default 3)")
    p.add_argument("--threshold", default="5%", help="regression threshold (default 5%%)")
    p.add_argument("--out", default=None, help="write all judgements and the summary as JSON here")
    args = p.parse_args(argv)
    args.threshold = parse_fraction(args.threshold, "threshold")
    torch.set_num_threads(args.threads)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    judgements: list[Judgement] = []
    t0 = time.perf_counter()
    for trial in range(1, args.trials + 1):
        batch = (processes_trial(trial, ",".join(models), args) if args.mode == "processes"
                 else [j for m in models for j in in_process_trial(trial, m, args)])
        for j in batch:
            print(_line(j), flush=True)
        judgements += batch
    summary = summarize(judgements)
    elapsed = time.perf_counter() - t0
    print(f"# mode {args.mode}, {args.trials} trial(s) x {len(models)} model(s), threads {args.threads}, "
          f"threshold {args.threshold:.0%}, {elapsed:.0f} s")
    for cand, row in summary.items():
        what = "false alarms" if cand == "A/A" else "flagged"
        print(f"{cand:5s}: {what} {row['flagged']}/{row['comparisons']}")
    if args.out:
        Path(args.out).write_text(json.dumps({"mode": args.mode, "args": {k: v for k, v in vars(args).items()},
                                              "summary": summary, "seconds": round(elapsed, 1),
                                              "judgements": [asdict(j) for j in judgements]}, indent=1) + "\n")
    return 0 if passed(summary) else 1


if __name__ == "__main__":
    sys.exit(main())
