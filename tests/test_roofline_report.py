"""`bench report` with stored profiles: "% of roofline" and "peak memory (MiB)" columns computed from
the stored rows, roofline and op-kind charts written; `bench results` shows peak memory."""
import csv
import json
import sqlite3

import pytest

from bench.cli import main
from bench.profiling.ceilings import ceilings_for
from bench.report.profiles import ProfileSet, StoredProfile
from bench.store import ResultStore
from devices.cpu import CpuDevice

MODEL = "resnet20_cifar"
TINY = dict(gemm_n=64, conv_shape=(1, 8, 8, 8), stream_elements=4096, reps=2)
QUICK = ["--threads", "1", "--max-time", "0.1"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A database with one run, tiny cached ceilings and one profile of MODEL, and its report."""
    tmp = tmp_path_factory.mktemp("roofline")
    db, out = tmp / "r.sqlite", tmp / "report"
    assert main(["run", "--device", "cpu", "--models", MODEL, "--warmup-max-time", "0.1", "--db", str(db),
                 "--no-progress", *QUICK]) == 0
    with ResultStore(db) as store:  # cached here, so `bench profile` uses these instead of measuring its own
        ceilings_for(store, CpuDevice(), 1, "fp32", **TINY)
    assert main(["profile", MODEL, "--iters", "2", "--db", str(db), "--format", "json", *QUICK]) == 0
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    (folder,) = [p.parent for p in out.glob("*/batch-1/results.csv")]
    with open(folder / "results.csv") as f:
        rows = list(csv.DictReader(f))
    return db, folder, rows


def _independent_pct(db, p50_ms: float) -> float:
    """% of roofline recomputed straight from the stored tables, without the report code."""
    con = sqlite3.connect(db)
    (pid,) = con.execute("SELECT MAX(profile_id) FROM profiles WHERE model=? AND status='ok'", (MODEL,)).fetchone()
    layers = con.execute("SELECT macs, bytes FROM profile_layers WHERE profile_id=?", (pid,)).fetchall()
    (figures,) = con.execute("SELECT figures FROM ceilings").fetchone()
    fig = json.loads(figures)
    peak = max(fig["gemm_gflops"], fig["conv_gflops"]) * 1e9
    bw = max(fig["copy_gbs"], fig["triad_gbs"]) * 1e9
    floor_s = sum(max(2 * (m or 0) / peak, (b or 0) / bw) for m, b in layers)
    return 100 * floor_s * 1e3 / p50_ms


def test_pct_of_roofline_is_the_stored_layers_floor_over_p50(report):
    db, _, rows = report
    (row,) = [r for r in rows if r["model"] == MODEL]
    assert row["pct_roofline"] != ""
    assert float(row["pct_roofline"]) == pytest.approx(_independent_pct(db, float(row["p50_ms"])), rel=1e-6)


def test_peak_memory_column_is_the_results_extra(report):
    db, folder, rows = report
    (extra,) = sqlite3.connect(db).execute("SELECT extra FROM results WHERE model=?", (MODEL,)).fetchone()
    stored = json.loads(extra)["peak_mem_mb"]
    (row,) = [r for r in rows if r["model"] == MODEL]
    assert stored > 0 and float(row["peak_mem_mib"]) == pytest.approx(stored)
    page = (folder / "README.md").read_text()
    assert "% of roofline" in page and "peak memory (MiB)" in page


def test_roofline_and_op_kind_charts_are_written_and_linked(report):
    _, folder, _ = report
    page = (folder / "README.md").read_text()
    for name in (f"roofline-{MODEL.replace('_', '-')}.png", "time-by-op-kind.png"):
        png = folder / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"({name})" in page
    html = (folder / "report.html").read_text()
    assert 'href="profiles.html"' in html and "Roofline: " not in html  # the slice page links, does not inline
    profiles = (folder / "profiles.html").read_text()
    assert "Rooflines of the profiled models" in profiles and f"Roofline: {MODEL}" in profiles
    assert "blocks.0.conv1.0" in profiles  # a layer path of resnet20_cifar in the hover text
    assert 'src="http' not in profiles and "<script src=" not in profiles  # self-contained, like the slice page


def test_bench_results_shows_peak_memory(report, capsys):
    db, _, _ = report
    capsys.readouterr()
    assert main(["results", "--db", str(db), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["peak_mem_mb"] == row["extra"]["peak_mem_mb"] > 0


def _profile(**over) -> StoredProfile:
    base = dict(profile_id=1, model="m", target="cpu", machine="box", batch=1, dtype="fp32", impl=None, threads=1,
                created_at="2026-01-01", summary={}, layers=[{"macs": 10**6, "bytes": 10**4, "ms": 1.0}],
                ceilings={"peak_gflops": 1.0, "bandwidth_gbs": 1.0})
    return StoredProfile(**{**base, **over})


@pytest.mark.parametrize("change,matched", [
    ({}, True), ({"threads": 2}, False), ({"layout": "nhwc"}, False), ({"compile": True}, False),
    ({"batch": 8}, False), ({"machine": "other"}, False), ({"impl": "-"}, True),
])
def test_a_row_gets_the_profile_of_its_own_cell_only(change, matched):
    row = {"model": "m", "target": "cpu", "machine": "box", "batch": 1, "dtype": "fp32", "impl": None,
           "threads": 1, "layout": "nchw", "compile": False, **change}
    assert (ProfileSet([_profile()]).match(row) is not None) == matched


def test_impls_must_agree_where_both_are_recorded_and_the_newest_profile_wins():
    older, newer = _profile(profile_id=1, impl="grouped"), _profile(profile_id=2, impl="grouped")
    other = _profile(profile_id=3, impl="masked")
    row = {"model": "m", "target": "cpu", "machine": "box", "batch": 1, "dtype": "fp32", "impl": "grouped",
           "threads": 1}
    assert ProfileSet([older, newer, other]).match(row).profile_id == 2
    # 1e6 MACs = 2e6 FLOPs at 1 GFLOP/s = 2 ms > 1e4 bytes at 1 GB/s; p50 4 ms -> 50 %
    import pandas as pd

    df = ProfileSet([newer]).attach(pd.DataFrame([{**row, "p50_ms": 4.0}]))
    assert df["roofline_floor_ms"].iloc[0] == pytest.approx(2.0) and df["pct_roofline"].iloc[0] == pytest.approx(50)
    assert pd.isna(ProfileSet([]).attach(pd.DataFrame([{**row, "p50_ms": 4.0}]))["pct_roofline"].iloc[0])


def _plotly_figures(html: str) -> list[tuple[list, dict]]:
    """(traces, layout) of every Plotly.newPlot call in a page, typed arrays ('bdata') decoded."""
    import base64

    import numpy as np

    def plain(v):
        if isinstance(v, dict) and "bdata" in v:
            return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    dec, out, at = json.JSONDecoder(), [], 0
    while (at := html.find("Plotly.newPlot(", at)) >= 0:
        rest = html[at + len("Plotly.newPlot("):]
        _, end = dec.raw_decode(rest.lstrip())  # the div id
        rest = rest.lstrip()[end:].lstrip().lstrip(",").lstrip()
        traces, end = dec.raw_decode(rest)
        layout, _ = dec.raw_decode(rest[end:].lstrip().lstrip(",").lstrip())
        out.append((plain(traces), plain(layout)))
        at += 1
    return out


def test_profiles_page_has_an_interactive_op_kind_chart_adding_up_to_the_stored_layers(report):
    db, folder, _ = report
    profiles = (folder / "profiles.html").read_text()
    assert "<h2>Time by op kind</h2>" in profiles
    bars = [(traces, layout) for traces, layout in _plotly_figures(profiles) if layout.get("barmode") == "stack"]
    assert len(bars) == 1
    traces, layout = bars[0]
    assert "Time by op kind" in json.dumps(layout["title"])
    assert all(t["type"] == "bar" and "% of the model" in t["hovertemplate"] and "op kind" in t["hovertemplate"]
               for t in traces)
    # independently of the report code: the stored layer times of the profile, summed
    con = sqlite3.connect(db)
    (pid,) = con.execute("SELECT MAX(profile_id) FROM profiles WHERE model=? AND status='ok'", (MODEL,)).fetchone()
    stored = con.execute("SELECT kind, ms FROM profile_layers WHERE profile_id=?", (pid,)).fetchall()
    kinds = {"dispatch" if "dispatch" in k else k for k, _ in stored} | {"other"}
    assert {t["name"] for t in traces} <= kinds and len(traces) >= 2
    (x,) = {tuple(t["x"]) for t in traces}
    assert MODEL in x[0]
    assert sum(t["y"][0] for t in traces) == pytest.approx(sum(ms for _, ms in stored))
    assert sum(t["customdata"][0] for t in traces) == pytest.approx(100)
