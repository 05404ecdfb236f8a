"""The contention guard: is the machine measuring at its quiet speed right now?

A fixed calibration kernel (a small GEMM at the run's threads and dtype; on CUDA a small GPU
GEMM) is timed at the start of a run (its baseline) and around every cell or group, and the
1-minute load average and the process's CPU share are read alongside (`bench.load`). A
cell is *contended* when, before or after it was measured,

- the calibration took more than `tolerance` longer than the baseline (the kernel never
  changes, so a slower kernel means the machine, not the code, got slower), or
- the load average, less the run's own threads, exceeds `max_load_per_core` per logical core, or
- (host targets) the process got less than `min_cpu_share` of the CPU time its threads ask for
  while the cell was measured (it waited for a core).

A contended cell is paused (`pause_s`) and measured again, at most `retries` times; if it is
still contended it is stored with `contended: true` and the reasons (result `extra`). A
calibration faster than the baseline by more than the tolerance means the baseline itself was
measured under contention: the baseline is moved down to it (noted in the series). Every
reading is kept (`Guard.series`) and stored per run (`bench.guard_store`). See docs/contention.md.

Everything that touches the machine (kernel, clock, sleep, load) is injectable for tests.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any, Callable, Generic, TypeVar

from bench.load import load_average_1m

T = TypeVar("T")

TOLERANCE = 0.15  # least calibration drift that flags a cell (raised to the machine's own quiet spread, below)
MAX_TOLERANCE = 0.5  # the raised tolerance never hides a 2x slow-down (two hogs time-sharing a core)
SPREAD_FACTOR = 1.5  # tolerance = SPREAD_FACTOR x the quiet spread of the baseline readings, within the bounds
CHECK_BLOCKS = 5  # a reading is the median of this many kernel blocks: one block can fall in a hiccup
BASELINE_READINGS = 8  # the baseline is the median of this many readings ...
BASELINE_GAP_S = 0.25  # ... this far apart: a VM's speed switches between states on a ~1 s scale
RETRIES = 2
MAX_LOAD_PER_CORE = 0.5  # other runnable processes per logical core beyond the run's own threads
MIN_CPU_SHARE = 0.8  # of min(threads, cores): below it the process waited for a core
PAUSE_S = 5.0  # let a burst of other work pass before measuring again
CALIBRATION_SIZE = 256  # GEMM side: ~0.3 ms on one x86 core; a block of 15 spans a few scheduler slices
CALIBRATION_REPS = 15


@dataclass(frozen=True)
class GuardSettings:
    """The guard's rule (stored with the run's settings)."""

    enabled: bool = True
    tolerance: float = TOLERANCE
    retries: int = RETRIES
    max_load_per_core: float = MAX_LOAD_PER_CORE
    min_cpu_share: float = MIN_CPU_SHARE
    pause_s: float = PAUSE_S
    check_blocks: int = CHECK_BLOCKS
    baseline_readings: int = BASELINE_READINGS
    baseline_gap_s: float = BASELINE_GAP_S
    max_tolerance: float = MAX_TOLERANCE

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict."""
        return asdict(self)

    def rule(self) -> str:
        """The rule in one line (reports, docs)."""
        return (f"calibration GEMM (median of {self.check_blocks} blocks) slower than the run's baseline (median of "
                f"{self.baseline_readings} readings {self.baseline_gap_s:g} s apart) by more than {self.tolerance:.0%}, "
                f"or {SPREAD_FACTOR:g}x the baseline's quiet spread up to {self.max_tolerance:.0%}, or 1-min load beyond "
                f"the run's threads > {self.max_load_per_core:g} per core, or CPU share < {self.min_cpu_share:.0%} "
                f"of the threads'; {self.retries} retries after {self.pause_s:g} s pauses")


@dataclass
class Reading:
    """One guard check: the calibration time, the machine's load, and why it counts as contended."""

    label: str
    at_s: float
    key: str  # calibration kernel (threads, dtype) it was compared under
    calib_ms: float | None
    baseline_ms: float | None
    load_avg_1m: float | None
    cpu_share: float | None = None
    reasons: list[str] = field(default_factory=list)
    note: str = ""
    tolerance: float | None = None  # the drift this check was judged against (the run's effective tolerance)

    @property
    def contended(self) -> bool:
        """True when any rule fired."""
        return bool(self.reasons)

    @property
    def drift(self) -> float | None:
        """Calibration time relative to the baseline, minus 1 (0.2 = 20 % slower)."""
        if self.calib_ms is None or not self.baseline_ms:
            return None
        return self.calib_ms / self.baseline_ms - 1.0

    def to_dict(self) -> dict[str, Any]:
        """As stored: the fields plus `drift` and `contended`."""
        d = asdict(self)
        d.update(drift=None if self.drift is None else round(self.drift, 4), contended=self.contended)
        return d


