"""`bench cluster local`: a scheduler and N workers on 127.0.0.1, for trying a fleet on one machine."""
from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench cluster`."""
    p = sub.add_parser("cluster", help="start a local fleet (scheduler + N workers on 127.0.0.1) for bench run --cluster",
                       description="Start a Dask scheduler and N `bench worker` processes bound to 127.0.0.1 on free "
                                   "ports, each with a distinct target label, and print the scheduler address; "
                                   "Ctrl-C stops them all. See docs/fleet.md for real fleets.")
    p.add_argument("mode", choices=["local"], help="local: everything on this machine, loopback only")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default %(default)s)")
    p.add_argument("--device", default="cpu", help="the device every worker serves (default %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker (default %(default)s)")
    p.add_argument("--same-target", action="store_true",
                   help="one shared target label for all workers (fail-over) instead of one target per worker")
    return p


def run(args: argparse.Namespace) -> int:
    """Start the fleet, print its address, wait for Ctrl-C / SIGTERM, stop it."""
    import signal
    import sys
    import time

    from bench.errors import BenchError

    if args.workers < 1:
        raise BenchError(f"--workers must be >= 1, got {args.workers}")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise BenchError("bench cluster needs Dask distributed: pip install -e '.[fleet]'") from None
    from bench.fleet.local import LocalFleet

    fleet = LocalFleet(args.workers, device=args.device, threads=args.threads, distinct=not args.same_target)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        fleet.start()
        print(f"scheduler {fleet.address}  workers {args.workers}  (Ctrl-C stops them)", flush=True)
        print(f"try: bench run --cluster {fleet.address} --targets '{args.device}:*' --models resnet20_cifar",
              file=sys.stderr, flush=True)
        while all(p.poll() is None for p in [fleet.scheduler, *fleet.workers]):
            time.sleep(0.5)
        raise BenchError("local fleet: a process of the fleet exited; stopped the rest")
    except KeyboardInterrupt:
        return 0
    finally:
        fleet.stop()
