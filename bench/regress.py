"""`bench regress`: gate latency against a baseline git revision on one (shared) machine.

Comparing today's run with a run stored last week mixes the code change with everything
else that changed on a shared CI runner (neighbours, clock, thermal state). Instead both
revisions are measured now, in alternating processes:

1. REF is checked out with `git worktree add --detach` into a temporary directory (the
   working tree is never touched; uncommitted changes in it are what NEW measures).
2. For each round, one `bench run` process per revision runs the selected models, each
   appending a run to its own SQLite file. The order alternates (BASE NEW, NEW BASE, ...)
   so slow drift and "second process is warmer" effects hit both sides alike, and each
   revision gets fresh processes (memory layout, allocator state) every round.
3. The rounds of each revision are pooled per cell and compared with `bench.compare`
   (ratio of medians, bootstrap CI, Mann-Whitney U, threshold); per-round ratios are kept
   as evidence of consistency.
4. The worktree is removed, also on failure or Ctrl-C.

Each revision runs its own code through the same Python interpreter: the process starts in
that revision's tree with the tree first on PYTHONPATH, so `import zoo, bench, devices`
resolve there (an editable install of the current tree comes later on the import path).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from bench.compare import Comparison, RunData, Thresholds, all_runs_in_store, compare_runs, pool_runs
from bench.errors import BenchError
from bench.fingerprint import REPO_ROOT

BASE, NEW = "base", "new"


@dataclass(frozen=True)
class Revision:
    """One side of the comparison: a source tree and what it is."""

    name: str  # BASE or NEW
    ref: str  # what the user named ("HEAD~1", "working tree")
    root: Path
    commit: str | None = None


@dataclass(frozen=True)
class RegressSettings:
    """What each `bench run` process measures (passed through to both revisions alike)."""

    models: str = "default"
    device: str = "cpu"
    rounds: int = 5
    batch: str | None = None
    threads: str | None = None
    max_time_s: float = 2.0
    warmup_max_time_s: float = 2.0
    min_samples: int | None = None
    extra_args: tuple[str, ...] = ()

    def run_argv(self, db: Path) -> list[str]:
        """`bench run` arguments (after the program name) writing into `db`."""
        argv = ["run", "--device", self.device, "--models", self.models, "--db", str(db), "--no-progress",
                "--format", "csv", "--max-time", f"{self.max_time_s:g}", "--warmup-max-time",
                f"{self.warmup_max_time_s:g}"]
        if self.batch:
            argv += ["--batch", self.batch]
        if self.threads:
            argv += ["--threads", self.threads]
        if self.min_samples is not None:
            argv += ["--min-samples", str(self.min_samples)]
        return argv + list(self.extra_args)


@dataclass
class RegressResult:
    """The comparison plus the per-round evidence and where the raw data lies."""

    comparison: Comparison
    round_changes: dict[tuple, list[float | None]]  # cell key -> per-round ratio NEW/BASE of medians
    dbs: dict[str, Path]
    revisions: dict[str, Revision]
    seconds: float
    log: list[str] = field(default_factory=list)


Runner = Callable[[Revision, RegressSettings, Path], None]


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


# -- running rounds ---------------------------------------------------------------------------------

def _pythonpath_first(root: Path) -> str:
    rest = os.environ.get("PYTHONPATH")
    return str(root) + (os.pathsep + rest if rest else "")


def run_revision(rev: Revision, settings: RegressSettings, db: Path) -> None:
    """One `bench run` process of `rev`'s code, appending one run to `db`; BenchError on failure."""
    env = {**os.environ, "PYTHONPATH": _pythonpath_first(rev.root)}
    argv = [sys.executable, "-m", "bench.cli", *settings.run_argv(db)]
    proc = subprocess.run(argv, cwd=rev.root, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["(no output)"])[-1]
        raise BenchError(f"`bench run` of {rev.name} ({rev.ref}) failed with exit {proc.returncode}: {last}")


def round_order(round_index: int) -> tuple[str, str]:
    """BASE first in even rounds, NEW first in odd ones (ABBA), so order effects cancel."""
    return (BASE, NEW) if round_index % 2 == 0 else (NEW, BASE)


def _say(message: str) -> None:
    print(f"bench regress: {message}", file=sys.stderr, flush=True)


def run_rounds(revisions: dict[str, Revision], settings: RegressSettings, dbs: dict[str, Path],
               runner: Runner = run_revision, log: Callable[[str], None] = _say) -> None:
    """Alternate one process per revision per round, each appending a run to its database."""
    for i in range(settings.rounds):
        for name in round_order(i):
            rev = revisions[name]
            t0 = time.perf_counter()
            runner(rev, settings, dbs[name])
            log(f"round {i + 1}/{settings.rounds}: {name} ({rev.ref}) done in {time.perf_counter() - t0:.1f} s")


def _prepare_out_dir(out_dir: Path) -> dict[str, Path]:
    """The two databases of this regress run; results of an earlier regress in `out_dir` are replaced."""
    out_dir.mkdir(parents=True, exist_ok=True)
    dbs = {name: out_dir / f"{name}.sqlite" for name in (BASE, NEW)}
    for db in dbs.values():
        for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            path.unlink(missing_ok=True)
    return dbs


def per_round_changes(base_runs: Sequence[RunData], new_runs: Sequence[RunData]) -> dict[tuple, list[float | None]]:
    """Per cell, median(NEW round i) / median(BASE round i) for each round (None where a side lacks it)."""
    import numpy as np

    out: dict[tuple, list[float | None]] = {}
    for b, n in zip(base_runs, new_runs):
        for key in dict.fromkeys([*b.cells, *n.cells]):
            cb, cn = b.cells.get(key), n.cells.get(key)
            ratio = None
            if cb and cn and cb.samples_ms and cn.samples_ms and cb.status == cn.status == "ok":
                ratio = float(np.median(cn.samples_ms) / np.median(cb.samples_ms))
            out.setdefault(key, []).append(ratio)
    return out


def regress(ref: str, settings: RegressSettings, out_dir: Path, thresholds: Thresholds | None = None,
            alpha: float = 0.01, *, force: bool = False, repo: Path = REPO_ROOT, runner: Runner = run_revision,
            log: Callable[[str], None] = _say) -> RegressResult:
    """Measure REF (in a temporary worktree) and the working tree in interleaved rounds, then compare."""
    from bench.fingerprint import git_commit

    if settings.rounds < 1:
        raise BenchError(f"--rounds: {settings.rounds} must be >= 1")
    t0 = time.perf_counter()
    dbs = _prepare_out_dir(out_dir)
    with baseline_worktree(ref, repo) as base_rev:
        revisions = {BASE: base_rev, NEW: Revision(NEW, "working tree", repo, git_commit())}
        log(f"baseline {ref} = {base_rev.commit[:12]} checked out in {base_rev.root}")
        run_rounds(revisions, settings, dbs, runner, log)
    base_runs, new_runs = all_runs_in_store(dbs[BASE]), all_runs_in_store(dbs[NEW])
    base = pool_runs(base_runs, f"{ref} ({base_rev.commit[:12]}), {len(base_runs)} round(s)")
    new = pool_runs(new_runs, f"working tree, {len(new_runs)} round(s)")
    comparison = compare_runs(base, new, thresholds, alpha=alpha, force=force)
    return RegressResult(comparison=comparison, round_changes=per_round_changes(base_runs, new_runs), dbs=dbs,
                         revisions=revisions, seconds=time.perf_counter() - t0)
