"""Pareto flags and the latency-vs-MACs rank comparison for one slice.

Fronts are computed per dataset (top-1 on CIFAR-10 and on ImageNet are different scales) and
per setting (threads, dtype, layout, compile: a 2-thread cell never dominates a 1-thread one;
`front_setting` names the group) over rows that have both a latency and an accuracy. Where a
slice holds several HetConv impls, each impl gets its own front, which the rows without an impl
choice ("-") join; such a row is flagged when it is on any of them:
- `on_front`: accuracy vs p50 latency, strict dominance;
- `on_front_ci`: the same with overlapping latency CIs treated as ties (`bench.pareto`);
- `on_macs_front`: accuracy vs MACs, strict.
Rows without an accuracy or a latency get None (not applicable), not False.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy.stats import rankdata, spearmanr

from bench.pareto import FrontPoint, non_dominated

FLAG_COLUMNS = ("on_front", "on_front_ci", "on_macs_front")
SETTING_COLUMNS = ("threads", "dtype", "layout", "compile")
NO_IMPL = "-"


def setting_text(row: pd.Series, with_impl: bool = False) -> str:
    """"1 thr, fp32, nchw, eager" (plus ", impl grouped"): the setting a front is drawn for."""
    parts = [f"{row.get('threads')} thr", str(row.get("dtype")), str(row.get("layout")),
             "compiled" if bool(row.get("compile")) else "eager"]
    if with_impl:
        parts.append(f"impl {row.get('impl')}")
    return ", ".join(parts)


def front_groups(df: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """(dataset, setting text, rows) for every front of the eligible rows of `df`."""
    out = []
    eligible = _eligible(df)
    if eligible.empty:
        return out
    settings = eligible.apply(setting_text, axis=1)
    for (dataset, setting), group in eligible.groupby([eligible["dataset"], settings], sort=True):
        impls = sorted(set(group["impl"].astype(str)) - {NO_IMPL}) if "impl" in group.columns else []
        if len(impls) <= 1:
            out.append((dataset, setting, group))
            continue
        for impl in impls:
            part = group[group["impl"].astype(str).isin((impl, NO_IMPL))]
            out.append((dataset, f"{setting}, impl {impl}", part))
    return out


def _eligible(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["status"] == "ok") & df["p50_ms"].notna() & df["top1"].notna() & df["dataset"].notna()]


def add_front_flags(rows: pd.DataFrame) -> pd.DataFrame:
    """Add the three front flags and `front_setting` (see the module docstring); index labels
    are the point keys."""
    df = rows.copy()
    flags: dict[str, dict] = {c: {i: None for i in df.index} for c in FLAG_COLUMNS}
    setting: dict = {i: None for i in df.index}
    for _, name, group in front_groups(df):
        latency = [FrontPoint(i, float(r.top1), float(r.p50_ms), _num(r.ci_low_ms), _num(r.ci_high_ms))
                   for i, r in group.iterrows()]
        strict = set(non_dominated(latency))
        tied = set(non_dominated(latency, ci_ties=True))
        with_macs = group[group["macs"].notna() & (group["macs"] > 0)]
        by_macs = set(non_dominated(FrontPoint(i, float(r.top1), float(r.macs)) for i, r in with_macs.iterrows()))
        for i in group.index:  # a row in several groups (no impl choice) counts if on any front
            flags["on_front"][i] = bool(flags["on_front"][i]) or i in strict
            flags["on_front_ci"][i] = bool(flags["on_front_ci"][i]) or i in tied
            if i in with_macs.index:
                flags["on_macs_front"][i] = bool(flags["on_macs_front"][i]) or i in by_macs
            setting[i] = name if setting[i] is None else setting_text(df.loc[i])
    for col in FLAG_COLUMNS:
        df[col] = pd.Series(flags[col], dtype=object)
    df["front_setting"] = pd.Series(setting, dtype=object)
    return df


def _num(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


@dataclass(frozen=True)
class RankComparison:
    """Spearman rank correlation between MACs and p50 latency, and the biggest rank mismatches."""

    rho: float | None
    p_value: float | None
    n: int
    outliers: pd.DataFrame  # label, macs_rank, latency_rank, rank_shift (latency rank - MACs rank)

    def summary(self) -> str:
        """"Spearman rho = 0.83 (p = 1e-05, n = 20)" or why it is not defined."""
        if self.rho is None:
            return f"Spearman rank correlation not defined (n = {self.n}; needs 3 or more distinct values)"
        return f"Spearman rho = {self.rho:.2f} (p = {self.p_value:.2g}, n = {self.n})"


def rank_comparison(rows: pd.DataFrame, top: int = 3) -> RankComparison:
    """Spearman's rho of MACs vs p50 over measured rows, and the `top` largest rank shifts.

    Rank 1 = fewest MACs / lowest latency (ties share the average rank). A positive shift means
    the variant is slower than its MACs rank predicts. Noisy rows (bench.noise) count in rho but
    are never called out: an imprecise p50 is not a finding.
    """
    from bench.noise import is_noisy

    df = rows[(rows["status"] == "ok") & rows["p50_ms"].notna() & rows["macs"].notna() & (rows["macs"] > 0)]
    cols = ["label", "macs_rank", "latency_rank", "rank_shift"]
    if len(df) < 3 or df["macs"].nunique() < 2 or df["p50_ms"].nunique() < 2:
        return RankComparison(None, None, len(df), pd.DataFrame(columns=cols))
    rho, p_value = spearmanr(df["macs"], df["p50_ms"])
    ranked = pd.DataFrame({"label": df["label"].to_numpy(), "macs_rank": rankdata(df["macs"]),
                           "latency_rank": rankdata(df["p50_ms"])})
    ranked["rank_shift"] = ranked["latency_rank"] - ranked["macs_rank"]
    noisy = [is_noisy(st, sr) for st, sr in zip(df["status"], df.get("stop_reason", pd.Series([None] * len(df))))]
    ranked = ranked[(ranked["rank_shift"] != 0) & ~pd.Series(noisy, index=ranked.index, dtype=bool)]
    ranked = ranked.reindex(ranked["rank_shift"].abs().sort_values(ascending=False, kind="stable").index)
    return RankComparison(float(rho), float(p_value), len(df), ranked.head(top).reset_index(drop=True))
