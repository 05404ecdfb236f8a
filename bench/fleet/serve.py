"""`bench worker`'s loop: a Dask worker with one thread and one resource (capacity 1) for its target."""
from __future__ import annotations

import asyncio
import os
import socket
import sys

from bench.errors import BenchError
from bench.fleet.worker import WorkerState


def listen_host(scheduler: str) -> str | None:
    """127.0.0.1 when the scheduler is on loopback (a local cluster never binds another address);
    None otherwise (Dask picks the interface that reaches the scheduler)."""
    host = scheduler.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return "127.0.0.1" if host in ("127.0.0.1", "localhost", "::1") else None


def serve(scheduler: str, state: WorkerState, *, connect_timeout: float = 10.0) -> int:
    """Run the worker until the scheduler goes away or Ctrl-C; BenchError (exit 2) when the
    scheduler cannot be reached within `connect_timeout` seconds."""
    import dask
    from distributed import Worker

    # The worker's own background work competes with the cell being timed: its statistical profiler
    # samples every thread's stack every 10 ms, holding the GIL while a Python-heavy eager model is
    # timed; the system monitor reads psutil twice a second. Off / slowed on a measuring host.
    dask.config.set({"distributed.worker.profile.enabled": False,
                     "distributed.admin.system-monitor.interval": "5s"})

    async def main() -> None:
        # nthreads=1: one task at a time in this process; resources={...: 1}: one cell per device on
        # the scheduler's side too. No nanny: a killed worker stays dead and its cells go elsewhere.
        worker = Worker(scheduler, nthreads=1, resources={state.resource: 1}, dashboard=False,
                        name=f"{state.resource}@{socket.gethostname()}:{os.getpid()}",
                        host=listen_host(scheduler), death_timeout=connect_timeout)
        try:
            await asyncio.wait_for(worker.start(), timeout=connect_timeout)
        except (asyncio.TimeoutError, OSError) as exc:
            raise BenchError(f"cannot reach the scheduler at {scheduler} within {connect_timeout:g} s "
                             f"({type(exc).__name__})") from None
        print(f"bench worker: {state.resource} serving {scheduler} (pid {os.getpid()})", file=sys.stderr, flush=True)
        await worker.finished()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return 0
    return 0