@dataclass
class Guarded(Generic[T]):
    """What `Guard.run` returns: the last attempt's value and how the guard judged it."""

    value: T
    attempts: int
    contended: bool
    reasons: list[str]
    readings: list[Reading]

    def fields(self) -> dict[str, Any]:
        """Result `extra` fields: contended flag, attempts, reasons, calibration drift before/after."""
        drifts = [r.drift for r in self.readings[-2:]]
        return {"contended": self.contended, "guard_attempts": self.attempts, "guard_reasons": self.reasons,
                "calib_drift": [None if d is None else round(d, 4) for d in drifts]}


KernelFactory = Callable[[int | None, str], Callable[[], float]]


def gemm_kernel(threads: int | None, dtype: str = "fp32", device: str = "cpu") -> Callable[[], float]:
    """The calibration kernel: a callable that times a fixed block of small GEMMs, in ms per GEMM.

    The mean over the block, not the median: a median of sub-millisecond calls is what a
    time-shared core still delivers between preemptions (measured: +15 % under two CPU hogs on 2
    cores, while the model's p50 went 5x), whereas the block's wall time includes the waits.

    On the host it runs at `threads` intra-op threads (restored afterwards); on "cuda" (or "cuda:N")
    it is timed with that GPU's synchronize around each call.
    """
    import torch

    torch_dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}.get(dtype, torch.float32)
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(CALIBRATION_SIZE, CALIBRATION_SIZE, generator=gen).to(device=device, dtype=torch_dtype)
    b = torch.randn(CALIBRATION_SIZE, CALIBRATION_SIZE, generator=gen).to(device=device, dtype=torch_dtype)
    on_gpu = str(device).startswith("cuda")
    sync = (lambda: torch.cuda.synchronize(device)) if on_gpu else (lambda: None)

    def run() -> float:
        previous = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            times = []
            with torch.inference_mode():
                for i in range(CALIBRATION_REPS + 3):  # 3 warm-up calls: first calls pay allocation
                    sync()
                    t0 = time.perf_counter_ns()
                    torch.mm(a, b)
                    sync()
                    if i >= 3:
                        times.append((time.perf_counter_ns() - t0) / 1e6)
            return sum(times) / len(times)
        finally:
            torch.set_num_threads(previous)

    return run


def kernel_factory_for(target: str, device: Any = None, index: int | None = None) -> KernelFactory:
    """The calibration kernel for a target: the device's own (`Device.calibration_kernel`, e.g. a .pte on
    ExecuTorch for mobile) when it provides one, else a GPU GEMM for cuda when a GPU is present (on GPU
    `index` when given: a fleet worker's --gpu), else the host GEMM."""
    def factory(threads: int | None, dtype: str) -> Callable[[], float]:
        own = getattr(device, "calibration_kernel", None)
        kernel = own(threads, dtype) if own is not None else None
        if kernel is not None:
            return kernel
        if target == "cuda":
            import torch

            if torch.cuda.is_available():
                return gemm_kernel(None, dtype, "cuda" if index is None else f"cuda:{index}")
        return gemm_kernel(threads, dtype)

    return factory


def baseline_rule(readings: list[float], settings: GuardSettings = GuardSettings()) -> tuple[float, float, float]:
    """(baseline, quiet spread, tolerance) from the baseline's readings: the median; the nearest-rank
    90th percentile over the median, minus 1; `SPREAD_FACTOR` x that spread, at least
    `settings.tolerance`, at most `settings.max_tolerance`."""
    base = median(readings)
    ranked = sorted(readings)
    spread = ranked[min(len(ranked) - 1, int(round(0.9 * (len(ranked) - 1))))] / base - 1 if base > 0 else 0.0
    return base, spread, min(settings.max_tolerance, max(settings.tolerance, SPREAD_FACTOR * spread))


