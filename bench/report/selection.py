"""Which runs a report shows: `--run ID[,ID]`, `--latest`, `--since DATE`, and what was left out.

Without a selection the report takes every run (the newest row per grid cell). With one, rows
of other runs are dropped before the newest-per-cell step, so a report can never mix a
chosen run with an older one. Every run left out is named on the page with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from bench.errors import BenchError


@dataclass(frozen=True)
class Selection:
    """The runs kept and the runs left out (run id -> reason), for the page's "left out" list."""

    how: str = "every run in the database (the newest measurement per grid cell)"
    left_out: dict[str, str] = field(default_factory=dict)


def _parse_since(text: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise BenchError(f"--since wants a date like 2026-11-22 or 2026-11-22T10:00, got '{text}'") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp


def _created(results: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(results["run_created_at"], utc=True, format="ISO8601")


def select_runs(results: pd.DataFrame, *, run_ids: list[str] | None = None, latest: bool = False,
                since: str | None = None) -> tuple[pd.DataFrame, Selection]:
    """Rows of the chosen runs and a `Selection` saying what was left out.

    `run_ids`: exactly these runs (unknown ids are an error naming the runs present);
    `latest`: per target and machine, the newest run only; `since`: runs started at or after
    the date (UTC when no zone is given). They combine (all must hold). No rows left raises
    BenchError.
    """
    all_runs = list(dict.fromkeys(results["run_id"].astype(str)))
    keep = pd.Series(True, index=results.index)
    reasons: dict[str, str] = {}
    parts = []
    if run_ids:
        unknown = [r for r in run_ids if r not in all_runs]
        if unknown:
            raise BenchError(f"unknown run id(s) {', '.join(unknown)} (runs present: {', '.join(all_runs)})")
        chosen = results["run_id"].astype(str).isin(run_ids)
        for rid in set(results.loc[~chosen, "run_id"].astype(str)):
            reasons[rid] = "not named by --run"
        keep &= chosen
        parts.append(f"runs {', '.join(run_ids)}")
    if since is not None:
        after = _created(results) >= _parse_since(since)
        for rid in set(results.loc[keep & ~after, "run_id"].astype(str)):
            reasons.setdefault(rid, f"started before --since {since}")
        keep &= after
        parts.append(f"runs started on or after {since}")
    if latest:
        created = _created(results)
        # newest among the runs the other options kept, so `--run A,B --latest` picks the newer of A and B
        newest = created.where(keep).groupby([results["target"], results["machine"]]).transform("max")
        is_newest = created == newest
        for rid in set(results.loc[keep & ~is_newest, "run_id"].astype(str)):
            reasons.setdefault(rid, "not the newest run of its target and machine (--latest)")
        keep &= is_newest
        parts.append("the newest run per target and machine")
    kept = results[keep]
    if kept.empty:
        raise BenchError(f"no results left after selecting {' and '.join(parts)} (runs present: {', '.join(all_runs)})")
    if not parts:
        return kept, Selection()
    return kept, Selection(" and ".join(parts), {r: reasons[r] for r in all_runs if r in reasons})
