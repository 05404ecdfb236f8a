"""Report scaffolding every claim study shares: provenance header, verdict table, guarded files.

Provenance comes from the same code as `bench report` (`bench.report.provenance`), the machine
slug from the report writer, Markdown tables from `bench.report.tables`; charts are drawn on
the shared Agg canvas (`bench.report.canvas`). Files are written through a `ReportFolder`,
which refuses to replace a file this run did not create unless forced.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from bench.claims.base import StudyRun
from bench.claims.verdicts import Verdict
from bench.errors import BenchError
from bench.fingerprint import machine_label
from bench.report.provenance import Provenance, provenance_for
from bench.report.tables import markdown_table
from bench.report.writer import machine_slug

VERDICT_RULES = ("Verdicts are 'supported' or 'refuted' only when every case is significant (Mann-Whitney U "
                 "p < 0.01 / looks and the bootstrap 95 % CI of the ratio of medians excludes 1) and beyond the "
                 "±2 % practical margin (that CI lies outside [1/1.02, 1.02]); 'equivalent' when every case is "
                 "shown within ±2 % (two one-sided tests at the same level); 'mixed' when the decided cases "
                 "disagree or cover only some cases; 'inconclusive' when none is decided; 'not measured' when the "
                 "target cannot measure the claim. A group gets more rounds while a compared case is undecided, "
                 "looked at up to 'looks' times (3), each look at p < 0.01 / looks (docs/claims.md).")


def utc_stamp() -> str:
    """Now, as shown in report headers ("2026-11-22 18:02 UTC")."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def study_provenance(target: str, fingerprint: dict[str, Any], date: str) -> Provenance:
    """Provenance of one study run, built by the same code that labels `bench report` pages."""
    commit = fingerprint.get("git_commit")
    rows = pd.DataFrame({"run_id": ["study"], "run_created_at": [date]})
    runs = pd.DataFrame({"run_id": ["study"], "fingerprint": [json.dumps(fingerprint, default=str)],
                         "created_at": [date], "git_commit": [commit]})
    return provenance_for(target, machine_label(target, fingerprint), rows, runs)


def report_stem(study: str, target: str, fingerprint: dict[str, Any]) -> str:
    """File stem of a study's report: "<study>-<target>-<machine slug>" (e.g. hetconv-cpu-amd-epyc-x86-64)."""
    prov = study_provenance(target, fingerprint, "")
    return f"{study}-{target}-{machine_slug(prov.hardware(), prov.folder_arch())}"


def header_lines(run: StudyRun, title: str, date: str) -> list[str]:
    """Title and provenance paragraph: target, machine, threads, versions, git commit, date, duration."""
    prov = study_provenance(run.target, run.fingerprint, date)
    threads = run.fingerprint.get("threads")
    commit = run.fingerprint.get("git_commit") or "unknown"
    return [f"# {title}: {prov.target_label()}", "",
            f"Target: {prov.target_label()}" + (f", threads {threads}" if threads is not None else "")
            + f"; {prov.versions_text()}; git {commit}; {date}; study '{run.config_name}' took {run.elapsed_s:.0f} s.",
            ""] + ([f"Contention guard: {run.guard_line}.", ""] if getattr(run, "guard_line", "") else [])


def verdict_table(verdicts: Iterable[Verdict]) -> str:
    """The verdict table in Markdown: claim, what was measured, verdict."""
    return markdown_table([{"claim": v.claim, "what was measured": v.measured, "verdict": f"**{v.verdict}**"}
                           for v in verdicts])


def evidence_lines(verdicts: Iterable[Verdict]) -> list[str]:
    """One Markdown section per verdict with its evidence as a list."""
    lines = ["## Evidence", ""]
    for v in verdicts:
        lines += [f"### {v.claim}: {v.verdict}", ""] + [f"- {e}" for e in v.evidence] + [""]
    return lines


class ReportFolder:
    """The output folder of one study run, writing only the files the study declared.

    Without `force`, a declared file that already exists (so this run did not create it) is
    an error before anything is written; files are written to a temporary name and renamed, so
    an interrupted write never leaves half a report.
    """

    def __init__(self, path: Path, names: Iterable[str], force: bool = False) -> None:
        self.path = Path(path)
        self.names = tuple(names)
        self.force = force
        self.written: list[Path] = []

    def existing(self) -> list[Path]:
        """Declared files that exist and were not written by this folder object."""
        return [self.path / n for n in self.names if (self.path / n).exists() and self.path / n not in self.written]

    def check(self) -> None:
        """BenchError (exit 2) when a declared file exists and `force` is off."""
        clash = [] if self.force else self.existing()
        if clash:
            more = f" (and {len(clash) - 1} more)" if len(clash) > 1 else ""
            raise BenchError(f"{clash[0]}{more} exists and was not written by this run; use --force to replace it, "
                             f"or --out another folder")

    def _write(self, name: str, data: bytes) -> Path:
        if name not in self.names:
            raise ValueError(f"report file '{name}' was not declared by report_files()")
        target = self.path / name
        if target not in self.written:
            self.check()
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        if target not in self.written:
            self.written.append(target)
        return target

    def write_text(self, name: str, text: str) -> Path:
        """Write a declared text file (UTF-8)."""
        return self._write(name, text.encode())

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write a declared binary file (e.g. a PNG)."""
        return self._write(name, data)
