"""The HetConv claim study (`bench claim hetconv`) behind the claim-study protocol."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.claims.base import ClaimStudy, StudyContext, StudyRun
from bench.claims.hetconv_config import FULL, QUICK, StudyConfig
from bench.claims.verdicts import Verdict


class HetConvStudy(ClaimStudy):
    """HetConv (Singh et al., CVPR 2019): MACs formula, speed-up vs P, HetConv vs DWC+PWC at matched
    MACs, 'zero latency' depth, concurrent branches."""

    name = "hetconv"
    help = "HetConv's speed claims: MACs formula, speed-up vs P, matched-MACs vs DWC+PWC, depth, streams"
    description = ("Measure the HetConv paper's claims (MACs formula, speed-up vs P, matched-MACs HetConv vs "
                   "DWC+PWC, 'zero latency' depth, concurrent branches) and write a verdict table with evidence.")

    def config(self, quick: bool) -> StudyConfig:
        """QUICK (about a minute on 2 CPU cores) or FULL (8 shapes x 2 batches + VGG-16 CIFAR networks)."""
        return QUICK if quick else FULL

    def measure(self, device: Any, config: StudyConfig, ctx: StudyContext) -> Any:
        """Counters, layer sweep (calibrated) and network level on `device`."""
        from bench.claims.hetconv_study import run_hetconv_study

        return run_hetconv_study(device, config, ctx.on_result, ctx.progress, fingerprint=ctx.fingerprint,
                                 guard=ctx.guard)

    def verdicts(self, result: Any) -> list[Verdict]:
        """The verdicts computed from the measurements."""
        from bench.claims.hetconv_study import compute_verdicts

        return compute_verdicts(result)

    def report_files(self, target: str, fingerprint: dict[str, Any]) -> tuple[str, ...]:
        """hetconv-<target>-<machine>.md, -speedup.png, -matched.png, -layers.csv."""
        from bench.claims.hetconv_report import report_names

        return report_names(target, fingerprint)

    def write_report(self, run: StudyRun, folder: Any) -> Path:
        """Markdown verdicts + evidence, two charts, CSV of medians."""
        from bench.claims.hetconv_report import write_study

        return write_study(run, folder)
