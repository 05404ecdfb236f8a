"""Stored profiles for reports: which profile stands for a result row, and its "% of roofline".

A result row (one `bench run` cell) is matched to the newest `ok` profile (`bench profile`) of the
same model, target, machine, batch, dtype and thread count; the HetConv impl must agree where both
record one. Profiles are taken in NCHW eager form only, so channels_last and compiled rows get no
match. The row's roofline floor is the sum over the profile's layers of
max(2 x MACs / peak FLOP/s, bytes / bandwidth) with the newest ceilings stored for that machine at
that thread count and dtype (`bench ceilings`); without such ceilings, the floors the profile stored
with its layers; without either, none. "% of roofline" = floor / the row's own p50 x 100: the share
of the measured time that the hardware's limits account for (100 % = at the roofline).

Reads the database only (reports never change it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

ROOFLINE_COLUMNS = ("pct_roofline", "roofline_floor_ms", "profile_id")
NO_IMPL = "-"


@dataclass
class StoredProfile:
    """One stored profile with its layer rows and the ceilings its floor is computed with."""

    profile_id: int
    model: str
    target: str
    machine: str
    batch: int
    dtype: str
    impl: str | None
    threads: int | None
    created_at: str
    summary: dict[str, Any]
    layers: list[dict[str, Any]]
    ceilings: dict[str, Any] | None = None  # figures (peak_gflops, bandwidth_gbs, ...) or None

    @property
    def peak_gflops(self) -> float | None:
        """Peak FLOP/s (GFLOP/s) of the ceilings used, or None."""
        return (self.ceilings or {}).get("peak_gflops")

    @property
    def bandwidth_gbs(self) -> float | None:
        """Bandwidth (GB/s) of the ceilings used, or None."""
        return (self.ceilings or {}).get("bandwidth_gbs")

    def floor_ms(self) -> float | None:
        """The model's roofline floor in ms (see the module docstring), or None."""
        return model_floor_ms(self.layers, self.peak_gflops, self.bandwidth_gbs)


def layer_floor_ms(macs: float | None, nbytes: float | None, peak_gflops: float, bandwidth_gbs: float) -> float:
    """max(2 x MACs / peak, bytes / bandwidth) in ms; a missing figure counts as 0."""
    return max(2 * (macs or 0) / (peak_gflops * 1e9), (nbytes or 0) / (bandwidth_gbs * 1e9)) * 1e3


def model_floor_ms(layers: list[dict[str, Any]], peak_gflops: float | None,
                   bandwidth_gbs: float | None) -> float | None:
    """Sum of the layers' floors with these ceilings; with no ceilings, the sum of the stored
    `floor_ms` when every layer has one; else None (e.g. mobile ops without MACs and bytes)."""
    if not layers:
        return None
    if peak_gflops and bandwidth_gbs:
        if all(lay.get("macs") is None and lay.get("bytes") is None for lay in layers):
            return None
        return sum(layer_floor_ms(lay.get("macs"), lay.get("bytes"), peak_gflops, bandwidth_gbs) for lay in layers)
    stored = [lay.get("floor_ms") for lay in layers]
    return sum(stored) if all(v is not None for v in stored) else None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


@dataclass
class ProfileSet:
    """The newest ok profile per cell of one database, with their ceilings."""

    profiles: list[StoredProfile] = field(default_factory=list)

    def match(self, row: pd.Series | dict[str, Any]) -> StoredProfile | None:
        """The profile standing for result `row` (see the module docstring), or None."""
        from bench.report.data import TARGET_ALIASES

        get = row.get
        target = TARGET_ALIASES.get(get("target"), get("target"))
        if str(get("layout") or "nchw") != "nchw" or bool(get("compile") or False):
            return None
        impl = get("impl")
        impl = None if _blank(impl) or impl == NO_IMPL else str(impl)
        threads = get("threads")
        threads = None if _blank(threads) else int(threads)
        for p in reversed(self.profiles):  # newest first
            if (p.model, p.target, p.machine, p.batch, p.dtype) != (
                    get("model"), target, get("machine"), int(get("batch")), get("dtype")):
                continue
            if threads is not None and p.threads is not None and p.threads != threads:
                continue
            if impl is not None and p.impl is not None and p.impl != impl:
                continue
            return p
        return None

    def attach(self, results: pd.DataFrame) -> pd.DataFrame:
        """`results` with `pct_roofline`, `roofline_floor_ms` and `profile_id` (blank without a profile)."""
        df = results.copy()
        pct, floors, ids = [], [], []
        for _, row in df.iterrows():
            prof = self.match(row) if not results.empty else None
            floor = prof.floor_ms() if prof is not None else None
            p50 = row.get("p50_ms")
            ok = floor is not None and not _blank(p50) and p50 > 0
            pct.append(100 * floor / p50 if ok else None)
            floors.append(floor)
            ids.append(prof.profile_id if prof is not None else None)
        df["pct_roofline"] = pd.Series(pct, index=df.index, dtype=float)
        df["roofline_floor_ms"] = pd.Series(floors, index=df.index, dtype=float)
        df["profile_id"] = pd.Series(ids, index=df.index, dtype=object)
        return df

    def for_rows(self, rows: pd.DataFrame) -> list[tuple[str, StoredProfile]]:
        """(row label, profile) for the rows of a slice that have a profile, in row order, each
        profile once."""
        seen, out = set(), []
        for _, row in rows.iterrows():
            prof = self.match(row)
            if prof is not None and prof.profile_id not in seen:
                seen.add(prof.profile_id)
                out.append((str(row.get("label") or row["model"]), prof))
        return out


def _ceilings_for(entries: list[dict[str, Any]], target: str, machine: str, threads: int | None,
                  dtype: str) -> dict[str, Any] | None:
    for e in reversed(entries):  # newest first
        if (e["target"], e["machine"], e["dtype"]) == (target, machine, dtype) and (
                threads is None or e["threads"] == threads):
            return e["figures"]
    return None


def load_profiles(db: Path | str) -> ProfileSet:
    """The newest ok profile of each cell in the database at `db` (read-only), with its layers and the
    newest ceilings of its machine; an empty set when the database has no profiles (or is absent:
    the results come first, and `bench.report.source.load_frames` says when they are missing)."""
    from bench.profiling import storage
    from bench.report.data import TARGET_ALIASES
    from bench.store import ResultStore

    if not Path(db).is_file():
        return ProfileSet()

    with ResultStore(Path(db), readonly=True) as store:
        rows = storage.ok_profiles(store.conn)
        ceilings = storage.all_ceilings(store.conn)
        newest: dict[tuple, dict[str, Any]] = {}
        for r in rows:  # oldest first, so a later profile of the same cell replaces an earlier one
            newest[(r["model"], r["target"], r["machine"], r["batch"], r["dtype"], r["impl"], r["threads"])] = r
        out = []
        for r in sorted(newest.values(), key=lambda r: (r["created_at"], r["profile_id"])):
            target = TARGET_ALIASES.get(r["target"], r["target"])
            out.append(StoredProfile(
                profile_id=int(r["profile_id"]), model=r["model"], target=target, machine=r["machine"],
                batch=int(r["batch"]), dtype=r["dtype"], impl=r["impl"], threads=r["threads"],
                created_at=r["created_at"], summary=r["summary"] or {},
                layers=storage.profile_layer_rows(store.conn, int(r["profile_id"])),
                ceilings=_ceilings_for(ceilings, r["target"], r["machine"], r["threads"], r["dtype"])))
    return ProfileSet(out)
