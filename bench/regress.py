"""`bench regress`: gate latency against a baseline git revision on one (shared) machine.

Comparing today's run with a run stored last week mixes the code change with everything
else that changed on a shared CI runner (neighbours, clock, thermal state). Even two
`bench run` processes started one after the other see different machines: on a loaded
2-core box, identical code measured in back-to-back processes differed by -61 % .. +144 %
(`benchmarks/aa_false_alarms.py --mode processes`). So both revisions are measured at the
same time, in alternating short bursts:

1. REF is checked out with `git worktree add --detach` into a temporary directory (the
   working tree is never touched; uncommitted changes in it are what NEW measures).
2. Each round starts one worker process per revision (`bench/regress_worker.py`, run in
   that revision's tree so that `zoo`, `devices` and `bench` are the revision's code).
   For every cell both workers build and prepare the model, warm up in alternation, then
   take bursts of calls (about `burst_ms` each) in ABBA order until the time cap. Load
   changes on the scale of a burst or longer hit both revisions alike. Both workers are
   pinned to the same CPUs (`shared_cpus`), so neither gets a quieter core for a round.
3. Every round is stored as one run per revision in `OUT/base.sqlite` / `OUT/new.sqlite`
   (samples, stats, fingerprints as each revision reports them); fresh processes per round
   average over allocator and memory-layout luck.
4. The rounds of each revision are pooled per cell and compared with `bench.compare`
   (ratio of medians, bootstrap CI, Mann-Whitney U, threshold); per-round changes are kept
   as evidence of consistency.
5. Workers stop and the worktree is removed, also on failure or Ctrl-C.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import median
from typing import IO, Any, Callable, Iterator, Protocol, Sequence

from bench.cell import Cell
from bench.comparison import Comparison, compare_runs
from bench.runs import RunData, all_runs_in_store, pool_runs
from bench.thresholds import Thresholds
from bench.errors import BenchError
from bench.fingerprint import REPO_ROOT

BASE, NEW = "base", "new"
WORKER_PATH = Path(__file__).resolve().with_name("regress_worker.py")
# Runs the worker file of *this* tree by path; the revision's tree is first on sys.path ('' = cwd).
_WORKER_BOOT = "import runpy; runpy.run_path({path!r}, run_name='__zoobench_regress_worker__')"


@dataclass(frozen=True)
class Revision:
    """One side of the comparison: a source tree and what it is."""

    name: str  # BASE or NEW
    ref: str  # what the user named ("HEAD~1", "working tree")
    root: Path
    commit: str | None = None


RegressCell = Cell  # the cell type of `bench regress` is the shared one (bench.cell); old name kept


def prepare_request(cell: Cell, input_size: str | None = None) -> dict[str, Any]:
    """The worker's prepare request for `cell` (the protocol of bench/regress_worker.py).

    `input_size` ("CxHxW") goes with model sources (`PATH.py:NAME` needs it), which each worker
    resolves in its own revision's tree."""
    req = {"cmd": "prepare", **cell.to_dict()}
    if input_size:
        req["input_size"] = input_size
    return req


def store_cell(cell: Cell, threads: int | None) -> Cell:
    """The cell as the result store keys it: with the threads the worker actually used."""
    return replace(cell, threads=threads)


@dataclass(frozen=True)
class RegressSettings:
    """What both revisions measure, and how long."""

    models: tuple[str, ...] = ("resnet20_cifar",)
    device: str = "cpu"
    rounds: int = 3
    batches: tuple[int, ...] = (1,)
    threads: int | None = None
    max_time_s: float = 4.0  # sampling per cell per round, both revisions together
    warmup_max_time_s: float = 2.0  # per cell per round, both together
    warmup_cap: int = 50  # warm-up calls per revision at most
    burst_ms: float = 20.0  # calls per turn ~ this long, so turns alternate many times a second
    min_samples: int = 20  # per revision per cell per round, whatever the time cap
    pin: bool = True  # both workers on the same CPU set (see `shared_cpus`)
    input_size: str | None = None  # for model sources (timm:, tv:, PATH.py:NAME, PATH.pt2), as --input-size

    def worker_cpus(self) -> set[int] | None:
        """The CPUs both workers are pinned to, or None (not pinning / not supported here)."""
        return shared_cpus(self.threads) if self.pin else None

    def cells(self) -> list[Cell]:
        """Every (model, batch) cell, model-major."""
        return [Cell(model=m, batch=b, threads=self.threads) for m in self.models for b in self.batches]

    def to_dict(self) -> dict[str, Any]:
        """Stored as each run's settings."""
        return {"regress": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}}


