"""`bench worker`: serve one measurement target of this host to a fleet's Dask scheduler (docs/fleet.md)."""
from __future__ import annotations

import argparse

_DESCRIPTION = """\
Start a Dask worker for one measurement target of this host. It advertises the resource
zoobench:<device>:<label> (the device's own label, e.g. zoobench:cuda:NVIDIA-H200-CUDA-12.8) with
capacity 1 and one thread, so one cell at a time is timed on the device, with that device's timing
core and fingerprint. Start one worker per target (per GPU: --gpu INDEX). The scheduler runs what
clients send: keep it on a private network or use Dask's TLS (docs/fleet.md)."""


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench worker`."""
    p = sub.add_parser("worker", help="serve this host's device to a fleet's Dask scheduler (bench run --cluster)",
                       description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scheduler", required=True, help="the scheduler's address, tcp://HOST:PORT")
    p.add_argument("--device", required=True, help="cpu | cuda | mobile (alias arm)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads for cells whose grid names none (default %(default)s)")
    p.add_argument("--gpu", type=int, default=None, help="CUDA device index (--device cuda; default 0)")
    p.add_argument("--label-suffix", default="",
                   help="appended to the target label, so two workers on one host are two targets (tests)")
    p.add_argument("--connect-timeout", type=float, default=10.0,
                   help="seconds to reach the scheduler before giving up (default %(default)s)")
    return p


def run(args: argparse.Namespace) -> int:
    """Build the device, then serve until the scheduler stops or Ctrl-C."""
    from bench.errors import BenchError
    from bench.fleet.worker import configure

    if args.threads < 1:
        raise BenchError(f"--threads must be >= 1, got {args.threads}")
    if not args.scheduler.startswith(("tcp://", "tls://")):
        raise BenchError(f"--scheduler: give tcp://HOST:PORT or tls://HOST:PORT, got '{args.scheduler[:80]}'")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise BenchError("bench worker needs Dask distributed: pip install -e '.[fleet]'") from None
    from bench.fleet.serve import serve

    state = configure(args.device, threads=args.threads, gpu=args.gpu, label_suffix=args.label_suffix)
    return serve(args.scheduler, state, connect_timeout=args.connect_timeout)