class Guard:
    """Checks the machine around each cell or group and retries contended ones (module docstring)."""

    def __init__(self, settings: GuardSettings, kernels: KernelFactory, *, host_bound: bool = True,
                 cores: int | None = None, load: Callable[[], float | None] = load_average_1m,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 on_reading: Callable[[Reading], None] | None = None) -> None:
        self.settings, self._kernels, self.host_bound = settings, kernels, host_bound
        self.cores = max(1, cores or os.cpu_count() or 1)
        self._load, self._clock, self._sleep, self._on_reading = load, clock, sleep, on_reading
        self._t0 = clock()
        self._calibrations: dict[str, Callable[[], float]] = {}
        self.baselines: dict[str, float] = {}
        self.tolerances: dict[str, float] = {}  # effective tolerance per kernel key (see `baseline`)
        self.series: list[Reading] = []

    @staticmethod
    def _key(threads: int | None, dtype: str) -> str:
        return f"t{threads or 'default'} {dtype}"

    def _record(self, reading: Reading) -> Reading:
        self.series.append(reading)
        if self._on_reading is not None:
            self._on_reading(reading)
        return reading

    def _reading(self, key: str) -> float:
        """One calibration reading: the median of `check_blocks` kernel blocks (robust to a hiccup in one)."""
        kernel = self._calibrations[key]
        return median(kernel() for _ in range(max(1, self.settings.check_blocks)))

    def baseline(self, threads: int | None, dtype: str = "fp32") -> float:
        """The baseline calibration time for (threads, dtype): measured on first use, then kept.

        The median of `baseline_readings` readings `baseline_gap_s` apart: the machine's typical speed,
        not one lucky moment. Their spread above the median (90th percentile / median - 1) sets this
        key's tolerance: `SPREAD_FACTOR` x spread, at least `tolerance`, at most `max_tolerance`.
        """
        key = self._key(threads, dtype)
        if key not in self.baselines:
            s = self.settings
            self._calibrations.setdefault(key, self._kernels(threads, dtype))
            readings = []
            for i in range(max(1, s.baseline_readings)):
                if i and s.baseline_gap_s > 0:
                    self._sleep(s.baseline_gap_s)
                readings.append(self._reading(key))
            base, spread, tol = baseline_rule(readings, s)
            self.baselines[key], self.tolerances[key] = base, tol
            reading = Reading("baseline", round(self._clock() - self._t0, 3), key, round(base, 5), round(base, 5),
                              self._load(), tolerance=round(tol, 4),
                              note=(f"{len(readings)} readings {min(readings):.4g}-{max(readings):.4g} ms, quiet spread "
                                    f"{spread:+.1%}: tolerance {tol:.0%}"))
            reading.reasons = self._load_reasons(reading.load_avg_1m, threads)
            self._record(reading)
        return self.baselines[key]

    def _load_reasons(self, load: float | None, threads: int | None) -> list[str]:
        if load is None:
            return []
        others = load - (threads or 1)  # the run's own runnable threads count in the load average
        if others / self.cores > self.settings.max_load_per_core:
            return [f"load {load:.2f} on {self.cores} cores"]
        return []

    def check(self, label: str, threads: int | None, dtype: str = "fp32", cpu_share: float | None = None) -> Reading:
        """Time the calibration kernel and read the load now; the reading says why it is contended, if it is."""
        base = self.baseline(threads, dtype)
        key = self._key(threads, dtype)
        calib = self._reading(key)
        tol = self.tolerances[key]
        r = Reading(label, round(self._clock() - self._t0, 3), key, round(calib, 5), round(base, 5), self._load(),
                    cpu_share, tolerance=round(tol, 4))
        if calib > base * (1 + tol):
            r.reasons.append(f"calibration {calib / base - 1:+.0%} vs baseline")
        elif calib < base * (1 - tol):
            # the baseline was measured under contention: the quiet speed is this one
            self.baselines[key] = calib
            r.note = f"baseline moved from {base:.4g} to {calib:.4g} ms"
        r.reasons += self._load_reasons(r.load_avg_1m, threads)
        if self.host_bound and cpu_share is not None:
            want = min(threads or 1, self.cores) * self.settings.min_cpu_share
            if cpu_share < want:
                r.reasons.append(f"CPU share {cpu_share:.2f} < {want:.2f}")
        return self._record(r)

    def run(self, label: str, measure: Callable[[], tuple[T, float | None]], threads: int | None,
            dtype: str = "fp32") -> Guarded[T]:
        """Measure (`measure()` returns (value, CPU share or None)) under the guard, retrying while contended.

        Before each attempt the machine is checked; a contended check pauses and checks again
        (counting as an attempt) without measuring, except on the last attempt, which always
        measures. After measuring it is checked again; a clean before-and-after check returns at
        once. After `retries` retries the last value is returned flagged contended.
        """
        s = self.settings
        readings: list[Reading] = []
        value: Any = None
        measured = False
        reasons: list[str] = []
        for attempt in range(1, s.retries + 2):
            last = attempt == s.retries + 1
            before = self.check(f"{label} before #{attempt}", threads, dtype)
            readings.append(before)
            if before.contended and not last:
                self._sleep(s.pause_s)
                continue
            value, share = measure()
            measured = True
            after = self.check(f"{label} after #{attempt}", threads, dtype, share)
            readings.append(after)
            reasons = before.reasons + after.reasons
            if not reasons:
                return Guarded(value, attempt, False, [], readings)
            if not last:
                self._sleep(s.pause_s)
        assert measured  # the last attempt always measures
        return Guarded(value, s.retries + 1, True, list(dict.fromkeys(reasons)), readings)


def series_line(readings: list[dict[str, Any]]) -> str:
    """One provenance line summarising a run's calibration series ("" when there is none)."""
    calibs = [r["calib_ms"] for r in readings if r.get("calib_ms") is not None]
    if not calibs:
        return ""
    drifts = [r["drift"] for r in readings if r.get("drift") is not None]
    loads = [r["load_avg_1m"] for r in readings if r.get("load_avg_1m") is not None]
    flagged = sum(1 for r in readings if r.get("contended"))
    parts = [f"calibration GEMM {min(calibs):.4g}-{max(calibs):.4g} ms over {len(calibs)} checks"]
    if drifts:
        parts.append(f"drift {min(drifts):+.1%} to {max(drifts):+.1%}")
    if loads:
        parts.append(f"1-min load {min(loads):.2f}-{max(loads):.2f}")
    parts.append(f"{flagged} contended check(s)")
    return "; ".join(parts)