def shared_cpus(threads: int | None) -> set[int] | None:
    """The last `threads` CPUs this process may use (all of them if None); None where affinity is unsupported.

    Both workers are pinned to the same CPUs. They never run at once (turns alternate), so
    they do not compete; pinned apart, the scheduler's sticky placement would put one
    revision next to a busy neighbour and the other on an idle core for a whole round.
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    n = len(cpus) if threads is None else max(1, min(threads, len(cpus)))
    return set(cpus[-n:])


class Worker(Protocol):
    """What the coordinator needs from a measuring process (real or fake)."""

    fingerprint: dict[str, Any]

    def request(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return the reply."""

    def close(self) -> None:
        """Stop the worker."""


Spawn = Callable[[Revision, RegressSettings], Worker]


@dataclass
class CellSamples:
    """One revision's outcome for one cell in one round."""

    status: str = "ok"
    message: str = ""
    impl: str | None = None
    samples_ms: list[float] = field(default_factory=list)
    warmup_ms: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # the contention guard's fields (bench.guard), if on


@dataclass
class RegressResult:
    """The comparison plus the per-round evidence and where the raw data lies."""

    comparison: Comparison
    round_changes: dict[Cell, list[float | None]]  # cell -> per-round ratio NEW/BASE of medians
    dbs: dict[str, Path]
    revisions: dict[str, Revision]
    seconds: float


# -- git ------------------------------------------------------------------------------------------

def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=300)
    except FileNotFoundError:
        raise BenchError("git is not installed; `bench regress` needs git") from None
    if check and proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise BenchError(f"git {' '.join(args[:2])} failed: {msg}")
    return proc


def resolve_ref(ref: str, repo: Path = REPO_ROOT) -> str:
    """Full commit sha of `ref` in `repo`; BenchError when it names no commit."""
    if not ref or ref.startswith("-"):
        raise BenchError(f"--baseline: '{ref}' is not a git revision")
    if _git(repo, "rev-parse", "--is-inside-work-tree", check=False).returncode != 0:
        raise BenchError(f"{repo} is not a git checkout; `bench regress` needs the project's git history")
    proc = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise BenchError(f"--baseline: unknown git revision '{ref}' in {repo}")
    return proc.stdout.strip()


