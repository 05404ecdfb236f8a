"""Repeated claim studies (`bench claim NAME --repeat N`): one verdict table from N fresh processes.

Each repeat writes a summary (`summary_of`): per claim its verdict and the ratios of medians
behind it. `aggregate` then publishes a claim's verdict only when every repeat gave the same
one; otherwise the claim is `unstable` and the per-repeat verdicts are shown. A supported
verdict is never published when, in some case, the median ratio is not farther from the claim's
boundary than that case's between-repeat spread (max - min of the ratio), and a refuted one when
no case is: it becomes `inconclusive` with the reason, because a rerun could land on the other side.

The boundary is where the claim changes answer: every speed claim says "candidate faster than
reference by more than the practical margin", i.e. ratio < 1/1.02 (`bench.claims.verdicts`). So a
supported verdict needs 1/1.02 - median > spread in every case, and a refuted one median - 1/1.02
> spread in at least one case (a claim over every case falls with one robust counterexample): a
pair 3 % slower with a 1 % spread stays refuted (no rerun gets near faster), a pair 3 % faster
with a 4 % spread is inconclusive.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median
from typing import Any, Sequence

from bench.claims.verdicts import INCONCLUSIVE, REFUTED, SUPPORTED, margin_band

UNSTABLE = "unstable"


def summary_of(verdicts: Sequence[Any]) -> dict[str, Any]:
    """What one repeat hands to the aggregation: claim, verdict and ratios of every Verdict."""
    return {"verdicts": [{"claim": v.claim, "verdict": v.verdict, "ratios": dict(getattr(v, "ratios", {}) or {})}
                         for v in verdicts]}


@dataclass(frozen=True)
class RatioSpread:
    """One compared pair's ratio of medians across repeats."""

    key: str
    values: tuple[float, ...]

    @property
    def median(self) -> float:
        """Median ratio over the repeats."""
        return median(self.values)

    @property
    def spread(self) -> float:
        """Between-repeat spread: max - min of the ratio."""
        return max(self.values) - min(self.values)

    @property
    def effect(self) -> float:
        """Distance of the median ratio from 1 (no difference)."""
        return abs(self.median - 1.0)

    def beyond_boundary(self, verdict: str) -> float:
        """How far the median ratio lies on the `verdict`'s side of the claim's boundary 1/(1 + margin)
        (negative: on the other side)."""
        boundary = margin_band()[0]
        return boundary - self.median if verdict == SUPPORTED else self.median - boundary


@dataclass
class RepeatedVerdict:
    """A claim's verdict over all repeats, the per-repeat verdicts and the ratio spreads behind it."""

    claim: str
    verdict: str
    per_repeat: list[str]
    spreads: list[RatioSpread] = field(default_factory=list)
    reason: str = ""


def _spreads(claim: str, summaries: Sequence[dict[str, Any]]) -> list[RatioSpread]:
    per_key: dict[str, list[float]] = {}
    for s in summaries:
        for v in s["verdicts"]:
            if v["claim"] == claim:
                for key, ratio in v.get("ratios", {}).items():
                    per_key.setdefault(key, []).append(float(ratio))
    # a pair missing from some repeat has no between-repeat spread to judge
    return [RatioSpread(k, tuple(vs)) for k, vs in per_key.items() if len(vs) == len(summaries)]


def aggregate(summaries: Sequence[dict[str, Any]]) -> list[RepeatedVerdict]:
    """One RepeatedVerdict per claim (in the first repeat's order) from the repeats' summaries."""
    if not summaries:
        return []
    claims = list(dict.fromkeys(v["claim"] for s in summaries for v in s["verdicts"]))
    out = []
    for claim in claims:
        per = [next((v["verdict"] for v in s["verdicts"] if v["claim"] == claim), "missing") for s in summaries]
        spreads = _spreads(claim, summaries)
        if len(set(per)) > 1:
            out.append(RepeatedVerdict(claim, UNSTABLE, per, spreads, "the repeats disagree"))
            continue
        verdict, reason = per[0], ""
        if verdict in (SUPPORTED, REFUTED) and len(summaries) > 1:
            small = [s for s in spreads if s.beyond_boundary(verdict) <= s.spread]
            if verdict == REFUTED and any(s.beyond_boundary(verdict) > s.spread for s in spreads):
                small = []  # one counterexample beyond its spread refutes a claim over every case
            if small:
                boundary = margin_band()[0]
                reason = (f"within the between-repeat spread of the claim's boundary (ratio {boundary:.3f}): "
                          + "; ".join(f"{s.key} ratio {s.median:.3f}, spread {s.spread:.3f}" for s in small))
                verdict = INCONCLUSIVE
        out.append(RepeatedVerdict(claim, verdict, per, spreads, reason))
    return out


def render_markdown(verdicts: Sequence[RepeatedVerdict], n: int, header: Sequence[str] = ()) -> str:
    """The repeats report: verdict table (with per-repeat verdicts) and per-pair ratio spreads."""
    lines = [*header, "", f"## Verdicts over {n} repeats", "",
             "A verdict is published only when every repeat agrees (else `unstable`); a supported/refuted "
             "verdict whose median ratio is not farther from the claim's boundary (1/1.02) than its "
             "between-repeat spread is `inconclusive`.", "",
             "| claim | verdict | per repeat | why |", "|---|---|---|---|"]
    for v in verdicts:
        lines.append(f"| {v.claim} | {v.verdict} | {', '.join(v.per_repeat)} | {v.reason} |")
    lines += ["", "## Ratio of medians per compared pair, across repeats", "",
              "| claim | pair | median | min | max | spread |", "|---|---|---|---|---|---|"]
    for v in verdicts:
        for s in v.spreads:
            lines.append(f"| {v.claim} | {s.key} | {s.median:.3f} | {min(s.values):.3f} | {max(s.values):.3f} "
                         f"| {s.spread:.3f} |")
    return "\n".join(lines) + "\n"
