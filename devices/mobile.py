"""Mobile target: ExecuTorch with the XNNPACK delegate.

The model is exported (torch.export -> to_edge_transform_and_lower with XnnpackPartitioner ->
.pte) and its outputs are checked against eager fp32. Then either

- host mode (default): the .pte is timed through the ExecuTorch Python runtime on this
  machine. That is XNNPACK on the host CPU: on an aarch64 board it measures ARM, on an x86
  box it measures x86 and every label says "XNNPACK on host x86_64", never ARM; or
- adb mode: the .pte and a user-supplied `executor_runner` binary (built for the phone) are
  pushed with adb and the runner's own timing lines are parsed.

PyTorch Mobile's lite interpreter is deprecated and not used.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from devices.base import (Device, NumericsCheck, OptionAdder, Prepared, TargetText, UnsupportedCell,
                          fingerprint_text, first_tensor, relative_error)
from devices.errors import DeviceError
from devices.host import host_fingerprint, is_arm, is_arm_arch

NUMERICS_TOLERANCE = 1e-4  # max |pte - eager| / max |eager|
XNNPACK_BACKEND = "XnnpackBackend"
_RUNNER_TIMING = re.compile(r"Model executed successfully\s+(\d+)\s+time\(s\)\s+in\s+([0-9.eE+-]+)\s*ms")


def executorch_version() -> str | None:
    """Installed executorch version, or None when it is missing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("executorch")
    except PackageNotFoundError:
        return None


def export_pte(model: nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...], *, plan_io: bool = True) -> bytes:
    """Export `model` (eval, fp32) to an XNNPACK-delegated ExecuTorch program (.pte bytes).

    `example`: the input, or a tuple of inputs. `plan_io=False` leaves graph inputs and outputs out of
    the memory plan, so the runtime uses the caller's tensors in place instead of copying them into
    planned buffers on every call (the ceiling kernels, `devices.mobile_ceilings`)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
    from executorch.exir.passes import MemoryPlanningPass

    inputs = example if isinstance(example, tuple) else (example,)
    try:
        exported = torch.export.export(model.eval(), inputs)
    except Exception as exc:  # noqa: BLE001 - any export failure means this target cannot take the model
        raise UnsupportedCell(f"torch.export failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
    lowered = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    if plan_io:
        return lowered.to_executorch().buffer
    planning = MemoryPlanningPass(alloc_graph_input=False, alloc_graph_output=False)
    return lowered.to_executorch(ExecutorchBackendConfig(memory_planning_pass=planning)).buffer


def load_pte_method(pte: bytes):
    """Load the 'forward' method of a .pte through the ExecuTorch Python runtime."""
    from executorch.runtime import Runtime

    program = Runtime.get().load_program(pte)
    return program, program.load_method("forward")


def xnnpack_threads() -> int:
    """Current size of ExecuTorch's thread pool (used by XNNPACK); reads only."""
    from executorch.extension.pybindings import portable_lib

    return int(portable_lib._threadpool_get_thread_count())


_pool_resets = 0  # how many times this process resized ExecuTorch's thread pool (see set_xnnpack_threads)


def set_xnnpack_threads(threads: int | None) -> int:
    """Resize ExecuTorch's thread pool (used by XNNPACK) when `threads` is given; returns the size.

    A resize replaces the pool, and an XNNPACK method keeps the pool it was loaded with: a method
    loaded before a resize must not run after it (it would use the freed pool: heap corruption). So
    load programs after sizing the pool; `pool_resets()` tells a holder of a method when to reload.
    """
    global _pool_resets
    from executorch.extension.pybindings import portable_lib

    if threads is not None and int(threads) != portable_lib._threadpool_get_thread_count():
        portable_lib._unsafe_reset_threadpool(int(threads))
        _pool_resets += 1
    return int(portable_lib._threadpool_get_thread_count())


def pool_resets() -> int:
    """How many times this process has resized ExecuTorch's thread pool (`set_xnnpack_threads`)."""
    return _pool_resets


PLANNED_METHOD = ("ExecuTorch memory plan: sum of the .pte's memory-planned buffer sizes (execution plan "
                  "non_const_buffer_sizes); XNNPACK's own workspace and packed weights are not in it")
RSS_METHOD = ("RSS high-water delta of a fresh Python process (ExecuTorch runtime imported first) while it loads the "
              ".pte and runs it once (/proc/self/clear_refs + VmHWM): planned buffers, XNNPACK packed weights and "
              "workspace, pages touched; the memory-planned part alone is planned_mem_mb. A fresh process because "
              "the measuring one reuses memory it freed earlier (export) without its RSS rising")