@contextmanager
def baseline_worktree(ref: str, repo: Path = REPO_ROOT) -> Iterator[Revision]:
    """Check `ref` out in a temporary detached worktree; removed again on exit (also on errors)."""
    sha = resolve_ref(ref, repo)
    tmp = Path(tempfile.mkdtemp(prefix="zoobench-baseline-"))
    tree = tmp / "tree"
    try:
        _git(repo, "worktree", "add", "--detach", "--quiet", str(tree), sha)
        yield Revision(BASE, ref, tree, sha)
    finally:
        if tree.exists():
            _git(repo, "worktree", "remove", "--force", str(tree), check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        _git(repo, "worktree", "prune", check=False)  # forget the entry even if removal failed half-way


# -- worker processes -------------------------------------------------------------------------------

class WorkerProcess:
    """A `regress_worker` process running `rev`'s code; requests and replies are JSON lines."""

    def __init__(self, rev: Revision, settings: RegressSettings, python: str = sys.executable,
                 boot: str | None = None) -> None:
        """Start the worker; `boot` replaces the Python code that launches it (test harnesses wrap it)."""
        self.rev = rev
        self._stderr: IO[str] = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: it cannot fill up and block
        rest = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": str(rev.root) + (os.pathsep + rest if rest else "")}
        argv = [python, "-c", boot or _WORKER_BOOT.format(path=str(WORKER_PATH)), settings.device,
                "-" if settings.threads is None else str(settings.threads)]
        self.proc = subprocess.Popen(argv, cwd=rev.root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, bufsize=1)
        cpus = settings.worker_cpus()
        if cpus:
            os.sched_setaffinity(self.proc.pid, cpus)  # before it imports torch, so its threads inherit it
        hello = self._read()
        if not hello.get("ready"):
            self.close()
            raise BenchError(f"{rev.name} ({rev.ref}) worker failed to start: {hello.get('error')}")
        self.fingerprint: dict[str, Any] = hello["fingerprint"]

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().strip().splitlines() if ln.strip()]
        return lines[-1] if lines else "(no output)"

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            code = self.proc.wait(timeout=30)
            raise BenchError(f"{self.rev.name} ({self.rev.ref}) worker exited with {code}: {self._stderr_tail()}")
        return json.loads(line)

    def request(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Send one request, wait for its reply."""
        try:
            self.proc.stdin.write(json.dumps(obj) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.proc.wait(timeout=30)
            raise BenchError(f"{self.rev.name} ({self.rev.ref}) worker died: {self._stderr_tail()}") from None
        return self._read()

    def close(self) -> None:
        """Ask the worker to quit; kill it if it does not."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()


# -- one round ---------------------------------------------------------------------------------------

def turn_order(turn: int) -> tuple[str, str]:
    """ABBA: BASE first on even turns, NEW first on odd ones, so neither always goes first."""
    return (BASE, NEW) if turn % 2 == 0 else (NEW, BASE)


def _warm_up(workers: dict[str, Worker], settings: RegressSettings, out: dict[str, CellSamples],
             clock: Callable[[], float]) -> None:
    from bench.timing import SteadyDetector

    detectors = {name: SteadyDetector() for name in workers}
    steady = {name: False for name in workers}
    start, turn = clock(), 0
    while not all(steady.values()) and turn < settings.warmup_cap and clock() - start < settings.warmup_max_time_s:
        for name in turn_order(turn):
            (ms,) = workers[name].request({"cmd": "run", "n": 1})["ms"]
            out[name].warmup_ms.append(ms)
            steady[name] = detectors[name].add(ms) or steady[name]
        turn += 1


def measure_cell(workers: dict[str, Worker], cell: Cell, settings: RegressSettings,
                 clock: Callable[[], float] = time.perf_counter) -> dict[str, CellSamples]:
    """Prepare `cell` in both workers, warm both up, then sample in alternating bursts."""
    out = {name: CellSamples() for name in workers}
    for name, worker in workers.items():
        reply = worker.request(prepare_request(cell, settings.input_size))
        if not reply.get("ok"):
            out[name].status, out[name].message = reply.get("status", "error"), reply.get("message", "")
        out[name].impl = reply.get("impl")
    if any(s.status != "ok" for s in out.values()):
        return out
    _warm_up(workers, settings, out, clock)
    typical = median(out[BASE].warmup_ms[-3:] + out[NEW].warmup_ms[-3:])
    burst = max(1, int(settings.burst_ms / max(typical, 1e-3)))
    start, turn = clock(), 0
    while clock() - start < settings.max_time_s or min(len(s.samples_ms) for s in out.values()) < settings.min_samples:
        for name in turn_order(turn):
            out[name].samples_ms.extend(workers[name].request({"cmd": "run", "n": burst})["ms"])
        turn += 1
    return out


def _store_round(db: Path, fingerprint: dict[str, Any], settings: RegressSettings, rev: Revision,
                 results: list[tuple[Cell, CellSamples]], readings: Sequence[Any] = ()) -> None:
    """Store one revision's round as a run; `readings` (bench.guard.Reading) become its calibration series."""
    from bench import guard_store
    from bench.stats import summarize
    from bench.store import ResultStore

    with ResultStore(db) as store:
        run_id = store.start_run(settings.device, fingerprint, settings.to_dict(),
                                 git_commit=fingerprint.get("git_commit") or rev.commit)
        for cell, s in results:
            store.add_result(run_id, store_cell(cell, fingerprint.get("threads", cell.threads)),
                             summarize(s.samples_ms) if s.samples_ms else None, s.samples_ms,
                             status=s.status, message=s.message, impl=s.impl, warmup_iters=len(s.warmup_ms),
                             stop_reason="regress", extra=dict(s.extra) or None)
        guard_store.add_series(store, run_id, readings)
        store.finish_run(run_id)


def guarded_measure_cell(workers: dict[str, Worker], cell: Cell, settings: RegressSettings,
                         guard: Any = None) -> dict[str, CellSamples]:
    """`measure_cell`, with `guard` (bench.guard.Guard) checked before and after and the cell re-measured
    while contended; both sides carry the guard's fields (`contended`, reasons, drift) in `extra`.

    The guard runs in this (driver) process: the workers are busy only while a cell is measured, so
    the calibration GEMM between cells sees the machine, not the workers."""
    if guard is None:
        return measure_cell(workers, cell, settings)
    guarded = guard.run(f"{cell.model} b{cell.batch}", lambda: (measure_cell(workers, cell, settings), None),
                        settings.threads)
    for side in guarded.value.values():
        side.extra.update(guarded.fields())
    return guarded.value


def run_round(revisions: dict[str, Revision], settings: RegressSettings, dbs: dict[str, Path], spawn: Spawn,
              log: Callable[[str], None], label: str = "", guard: Any = None) -> None:
    """Start one worker per revision, measure every cell in alternating bursts (guarded when `guard` is
    given), store one run per revision."""
    with ExitStack() as stack:
        workers: dict[str, Worker] = {}
        for name in (BASE, NEW):
            workers[name] = spawn(revisions[name], settings)
            stack.callback(workers[name].close)
        results: dict[str, list[tuple[Cell, CellSamples]]] = {BASE: [], NEW: []}
        first = len(guard.series) if guard is not None else 0  # this round's readings start here
        for cell in settings.cells():
            measured = guarded_measure_cell(workers, cell, settings, guard)
            for name in (BASE, NEW):
                results[name].append((cell, measured[name]))
            flag = " CONTENDED" if measured[BASE].extra.get("contended") else ""
            log(f"{label}{_cell_summary(cell, measured)}{flag}")
        # one guard (in this driver) checked the machine for both revisions' cells, so both runs of the
        # round keep the same series: each database then shows the conditions its numbers were taken in
        readings = guard.series[first:] if guard is not None else []
        for name in (BASE, NEW):
            _store_round(dbs[name], workers[name].fingerprint, settings, revisions[name], results[name], readings)


def _cell_summary(cell: Cell, measured: dict[str, CellSamples]) -> str:
    b, n = measured[BASE], measured[NEW]
    what = f"{cell.model} b{cell.batch}"
    if b.status != "ok" or n.status != "ok":
        return f"{what}: base {b.status}, new {n.status} {b.message or n.message}".rstrip()
    mb, mn = median(b.samples_ms), median(n.samples_ms)
    return (f"{what}: base {mb:.4g} ms, new {mn:.4g} ms ({mn / mb - 1:+.1%}), "
            f"{len(b.samples_ms)}+{len(n.samples_ms)} samples")


# -- the whole regress --------------------------------------------------------------------------------

def _say(message: str) -> None:
    print(f"bench regress: {message}", file=sys.stderr, flush=True)


def _prepare_out_dir(out_dir: Path) -> dict[str, Path]:
    """The two databases of this regress run; results of an earlier regress in `out_dir` are replaced."""
    out_dir.mkdir(parents=True, exist_ok=True)
    dbs = {name: out_dir / f"{name}.sqlite" for name in (BASE, NEW)}
    for db in dbs.values():
        for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            path.unlink(missing_ok=True)
    return dbs


def per_round_changes(base_runs: Sequence[RunData], new_runs: Sequence[RunData]) -> dict[Cell, list[float | None]]:
    """Per cell, median(NEW round i) / median(BASE round i) for each round (None where a side lacks it)."""
    out: dict[Cell, list[float | None]] = {}
    for b, n in zip(base_runs, new_runs):
        for key in dict.fromkeys([*b.cells, *n.cells]):
            cb, cn = b.cells.get(key), n.cells.get(key)
            ratio = None
            if cb and cn and cb.samples_ms and cn.samples_ms and cb.status == cn.status == "ok":
                ratio = float(median(cn.samples_ms) / median(cb.samples_ms))
            out.setdefault(key, []).append(ratio)
    return out


CONTENDED_NOTE = "measured under contention (bench.guard): re-measure on a quiet machine; not judged a regression"


def demote_contended(comparison: Comparison, base: RunData, new: RunData) -> list[Cell]:
    """A cell that either side measured under contention (in any round) is never a regression: its
    verdict becomes `inconclusive` with a re-measure note. Returns the cells so marked."""
    from bench.comparison import VERDICT_INCONCLUSIVE, VERDICT_NOT_COMPARABLE

    marked = []
    for c in comparison.cells:
        key = c.key()
        if any(side.cells.get(key) is not None and side.cells[key].contended for side in (base, new)):
            if c.verdict != VERDICT_NOT_COMPARABLE:
                c.regression = False
                c.verdict = VERDICT_INCONCLUSIVE
                c.note = "; ".join(n for n in (CONTENDED_NOTE, c.note) if n)
            marked.append(key)
    return marked


def regress(ref: str, settings: RegressSettings, out_dir: Path, thresholds: Thresholds | None = None,
            alpha: float = 0.01, *, force: bool = False, repo: Path = REPO_ROOT, spawn: Spawn = WorkerProcess,
            log: Callable[[str], None] = _say, guard: Any = None) -> RegressResult:
    """Measure REF (in a temporary worktree) against the working tree in interleaved bursts, then compare.

    With `guard` (bench.guard.Guard), every cell is guarded (`guarded_measure_cell`) and a contended
    cell is `inconclusive`, never a regression (`demote_contended`)."""
    from bench.fingerprint import git_commit

    if settings.rounds < 1:
        raise BenchError(f"--rounds: {settings.rounds} must be >= 1")
    # Everything that can be refused is checked before OUT is touched: a typo in --baseline must not
    # cost the previous regress's results.
    resolve_ref(ref, repo)
    if out_dir.exists() and not out_dir.is_dir():
        raise BenchError(f"--out: {out_dir} exists and is not a directory")
    t0 = time.perf_counter()
    with baseline_worktree(ref, repo) as base_rev:
        dbs = _prepare_out_dir(out_dir)
        revisions = {BASE: base_rev, NEW: Revision(NEW, "working tree", repo, git_commit())}
        log(f"baseline {ref} = {base_rev.commit[:12]} checked out in {base_rev.root}")
        for i in range(settings.rounds):
            run_round(revisions, settings, dbs, spawn, log, label=f"round {i + 1}/{settings.rounds}: ", guard=guard)
    base_runs, new_runs = all_runs_in_store(dbs[BASE]), all_runs_in_store(dbs[NEW])
    base = pool_runs(base_runs, f"{ref} ({base_rev.commit[:12]}), {len(base_runs)} round(s)")
    new = pool_runs(new_runs, f"working tree, {len(new_runs)} round(s)")
    base.interleaved = new.interleaved = True  # every round measured both revisions turn by turn
    comparison = compare_runs(base, new, thresholds, alpha=alpha, force=force)
    contended = demote_contended(comparison, base, new)
    if contended:
        log(f"{len(contended)} cell(s) measured under contention: inconclusive, re-measure them on a quiet machine")
    return RegressResult(comparison=comparison, round_changes=per_round_changes(base_runs, new_runs), dbs=dbs,
                         revisions=revisions, seconds=time.perf_counter() - t0)
