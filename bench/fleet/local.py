"""A fleet on one machine: a Dask scheduler and N `bench worker` processes, all on 127.0.0.1.

For trying `bench run --cluster` on one host and for tests. The scheduler binds 127.0.0.1 on a free
port (port 0, address read back from its scheduler file); each worker is its own process (`python -m
bench worker`), without a nanny, so `kill -9` of one is a real lost worker. With `distinct=True` each
worker gets its own label suffix (`-w0`, `-w1`, ...), so N workers look like N targets; with
`distinct=False` they share one target (the fail-over case). `stop()` ends every process it started.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.errors import BenchError

LOOPBACK = "127.0.0.1"


class LocalFleet:
    """Start with `start()` (or `with LocalFleet(...) as fleet:`); `address` is the scheduler's."""

    def __init__(self, workers: int = 2, *, device: str = "cpu", threads: int = 1, distinct: bool = True,
                 allowed_failures: int = 3, start_timeout: float = 60.0) -> None:
        if workers < 0:
            raise BenchError(f"--workers must be >= 0, got {workers}")
        self.n_workers, self.device, self.threads, self.distinct = workers, device, threads, distinct
        self.allowed_failures, self.start_timeout = allowed_failures, start_timeout
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.address = ""
        self._tmp = tempfile.TemporaryDirectory(prefix="zoobench-fleet-")

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # Dask reschedules the tasks of a lost worker until this many workers died running them,
        # then reports KilledWorker (the driver stores the cell `lost`)
        env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = str(self.allowed_failures)
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start(self) -> "LocalFleet":
        """Start the scheduler, then the workers; return when every worker has registered."""
        sched_file = Path(self._tmp.name) / "scheduler.json"
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", LOOPBACK, "--port", "0",
             "--no-dashboard", "--no-show", "--scheduler-file", str(sched_file)],
            env=self._env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while not sched_file.exists() or not sched_file.read_text().strip():
            self._check_alive(self.scheduler, "scheduler", deadline)
        self.address = json.loads(sched_file.read_text())["address"]
        for i in range(self.n_workers):
            self.add_worker(f"-w{i}" if self.distinct else "")
        self.wait_for_workers(self.n_workers, deadline)
        return self

    def add_worker(self, label_suffix: str = "") -> subprocess.Popen:
        """Start one more `bench worker` process on this fleet's scheduler."""
        cmd = [sys.executable, "-m", "bench", "worker", "--scheduler", self.address, "--device", self.device,
               "--threads", str(self.threads)]
        if label_suffix:
            cmd.append(f"--label-suffix={label_suffix}")  # "=": a suffix like "-w0" is not an option
        proc = subprocess.Popen(cmd, env=self._env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        self.workers.append(proc)
        return proc

    def wait_for_workers(self, n: int, deadline: float) -> None:
        """Block until the scheduler has `n` workers (BenchError when a process dies or time runs out)."""
        from distributed import Client

        with Client(self.address, timeout=10) as client:
            while len(client.scheduler_info(n_workers=-1)["workers"]) < n:
                for proc in self.workers:
                    self._check_alive(proc, "worker", deadline)

    def _check_alive(self, proc: subprocess.Popen, what: str, deadline: float) -> None:
        if proc.poll() is not None:
            self.stop()
            raise BenchError(f"local fleet: the {what} exited with status {proc.returncode} while starting")
        if time.monotonic() > deadline:
            self.stop()
            raise BenchError(f"local fleet: the {what} did not start within {self.start_timeout:g} s")
        time.sleep(0.1)

    def stop(self) -> None:
        """Stop the workers, then the scheduler (SIGTERM, then SIGKILL after 5 s); idempotent."""
        for proc in [*self.workers, *([self.scheduler] if self.scheduler else [])]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*self.workers, *([self.scheduler] if self.scheduler else [])]:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._tmp.cleanup()

    def __enter__(self) -> "LocalFleet":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
