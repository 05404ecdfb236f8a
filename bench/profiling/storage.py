"""Profiles and ceilings in the results database, in tables of their own on the store's connection.

- `profiles`: one row per profiled model (cell, machine, coverage, overhead, roofline summary,
  or status `unsupported` / `error` with the reason);
- `profile_layers`: one row per layer of a profile;
- `ceilings`: one row per (target, machine key, threads, dtype), the cache `bench ceilings` fills.

The tables are created here (CREATE TABLE IF NOT EXISTS), never by `bench.store`, so a database
written before profiling existed opens unchanged.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from bench.store import ResultStore, utc_now

_SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (
    profile_id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, model TEXT NOT NULL,
    target TEXT NOT NULL, machine TEXT, batch INTEGER NOT NULL, dtype TEXT NOT NULL, impl TEXT, threads INTEGER,
    status TEXT NOT NULL, message TEXT, summary TEXT, fingerprint TEXT);
CREATE TABLE IF NOT EXISTS profile_layers (
    profile_id INTEGER NOT NULL REFERENCES profiles(profile_id), idx INTEGER NOT NULL, layer TEXT NOT NULL,
    kind TEXT NOT NULL, in_shape TEXT, out_shape TEXT, calls INTEGER, macs INTEGER, bytes INTEGER, ms REAL,
    floor_ms REAL, PRIMARY KEY (profile_id, idx));
CREATE TABLE IF NOT EXISTS ceilings (
    key TEXT PRIMARY KEY, target TEXT NOT NULL, machine TEXT NOT NULL, threads INTEGER NOT NULL,
    dtype TEXT NOT NULL, created_at TEXT NOT NULL, figures TEXT NOT NULL);
"""
LAYER_FIELDS = ("layer", "kind", "in_shape", "out_shape", "calls", "macs", "bytes", "ms", "floor_ms")
# what must match for cached ceilings to stand for this machine (not load, clock or git state)
CEILING_FIELDS = ("cpu_model", "arch", "cores_physical", "cores_logical", "memory_gb", "torch", "onednn")
# the runtime or accelerator of another target, in the key only where its fingerprint has them (so the
# cpu keys stored before other targets had ceilings stay valid)
TARGET_CEILING_FIELDS = ("executorch", "runtime", "gpu_name", "gpu_count", "cuda_version", "cudnn_version",
                         "driver_version", "cuda_graph", "android_model")


def ensure_tables(store: ResultStore) -> None:
    """Create the profiling tables if missing."""
    with store.conn:
        store.conn.executescript(_SCHEMA)


def ceiling_key(target: str, fingerprint: dict[str, Any], threads: int, dtype: str) -> str:
    """Cache key of ceilings: target, the stable machine fields (and the target's runtime or GPU fields
    where the fingerprint has them), threads and dtype."""
    basis = {k: fingerprint.get(k) for k in CEILING_FIELDS}
    basis.update({k: fingerprint[k] for k in TARGET_CEILING_FIELDS if k in fingerprint})
    basis.update(target=target, threads=threads, dtype=dtype)
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()[:20]


def cached_ceilings(store: ResultStore, key: str) -> dict[str, Any] | None:
    """The stored figures for `key`, with `created_at`, or None."""
    ensure_tables(store)
    row = store.conn.execute("SELECT figures, created_at FROM ceilings WHERE key=?", (key,)).fetchone()
    return {**json.loads(row[0]), "created_at": row[1]} if row else None


def save_ceilings(store: ResultStore, key: str, target: str, machine: str, figures: dict[str, Any]) -> None:
    """Store (or replace) the ceilings under `key`."""
    ensure_tables(store)
    with store.conn:
        store.conn.execute("INSERT OR REPLACE INTO ceilings VALUES (?,?,?,?,?,?,?)",
                           (key, target, machine, int(figures["threads"]), figures["dtype"], utc_now(),
                            json.dumps(figures, sort_keys=True)))


def save_profile(store: ResultStore, cell: dict[str, Any], status: str, message: str = "",
                 summary: dict[str, Any] | None = None, layers: list[dict[str, Any]] | None = None,
                 fingerprint: dict[str, Any] | None = None) -> int:
    """Store one profile (cell: model, target, machine, batch, dtype, impl, threads) and its layers in
    one transaction; returns profile_id."""
    ensure_tables(store)
    with store.conn:
        cur = store.conn.execute(
            "INSERT INTO profiles (created_at, model, target, machine, batch, dtype, impl, threads, status, message, "
            "summary, fingerprint) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (utc_now(), cell["model"], cell["target"], cell.get("machine"), int(cell["batch"]), cell["dtype"],
             cell.get("impl"), cell.get("threads"), status, message or None,
             json.dumps(summary, sort_keys=True, default=str) if summary else None,
             json.dumps(fingerprint, sort_keys=True, default=str) if fingerprint else None))
        pid = int(cur.lastrowid)
        store.conn.executemany(
            f"INSERT INTO profile_layers (profile_id, idx, {', '.join(LAYER_FIELDS)}) "
            f"VALUES (?, ?, {', '.join('?' * len(LAYER_FIELDS))})",
            [(pid, i, *[json.dumps(r.get(f)) if f.endswith("shape") else r.get(f) for f in LAYER_FIELDS])
             for i, r in enumerate(layers or [])])
    return pid


def load_profile(store: ResultStore, profile_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(profile row with summary parsed, its layers in order)."""
    ensure_tables(store)
    cur = store.conn.execute("SELECT * FROM profiles WHERE profile_id=?", (profile_id,))
    row = cur.fetchone()
    if row is None:
        raise KeyError(profile_id)
    prof = dict(zip([d[0] for d in cur.description], row))
    prof["summary"] = json.loads(prof["summary"]) if prof["summary"] else None
    layers = profile_layer_rows(store.conn, profile_id)
    return prof, layers


def _has_tables(conn, *names: str) -> bool:
    found = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return set(names) <= found


def ok_profiles(conn) -> list[dict[str, Any]]:
    """Every `ok` profile row (summary parsed), oldest first; [] for a database without the tables.

    Reads only (works on a read-only connection): reports call it on databases they must not change."""
    if not _has_tables(conn, "profiles", "profile_layers"):
        return []
    cur = conn.execute("SELECT * FROM profiles WHERE status='ok' ORDER BY created_at, profile_id")
    names = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        prof = dict(zip(names, row))
        prof["summary"] = json.loads(prof["summary"]) if prof["summary"] else {}
        out.append(prof)
    return out


def profile_layer_rows(conn, profile_id: int) -> list[dict[str, Any]]:
    """The layer rows of one profile, in order (shapes parsed); reads only."""
    layers = []
    for r in conn.execute(f"SELECT {', '.join(LAYER_FIELDS)} FROM profile_layers WHERE profile_id=? ORDER BY idx",
                          (profile_id,)):
        d = dict(zip(LAYER_FIELDS, r))
        d["in_shape"], d["out_shape"] = json.loads(d["in_shape"] or "null"), json.loads(d["out_shape"] or "null")
        layers.append(d)
    return layers


def all_ceilings(conn) -> list[dict[str, Any]]:
    """Every stored ceilings entry (target, machine, threads, dtype, created_at, figures), oldest first;
    reads only; [] without the table."""
    if not _has_tables(conn, "ceilings"):
        return []
    rows = conn.execute("SELECT target, machine, threads, dtype, created_at, figures FROM ceilings "
                        "ORDER BY created_at").fetchall()
    return [dict(target=t, machine=m, threads=th, dtype=d, created_at=c, figures=json.loads(f))
            for t, m, th, d, c, f in rows]
