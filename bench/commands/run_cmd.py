"""`bench run`: measure a grid of models on one device and store every cell in SQLite."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, Callable

from bench import defaults
from bench.errors import BenchError
from bench.model_args import SOURCES_HELP, add_source_options, add_variants_option, load_variants, resolve_models
from bench.noise import NOISY_MARK, is_noisy
from bench.guard_args import add_guard_options, guard_settings
from bench.output import FORMATS, render

if TYPE_CHECKING:
    from bench.grid import GridSpec

SUMMARY_COLUMNS = ["model", "impl", "batch", "dtype", "layout", "threads", "status", "noisy", "p50_ms", "ci_low_ms",
                   "ci_high_ms", "samples", "warmup_iters", "stop_reason", "contended", "message"]
_DESCRIPTION = """\
Measure latency of zoo variants on one device over a grid (models x batch x dtype x layout x
HetConv impl x threads). Each cell warms up until steady, then samples until the 95% CI of the
median is within --ci of it (or --max-time / --max-iters), and is committed to the SQLite
database at once: an interrupted run loses at most the cell in flight; --resume continues it.
Devices: cpu (torch eager), cuda (CUDA events), mobile or arm (ExecuTorch XNNPACK .pte, timed
on this host unless --adb-runner is given; on x86 it is XNNPACK-on-host, not ARM)."""


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench run`."""
    p = sub.add_parser("run", help="measure latency over a grid and store results", description=_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None, help=" | ".join(_device_choices()) + " (required unless --cluster)")
    p.add_argument("--models", default=defaults.DEFAULT_MODELS_KEYWORD,
                   help="model names or wildcards, comma-separated; 'default' = the HetConv CIFAR zoo "
                        "+ resnet18 + mobilenet_v2 (default); " + SOURCES_HELP.replace("%", "%%"))
    p.add_argument("--batch", default="1", help="batch sizes, comma-separated (default 1)")
    p.add_argument("--dtype", default="fp32", help="fp32,fp16,bf16 (default fp32)")
    p.add_argument("--layout", default="nchw", help="nchw,nhwc (nhwc = channels_last; default nchw)")
    p.add_argument("--impl", default=None,
                   help="HetConv impls, comma-separated (masked,grouped,branches,folded,grouped_streams); "
                        "default: each model's own. Ignored for models without HetConv")
    p.add_argument("--threads", default=None, help="intra-op threads, comma-separated (default: torch's current)")
    p.add_argument("--ci", default=f"{defaults.CI_TARGET:.0%}",
                   help="target half-width of the median's 95%% CI, e.g. 1%% (default %(default)s)")
    p.add_argument("--max-time", default=str(defaults.MAX_TIME_S),
                   help="sampling time cap per cell in seconds (default %(default)s)")
    p.add_argument("--max-iters", default=str(defaults.MAX_ITERS), help="sample cap per cell (default %(default)s)")
    p.add_argument("--min-samples", default=str(defaults.MIN_SAMPLES),
                   help="fewest samples before the CI may stop sampling (default %(default)s)")
    p.add_argument("--warmup-max-time", default=str(defaults.WARMUP_MAX_TIME_S),
                   help="warm-up time cap per cell in seconds (default %(default)s)")
    p.add_argument("--db", default=defaults.DEFAULT_DB, help="SQLite results file (default %(default)s)")
    p.add_argument("--resume", action="store_true",
                   help="continue the newest run with the same device and settings, skipping finished cells")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (cpu/cuda)")
    _add_device_options(p)
    add_guard_options(p)
    p.add_argument("--repeat", type=int, default=None, metavar="N",
                   help="run the whole command N times, each in a fresh process, into the same --db")
    p.add_argument("--format", choices=FORMATS, default="table", help="summary format on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_variants_option(p)
    add_source_options(p)
    f = p.add_argument_group("fleet (docs/fleet.md)")
    f.add_argument("--cluster", default=None, metavar="tcp://HOST:PORT",
                   help="measure on the `bench worker`s of this Dask scheduler instead of --device")
    f.add_argument("--targets", default=None, help="with --cluster: target patterns, e.g. 'cuda:*,cpu:*'")
    f.add_argument("--connect-timeout", type=float, default=5.0,
                   help="seconds to reach the scheduler (default %(default)s)")
    f.add_argument("--worker-timeout", type=float, default=30.0,
                   help="seconds a target may have no worker before its cells are stored not_measured "
                        "(default %(default)s)")
    return p


def _device_choices() -> list[str]:
    from devices.registry import aliases, device_classes

    return [n + "".join(f" (alias {a})" for a, target in aliases().items() if target == n) for n in device_classes()]


class _OptionRecorder:
    """Passed to `Device.add_options`: adds to a parser group and remembers which options it added."""

    def __init__(self, group) -> None:
        self.group = group
        self.actions: list[argparse.Action] = []

    def add_argument(self, *name_or_flags: str, **kwargs: Any) -> argparse.Action:
        """argparse's add_argument on the device's group."""
        action = self.group.add_argument(*name_or_flags, **kwargs)
        self.actions.append(action)
        return action


def _add_device_options(p: argparse.ArgumentParser) -> None:
    """Every registered device's own options, each in its group; the owners are kept on the parser
    (`_device_options`) so that an option given with another device is refused."""
    from devices.registry import device_classes

    owners: dict[str, list[argparse.Action]] = {}
    for name, cls in device_classes().items():
        recorder = _OptionRecorder(p.add_argument_group(f"{name} options"))
        cls.add_options(recorder)
        owners[name] = recorder.actions
    p.set_defaults(_device_options=owners)


def _int_arg(text: str, what: str) -> int:
    from bench.grid import parse_int_list

    values = parse_int_list(text, what)
    if len(values) != 1:
        raise BenchError(f"--{what} takes one integer")
    return values[0]


def build_grid(args: argparse.Namespace, default_threads: Callable[[], int], check_cores: bool = True) -> GridSpec:
    """Validate the grid arguments (BenchError on bad input) and return the GridSpec. `check_cores`
    False (--cluster): --threads is not checked against this machine's cores; each worker checks its own."""
    from bench.grid import GridSpec, parse_choice_list, parse_int_list
    from devices.base import DTYPES, LAYOUTS
    from zoo.layers.hetconv import IMPLS
    from zoo.sources import exported_batch_ok

    batches = parse_int_list(args.batch, "batch")
    dtypes = parse_choice_list(args.dtype, tuple(DTYPES), "dtype")
    layouts = parse_choice_list(args.layout, LAYOUTS, "layout")
    impls = parse_choice_list(args.impl, IMPLS, "impl") if args.impl else (None,)
    threads = parse_int_list(args.threads, "threads", check_cores) if args.threads else (default_threads(),)
    load_variants(args)  # saved variants (bench prune / lowrank) are registered only on request
    if args.models.strip() == defaults.DEFAULT_MODELS_KEYWORD:
        models = list(defaults.DEFAULT_MODELS)
    else:
        models = resolve_models(args.models, args)
    if not models:
        raise BenchError("--models selects no model")
    for name in models:  # an exported program's shapes are fixed at export: refuse a batch it cannot take
        for b in batches:
            why = exported_batch_ok(name, b)
            if why:
                raise BenchError(why)
    return GridSpec(models=tuple(models), batches=batches, dtypes=dtypes, layouts=layouts, impls=impls,
                    threads=threads, compile=bool(args.compile))


def timing_settings(args: argparse.Namespace):
    """TimingSettings from --ci/--max-time/--max-iters/--min-samples/--warmup-max-time."""
    from bench.grid import parse_fraction, parse_positive_float
    from bench.runner import TimingSettings

    max_iters, min_samples = _int_arg(args.max_iters, "max-iters"), _int_arg(args.min_samples, "min-samples")
    if min_samples > max_iters:
        raise BenchError(f"--min-samples ({min_samples}) exceeds --max-iters ({max_iters})")
    return TimingSettings(ci_target=parse_fraction(args.ci, "ci"),
                          max_time_s=parse_positive_float(args.max_time, "max-time"),
                          max_iters=max_iters, min_samples=min_samples,
                          warmup_max_time_s=parse_positive_float(args.warmup_max_time, "warmup-max-time"))


def _device(args: argparse.Namespace):
    """The device built from its own options (BenchError when another device's option is given)."""
    from devices.registry import canonical_name, checked, device_class

    name = canonical_name(args.device)
    for owner, actions in getattr(args, "_device_options", {}).items():
        if owner == name:
            continue
        for action in actions:
            if getattr(args, action.dest) != action.default:
                raise BenchError(f"{action.option_strings[0]} needs --device {owner}")
    device = device_class(name).from_options(args)
    for note in device.notes(args.device):
        print(f"bench: note: {note}", file=sys.stderr)
    return checked(device, name), device.recorded_options()


def _summary_rows(report) -> list[dict]:
    rows = []
    for o in report.outcomes:
        st = o.measurement.stats if o.measurement else None
        c = o.cell
        rows.append(dict(model=c.model, impl=o.impl, batch=c.batch, dtype=c.dtype, layout=c.layout,
                         threads=c.threads, status=o.status, p50_ms=st.p50_ms if st else None,
                         ci_low_ms=st.ci_low_ms if st else None, ci_high_ms=st.ci_high_ms if st else None,
                         samples=st.samples if st else None,
                         warmup_iters=o.measurement.warmup_iters if o.measurement else None,
                         stop_reason=o.measurement.stop_reason if o.measurement else None,
                         contended=o.info.get("contended"), message=o.message))
        rows[-1]["noisy"] = is_noisy(o.status, rows[-1]["stop_reason"])
    return rows


def _run_repeated(args: argparse.Namespace) -> int:
    """N fresh processes of this command into --db, then each cell's p50 spread across them."""
    from bench.repeat import cell_spreads, run_repeats
    from bench.store import ResultStore

    with ResultStore(args.db) as store:
        before = set(store.run_ids())
    codes = run_repeats(args._argv, args.repeat)
    with ResultStore(args.db) as store:
        new = [r for r in store.run_ids() if r not in before]
        rows = cell_spreads(store, new)
    if args.format == "table":
        print(f"# {len(new)} run(s) in {args.db}: {', '.join(new)}; per cell, p50 across the repeats")
    print(render(rows, ["cell", "runs", "p50_median_ms", "p50_min_ms", "p50_max_ms", "spread", "contended_runs"],
                 args.format))
    return max(codes)


def run(args: argparse.Namespace) -> int:
    """Validate arguments, run the grid, print a summary; exit 0 even when some cells failed."""
    from bench.runner import run_grid
    from bench.store import ResultStore
    from devices.registry import canonical_name, machine_label

    from bench.repeat import check_repeat, run_repeats

    if args.cluster is not None:  # a fleet sweep: bench/fleet/command.py
        from bench.fleet import command

        command.check_args(args)
        return command.run(args, build_grid(args, lambda: None, check_cores=False), timing_settings(args),
                           guard_settings(args))
    if args.device is None:
        raise BenchError("--device is required (or --cluster tcp://HOST:PORT; see docs/fleet.md)")
    canonical_name(args.device)  # unknown device: fail before anything slow
    timing = timing_settings(args)
    guard = guard_settings(args)
    if check_repeat(args.repeat) > 1:
        return _run_repeated(args)
    device, options = _device(args)
    spec = build_grid(args, device.default_threads)
    with ResultStore(args.db) as store:
        try:
            report = run_grid(store, device, spec, timing, resume=args.resume, device_options=options,
                              progress=not args.no_progress, guard=guard)
        except KeyboardInterrupt:
            raise BenchError(f"interrupted; finished cells are stored in {args.db}; "
                             "run the same command with --resume to continue", code=130) from None
        info = store.run_info(report.run_id)
    label = machine_label(device.name, info["fingerprint"])
    done = f"{len(report.outcomes)} cell(s) measured" + (
        f", {report.cells_skipped} already done (resumed)" if report.resumed else "")
    rows = _summary_rows(report)
    if args.format == "table":
        print(f"# run {report.run_id}  target {device.name}  measured on: {label}")
        print(f"# {done}; stored in {args.db}")
        n_noisy = sum(r["noisy"] for r in rows)
        if n_noisy:
            print(f"# {n_noisy} noisy cell(s): stopped at --max-time before the CI reached --ci; their p50 is "
                  "imprecise (a busy machine?)")
        rows = [{**r, "noisy": NOISY_MARK if r["noisy"] else ""} for r in rows]
    print(render(rows, SUMMARY_COLUMNS, args.format))
    return 0