# run by `fresh_process_rss_delta` in a new interpreter: argv = pte path, input shape as JSON
_RSS_PROBE = """
import json, sys
import torch
from executorch.runtime import Runtime
from devices.rss import rss_high_water_delta
rt = Runtime.get()
pte = open(sys.argv[1], "rb").read()
x = torch.randn(*json.loads(sys.argv[2]))
def go():
    program = rt.load_program(pte)
    method = program.load_method("forward")
    return program, method, method.execute([x])
delta, why = rss_high_water_delta(go)
print(json.dumps({"bytes": delta, "why": why}))
"""


def fresh_process_rss_delta(pte: bytes, shape: tuple[int, ...], timeout: float = 120) -> tuple[int | None, str]:
    """(RSS high-water delta in bytes of loading and running `pte` once in a fresh interpreter, "") or
    (None, why)."""
    import json
    import os
    import sys

    root = str(Path(__file__).resolve().parent.parent)  # so the child imports this checkout's `devices`
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pte"
        path.write_bytes(pte)
        try:
            proc = subprocess.run([sys.executable, "-c", _RSS_PROBE, str(path), json.dumps(list(shape))],
                                  capture_output=True, text=True, timeout=timeout, env=env)
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"RSS probe failed: {type(exc).__name__}"
    try:
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None, f"RSS probe failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1][:150]}"
    return doc["bytes"], doc["why"]


def planned_memory_bytes(pte: bytes) -> int:
    """Bytes of the memory-planned buffers of the program's first method (what the runtime allocates
    for non-constant tensors outside delegates), read from the .pte's execution plan."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    program = deserialize_pte_binary(pte)
    program = getattr(program, "program", program)  # PTEFile wraps the Program in newer releases
    return int(sum(program.execution_plan[0].non_const_buffer_sizes))


@dataclass(frozen=True)
class RunnerTiming:
    """One timing line of `executor_runner`: `executions` runs took `total_ms` in all."""

    executions: int
    total_ms: float

    @property
    def per_execution_ms(self) -> float:
        """Mean latency of one execution in ms."""
        return self.total_ms / self.executions


def parse_executor_runner_output(text: str) -> list[RunnerTiming]:
    """Timing lines ('Model executed successfully N time(s) in X ms.') of executor_runner's log.

    Raises ValueError when the text has none (e.g. a runner too old to print timings).
    """
    hits = [RunnerTiming(int(n), float(ms)) for n, ms in _RUNNER_TIMING.findall(text)]
    if not hits:
        raise ValueError("executor_runner output has no 'Model executed successfully N time(s) in X ms' line")
    return hits


@dataclass
class AdbRunner:
    """Runs a .pte on an Android device with a user-supplied `executor_runner` over adb."""

    runner_path: Path
    serial: str | None = None
    remote_dir: str = "/data/local/tmp/zoobench"
    executions_per_block: int = 10
    adb: str = "adb"
    _pushed_runner: bool = field(default=False, init=False)

    def _cmd(self, *args: str) -> list[str]:
        return [self.adb] + (["-s", self.serial] if self.serial else []) + list(args)

    def _run(self, *args: str, timeout: float = 600) -> str:
        proc = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"adb {' '.join(args[:2])} failed: {(proc.stderr or proc.stdout).strip()[:200]}")
        return proc.stdout

    def available(self) -> tuple[bool, str]:
        """adb on PATH, the runner binary present, one device answering."""
        if shutil.which(self.adb) is None:
            return False, f"'{self.adb}' not found on PATH (needed for the Android runner)"
        if not Path(self.runner_path).is_file():
            return False, f"executor_runner binary not found: {self.runner_path}"
        try:
            state = self._run("get-state", timeout=20).strip()
        except (RuntimeError, subprocess.SubprocessError) as exc:
            return False, f"no Android device reachable over adb ({exc})"
        return (state == "device", "" if state == "device" else f"adb device state is '{state}'")

    def device_properties(self) -> dict[str, Any]:
        """Model, ABI, SoC and Android release of the phone (getprop)."""
        props = {}
        for key, prop in (("android_model", "ro.product.model"), ("android_abi", "ro.product.cpu.abi"),
                          ("android_soc", "ro.soc.model"), ("android_release", "ro.build.version.release")):
            try:
                props[key] = self._run("shell", "getprop", prop, timeout=20).strip() or None
            except (RuntimeError, subprocess.SubprocessError):
                props[key] = None
        return props

    def push(self, pte: bytes, name: str) -> str:
        """Push the .pte (and the runner, once); returns the remote .pte path."""
        self._run("shell", "mkdir", "-p", self.remote_dir)
        if not self._pushed_runner:
            self._run("push", str(self.runner_path), f"{self.remote_dir}/executor_runner")
            self._run("shell", "chmod", "755", f"{self.remote_dir}/executor_runner")
            self._pushed_runner = True
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / f"{name}.pte"
            local.write_bytes(pte)
            remote = f"{self.remote_dir}/{name}.pte"
            self._run("push", str(local), remote)
        return remote

    def run_block(self, remote_pte: str, threads: int | None = None) -> float:
        """Run `executions_per_block` executions on the phone; mean ms per execution."""
        args = ["shell", f"{self.remote_dir}/executor_runner", f"--model_path={remote_pte}",
                f"--num_executions={self.executions_per_block}"]
        if threads is not None:
            args.append(f"--cpu_threads={threads}")
        timings = parse_executor_runner_output(self._run(*args))
        return timings[-1].per_execution_ms


@dataclass
class HostPte:
    """One loaded .pte and its input; calling it runs one inference on the host runtime."""

    program: Any  # held so the program outlives its method
    method: Any
    x: torch.Tensor
    pte: bytes = b""  # the program's bytes: the memory probe loads a fresh copy from them

    def __call__(self) -> Any:
        return self.method.execute([self.x])


CALIBRATION_SIDE = 256  # the calibration GEMM: 256x256 @ 256x256, ~0.3 ms on one x86 core (as bench.guard's)
CALIBRATION_REPS = 15  # executions per calibration reading
_calibration_pte: dict[str, bytes] = {}  # per process: the calibration program is exported once per run


def calibration_pte() -> bytes:
    """The calibration program: one fp32 GEMM lowered to XNNPACK, exported on first use and cached."""
    if "gemm" not in _calibration_pte:
        torch.manual_seed(0)
        gemm = nn.Linear(CALIBRATION_SIDE, CALIBRATION_SIDE, bias=False)
        _calibration_pte["gemm"] = export_pte(gemm, torch.randn(CALIBRATION_SIDE, CALIBRATION_SIDE))
    return _calibration_pte["gemm"]


def pte_calibration_kernel(threads: int | None, reps: int = CALIBRATION_REPS) -> Callable[[], float]:
    """A callable timing `reps` executions of the calibration .pte on the ExecuTorch runtime, in ms per
    execution (3 warm-up executions first: the first ones pay XNNPACK's packing and allocation).

    The program is (re)loaded after the pool has the run's size and whenever the pool was resized
    since it was loaded (a cell's prepare and cleanup resize it between guard readings): an XNNPACK
    method run on a replaced pool corrupts the heap (`bench run --device mobile --threads 1` crashed)."""
    x = torch.randn(CALIBRATION_SIDE, CALIBRATION_SIDE)
    loaded: dict[str, Any] = {}

    def run() -> float:
        set_xnnpack_threads(threads)  # the run's threads; a no-op when the pool already has them
        if loaded.get("pool") != pool_resets():
            loaded.clear()  # the old method goes before the new one is loaded
            loaded["program"], loaded["method"] = load_pte_method(calibration_pte())
            loaded["pool"] = pool_resets()
        method = loaded["method"]
        times = []
        for i in range(reps + 3):
            t0 = time.perf_counter_ns()
            method.execute([x])
            if i >= 3:
                times.append((time.perf_counter_ns() - t0) / 1e6)
        return sum(times) / len(times)

    return run


def self_timed(fn) -> float:
    """Timer for callables that report their own latency in ms (the adb runner's blocks)."""
    return float(fn())


class MobileDevice(Device):
    """ExecuTorch + XNNPACK, timed on the host runtime or on an Android phone via `adb`."""

    name = "mobile"
    title = "mobile (ExecuTorch XNNPACK)"

    # pool size before the first prepare since the last cleanup (a class default, so subclasses
    # need not call super().__init__()); cleanup puts it back
    _threads_before: int | None = None

    def __init__(self, adb_runner: AdbRunner | None = None) -> None:
        self.adb_runner = adb_runner

    @classmethod
    def label(cls, fp: dict[str, Any]) -> str:
        """The phone over adb, else 'XNNPACK on host|ARM <arch>: <cpu>': an x86 number never reads as ARM."""
        if fp.get("android_model"):
            return f"Android {fp['android_model']} ({fp.get('android_abi') or '?'}) via adb"
        arch = fp.get("arch") or "?"
        where = "ARM" if is_arm_arch(arch) else "host"
        return f"XNNPACK on {where} {arch}: {fp.get('cpu_model') or 'unknown CPU'}"

    @classmethod
    def provenance(cls, fp: dict[str, Any], arch: str | None = None, machine: str | None = None) -> TargetText:
        """Phone runs name the phone; host runs name the host CPU and say when it is not ARM."""
        base = super().provenance(fp, arch, machine)
        model = fingerprint_text(fp, "android_model")
        if model:
            abi = fingerprint_text(fp, "android_abi")
            phone = f"{model} ({abi})" if abi else model
            return TargetText(title=f"mobile target: ExecuTorch XNNPACK on Android {phone} via adb", hardware=phone,
                              is_arm=True, folder_arch=None)
        arch = base.folder_arch
        note = None if base.is_arm else ("XNNPACK kernels timed on this x86 host through the ExecuTorch runtime; "
                                         "these are not ARM latencies.")
        return TargetText(title=f"mobile target: ExecuTorch XNNPACK on {base.hardware or machine or cls.label(fp)} "
                                f"({arch})", hardware=base.hardware, is_arm=base.is_arm, folder_arch=arch, note=note)

    @classmethod
    def add_options(cls, parser: OptionAdder) -> None:
        """--adb-runner and --adb-serial."""
        parser.add_argument("--adb-runner", default=None,
                            help="mobile: path to an Android executor_runner binary; times on the phone over adb")
        parser.add_argument("--adb-serial", default=None, help="mobile: adb device serial (with --adb-runner)")

    @classmethod
    def from_options(cls, args: argparse.Namespace) -> MobileDevice:
        """Host mode, or adb mode with --adb-runner [--adb-serial]."""
        if args.adb_serial and not args.adb_runner:
            raise DeviceError("--adb-serial needs --adb-runner PATH (an executor_runner built for the phone)")
        if args.adb_runner:
            return cls(adb_runner=AdbRunner(Path(args.adb_runner), serial=args.adb_serial))
        return cls()

    def recorded_options(self) -> dict[str, Any]:
        """{'adb_runner': PATH} in adb mode, else {}."""
        return {"adb_runner": str(self.adb_runner.runner_path)} if self.adb_runner is not None else {}

    def notes(self, requested: str) -> list[str]:
        """Asked for 'arm' on a non-ARM host without a phone: say what will really be measured."""
        if requested.lower() == "arm" and self.adb_runner is None and not is_arm():
            return ["this host is not ARM; --device arm measures ExecuTorch XNNPACK on this host "
                    "and labels it as such (never as ARM)"]
        return []

    def available(self) -> tuple[bool, str]:
        """executorch importable with the XNNPACK backend registered (and adb reachable in adb mode)."""
        if executorch_version() is None:
            return False, ("executorch is not installed; `pip install -e '.[mobile]'` "
                           "(pins executorch 1.5.1, torchao 0.18)")
        try:
            from executorch.runtime import Runtime

            if not Runtime.get().backend_registry.is_available(XNNPACK_BACKEND):
                return False, "the installed executorch runtime has no XNNPACK backend"
        except Exception as exc:  # noqa: BLE001 - a broken install must still give one line
            return False, f"executorch runtime failed to load: {type(exc).__name__}: {exc}"
        if self.adb_runner is not None:
            return self.adb_runner.available()
        return True, ""

    def fingerprint(self, threads: int | None = None) -> dict[str, Any]:
        """Host facts plus ExecuTorch version, backend and where the .pte ran (reads only; `prepare` sizes
        the thread pool)."""
        fp = host_fingerprint()
        fp.update(device="mobile", backend="executorch xnnpack", executorch=executorch_version())
        if self.adb_runner is not None:
            fp.update(runtime="executor_runner over adb", **self.adb_runner.device_properties())
            fp["threads"] = threads
        else:
            fp.update(runtime="executorch python runtime on host", host_is_arm=is_arm(fp["arch"]),
                      threads=threads if threads is not None else xnnpack_threads())
        return fp

    def default_threads(self) -> int:
        """Current size of ExecuTorch's thread pool (the runner's own default in adb mode)."""
        return xnnpack_threads()

    def calibration_kernel(self, threads: int | None, dtype: str) -> Callable[[], float] | None:
        """Host mode: a one-GEMM XNNPACK .pte run through executorch.runtime, so the guard's yardstick
        shares the runtime and threadpool the cells use; adb mode: None (the host GEMM: the phone is
        not the host, so the host's load is what the guard can see)."""
        if self.adb_runner is not None:
            return None
        return pte_calibration_kernel(threads)

    def timer(self):
        """Host mode: perf_counter_ns around `execute`; adb mode: the runner's own timing."""
        if self.adb_runner is not None:
            return self_timed
        return super().timer()

    def cleanup(self) -> None:
        """Resize ExecuTorch's thread pool back to what it was before this cell's prepare (the pool
        is process-wide: a later cell, command or caller must not inherit a cell's size)."""
        if self._threads_before is not None:
            before, self._threads_before = self._threads_before, None
            set_xnnpack_threads(before)

    def prepare(self, model: nn.Module, example: torch.Tensor, *, dtype: str = "fp32", layout: str = "nchw",
                threads: int | None = None, compile: bool = False) -> Prepared:
        """Export to .pte, check numerics against eager, and return the timed callable; `threads`
        sizes ExecuTorch's thread pool until `cleanup`."""
        if dtype != "fp32":
            raise UnsupportedCell(f"mobile target exports fp32 only (asked {dtype})")
        if layout != "nchw":
            raise UnsupportedCell("mobile target takes NCHW inputs; XNNPACK chooses its internal layout itself")
        if compile:
            raise UnsupportedCell("--compile does not apply to the mobile target (the .pte is already compiled)")
        model = model.eval().float()
        x = example.float().contiguous()
        t0 = time.perf_counter()
        pte = export_pte(model, x)
        info: dict[str, Any] = {"export_s": round(time.perf_counter() - t0, 3), "pte_bytes": len(pte)}
        with torch.inference_mode():
            ref = first_tensor(model(x))
        if threads is not None and self._threads_before is None:
            self._threads_before = xnnpack_threads()
        info["threads"] = set_xnnpack_threads(threads)
        program, method = load_pte_method(pte)
        numerics = NumericsCheck(relative_error(first_tensor(method.execute([x])), ref), NUMERICS_TOLERANCE)
        if self.adb_runner is not None:
            runner = self.adb_runner
            remote = runner.push(pte, f"model_{hashlib.sha1(pte).hexdigest()[:12]}")
            return Prepared(run=lambda: runner.run_block(remote, threads), info=info, numerics=numerics)
        return Prepared(run=HostPte(program, method, x, pte), info=info, numerics=numerics)

    def peak_memory(self, run) -> dict[str, Any]:
        """The .pte's memory-planned buffers (`planned_mem_mb`) and the RSS high-water delta of a fresh
        process loading the program and running it once (`rss_hwm_delta_mb`, see `RSS_METHOD`);
        `peak_mem_mb` is the RSS delta where it can be measured, else the planned figure. MB = 2^20
        bytes. Host runtime only: over adb there is no probe yet ({})."""
        if not isinstance(run, HostPte) or not run.pte:
            return {}
        planned = planned_memory_bytes(run.pte)
        out: dict[str, Any] = {"planned_mem_mb": round(planned / 2**20, 3)}
        rss, why = fresh_process_rss_delta(run.pte, tuple(run.x.shape))
        if rss is None:
            out.update(peak_mem_mb=out["planned_mem_mb"], peak_mem_method=PLANNED_METHOD + f" ({why})")
        else:
            out.update(rss_hwm_delta_mb=round(rss / 2**20, 3), peak_mem_mb=round(rss / 2**20, 3),
                       peak_mem_method=RSS_METHOD)
        return out

    def ceiling_kernels(self, threads: int, dtype: str, **sizes: Any):
        """Host runtime: GEMM, dense 3x3 conv and elementwise add as XNNPACK programs
        (`devices.mobile_ceilings`), fp32 only; over adb: None (no probe on the phone yet)."""
        if self.adb_runner is not None:
            return None
        if dtype != "fp32":
            raise UnsupportedCell(f"the mobile target runs fp32 programs only (asked {dtype})")
        from devices.mobile_ceilings import pte_ceiling_kernels

        return pte_ceiling_kernels(threads, **sizes)

    def ceilings_method(self) -> str:
        """How the XNNPACK runtime's ceilings are measured (or why not, over adb)."""
        if self.adb_runner is not None:
            return "over adb no ceilings are measured yet (the kernels would need the phone's runner)"
        return ("ExecuTorch XNNPACK on the host runtime: 2048^3 GEMM (Linear) and 3x3 256-channel conv at 56x56 "
                "batch 4 (peak: the better), 256 MiB elementwise add (bandwidth), .pte cached on disk, best of 5 "
                "executions (perf_counter)")

    def nominal_peak(self, threads: int, dtype: str) -> tuple[float | None, str]:
        """Host runtime: XNNPACK runs on the host CPU, so its ISA peak (`devices.nominal_peak`); over adb
        none (the phone's cores are not read)."""
        if self.adb_runner is not None:
            return None, "phone over adb: no nominal figure"
        from devices.nominal_peak import nominal_peak

        return nominal_peak(threads, dtype)
